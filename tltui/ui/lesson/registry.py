"""The live widgets a lesson can embed with ```` ```tltui NAME ````, by name.

A widget that is not built yet is shown as a box saying what it will do, labelled as such; a name
that is not registered is shown as a warning box. Real widgets are imported only when shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from rich.markup import escape
from textual.widget import Widget
from textual.widgets import Static

from tltui.ui.lessons import WidgetPart


@dataclass(frozen=True)
class LiveWidget:
    name: str
    title: str
    summary: str
    factory: str
    """``"module:Class"`` of the widget."""


REGISTRY: dict[str, LiveWidget] = {
    w.name: w
    for w in (
        LiveWidget(
            "race",
            "Scratch vs pretrained race",
            "Two real runs on the same data, split and seed, one from random weights and one from "
            "pretrained weights, their validation curves drawn live on one chart.",
            "tltui.ui.lesson.race:Race",
        ),
        LiveWidget(
            "layer-features",
            "What each group sees",
            "conv1's 64 filters as pixel images, pretrained next to random, and the activation maps "
            "of one image at stem, layer1..layer4, computed by the worker.",
            "tltui.ui.lesson.features:LayerFeatures",
        ),
        LiveWidget(
            "feature-walk",
            "The feature-extraction walk",
            "An image goes through the frozen network; its 2048-d feature vector is drawn as a bar "
            "strip, then the new head's class scores.",
            "tltui.ui.lesson.features:FeatureWalk",
        ),
        LiveWidget(
            "capacity",
            "Memorising shuffled labels",
            "A linear probe's training accuracy on shuffled labels as the images grow past the features' "
            "dimension + 1, on real frozen features and on Gaussian ones, measured by the worker.",
            "tltui.ui.lesson.capacity:CapacitySweep",
        ),
        LiveWidget(
            "quadrant-quiz",
            "Quadrant quiz",
            "Scenarios to place in the four quadrants (data size x domain similarity), then a "
            "strategy to pick, with the reasoning after each answer and a real experiment to check it.",
            "tltui.ui.lesson.quiz:QuadrantQuiz",
        ),
        LiveWidget(
            "lr-cascade",
            "Learning-rate cascade",
            "Keys set the base LR (log scale) and the per-group factor; a bar chart shows each "
            "group's LR, with the equivalent PyTorch optimizer code, ready to run for real.",
            "tltui.ui.lesson.lr_cascade:LrCascade",
        ),
        LiveWidget(
            "unfreeze-timeline",
            "Gradual unfreezing timeline",
            "Which group joins training at which epoch, set by keys and runnable as a real run.",
            "tltui.ui.lesson.unfreeze_timeline:UnfreezeTimeline",
        ),
        LiveWidget(
            "augment-gallery",
            "Augmentation gallery",
            "A sample image and a grid of augmented variants made by the very transforms training "
            "uses, each switchable, with a label-breaking vertical flip.",
            "tltui.ui.lesson.gallery:AugmentGallery",
        ),
        LiveWidget(
            "freeze-board",
            "Freeze board",
            "The six groups as a board to freeze and unfreeze, with parameter counts, GFLOPs per "
            "image and a predicted accuracy-vs-cost chart; a key runs the setting for real. b goes through "
            "the backbones, each timm model whose weights the worker has among them, with what each group holds.",
            "tltui.ui.lesson.freeze_board:FreezeBoard",
        ),
        LiveWidget(
            "diagnose",
            "Diagnose your data",
            "k-NN, a linear probe, head then unfreeze, fine-tune and from scratch measured on folds of "
            "your data, each with a 95% interval; its quadrant and the recipe to start from.",
            "tltui.ui.lesson.diagnose:Diagnose",
        ),
        LiveWidget(
            "backbone-compare",
            "Backbones compared",
            "Each backbone the worker has pretrained weights for, as a probe and fine-tuned, three seeds each "
            "on the built-in set: real runs, each arm's mean with its 95% interval; the weights not found, "
            "with where the worker looked.",
            "tltui.ui.lesson.backbone_compare:BackboneCompare",
        ),
        LiveWidget(
            "check",
            "Check of understanding",
            "The lesson's questions, answered by keys, with the reasoning after each answer; where a "
            "real run shows the answer, predict first, then a key runs it.",
            "tltui.ui.lesson.check:LessonCheck",
        ),
    )
}


class UnknownWidget(Static):
    """A lesson names a widget tltui does not have: a box where it would be, saying so."""

    DEFAULT_CSS = """
    UnknownWidget { padding: 0 1; margin: 1 2; border: heavy $warning; border-title-color: $warning; }
    """

    def __init__(self, name: str) -> None:
        known = ", ".join(REGISTRY)
        super().__init__(f"This lesson embeds [b]{escape(name) or '(no name)'}[/b], which tltui does not know. "
                         f"Known widgets: {known}.")
        self.border_title = "Unknown widget"


def build_widget(part: WidgetPart) -> Widget:
    """The widget for an embedded block: the real one, or a warning box."""
    spec = REGISTRY.get(part.name)
    if spec is None:
        return UnknownWidget(part.name)
    module, _, cls = spec.factory.partition(":")
    return getattr(import_module(module), cls)(**part.options)
