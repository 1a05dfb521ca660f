"""The parts of an exported script (core/codegen.py) that differ for a timm backbone (``--model timm:NAME``).

The script imports timm and creates the model by name, with the run's weights: timm's own pretrained ones
(the Hugging Face hub, which needs internet the first time), a file (a tltui run's best.pt, the model's
safetensors or a state_dict), or none. Its preprocessing is the run's: the model's mean, std and
interpolation from timm's data config, written out where the worker said them (``Preprocessing``), else
read from timm when the script starts. Its six groups are engine/timm_groups.py's, whose source the script
copies, as a tiny run's script copies engine/tiny.py.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from tltui.core import backbones
from tltui.core.backbones import Preprocessing
from tltui.core.protocol.config import RunConfig

GROUPS_FILE = Path(__file__).resolve().parents[1] / "engine" / "timm_groups.py"
COPIED = ("QUARTERS", "six_groups", "matched_units", "matches", "top_level_units", "label")
"""What the script copies of engine/timm_groups.py."""


def groups_source() -> str:
    """engine/timm_groups.py's six groups as text (read, not imported: core does not import the engine)."""
    source = GROUPS_FILE.read_text(encoding="utf-8")
    wanted = [node for node in ast.parse(source).body
              if isinstance(node, ast.FunctionDef) and node.name in COPIED
              or isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["QUARTERS"]]
    return "\n\n\n".join(ast.get_source_segment(source, node) or "" for node in wanted)


def constants(config: RunConfig, pre: Preprocessing | None) -> list[str]:
    """MODEL, IMAGE_SIZE, MEAN, STD, INTERPOLATION and CROP_PCT: as the worker gave them, else from timm at
    start."""
    name = backbones.timm_name(config.model)
    lines = [f"MODEL = {json.dumps(name)}  # timm's name"]
    if pre is None:
        own = 'DATA_CONFIG["input_size"][-1]'
        return lines + [
            "# the model's own preprocessing: timm's data config",
            "DATA_CONFIG = timm.data.resolve_model_data_config(",
            "    timm.create_model(MODEL, pretrained=False))",
            f"IMAGE_SIZE = {config.image_size or own}",
            'MEAN, STD = DATA_CONFIG["mean"], DATA_CONFIG["std"]',
            'INTERPOLATION = DATA_CONFIG["interpolation"]',
            "# validation: resize to IMAGE_SIZE / CROP_PCT, then the centre crop",
            'CROP_PCT = DATA_CONFIG["crop_pct"]',
        ]
    size = config.image_size or pre.image_size
    whose = "the run's" if config.image_size and config.image_size != pre.model_size else "the model's own"
    return lines + [
        f"IMAGE_SIZE = {size}  # {whose}",
        f"# timm's data config of {name}: its own normalisation and resize",
        f"MEAN = {tuple(round(v, 8) for v in pre.mean)}",
        f"STD = {tuple(round(v, 8) for v in pre.std)}",
        f"INTERPOLATION = {json.dumps(pre.interpolation)}",
        f"CROP_PCT = {pre.crop_pct!r}  # validation: resize to IMAGE_SIZE / CROP_PCT",
    ]


def weights_constant(config: RunConfig) -> list[str]:
    if config.weights == "pretrained":
        return ["# timm's pretrained weights (the Hugging Face hub: internet the",
                "# first time, its cache after); or a file, or None",
                'WEIGHTS = "pretrained"']
    return []


def groups_table() -> str:
    return (
        "def params(model, group):\n"
        '    """The parameters of one of tltui\'s six groups: six_groups\n'
        '    below names each one\'s group (from timm\'s group_matcher)."""\n'
        "    names = six_groups(model)\n"
        "    return [p for n, p in model.named_parameters()\n"
        "            if names[n] == group]"
    )


NETWORK = '''
def create(**kwargs):
    """timm's MODEL for IMAGE_SIZE px images: a ViT's position
    embedding is sized for them; a convolutional network takes any
    size, and no img_size."""
    try:
        return timm.create_model(MODEL, img_size=IMAGE_SIZE,
                                 **kwargs)
    except TypeError:
        return timm.create_model(MODEL, **kwargs)


def network(num_classes, weights):
    """MODEL with `weights` and a new head: None (random),
    "pretrained" (timm's own), or a file: a tltui run's best.pt or
    its folder, or the model's safetensors or state_dict."""
    if weights is None:
        return create(num_classes=num_classes)
    if weights == "pretrained":
        given = {"pretrained": True}
    else:
        if os.path.isdir(weights):  # a tltui run folder
            weights = os.path.join(weights, "best.pt")
        if not os.path.isfile(weights):
            sys.exit(f"--weights {weights}: no such file")
        state = timm.models.load_state_dict(weights)
        model = create(num_classes=num_classes)
        own = model.state_dict()
        if own.keys() == state.keys() and all(
                own[k].shape == state[k].shape for k in own):
            model.load_state_dict(state)  # a run's, head and all
            return model
        given = {"pretrained": True,
                 "pretrained_cfg_overlay": {"file": weights}}
    try:  # with its own head, loaded strictly
        model = create(**given)
    except Exception as error:  # offline, or not this model's
        sys.exit(f"cannot load {MODEL}'s weights {weights} "
                 f"({type(error).__name__}): on a machine with "
                 "internet timm caches them; or use --weights FILE "
                 "or --weights none")
    model.reset_classifier(num_classes)  # the new head
    return model'''.strip()
"""The script's ``network``: the model with its weights, as engine/timm_backbone.py builds it."""


def train_mode(config: RunConfig) -> str:
    if not config.frozen or config.bn == "train":
        return ""
    return (
        "def train_mode(model, optimizer):\n"
        '    """model.train(), then frozen groups\' BatchNorm back in eval\n'
        '    mode: its running statistics keep their pretrained values."""\n'
        "    model.train()\n"
        '    training = {pg["name"] for pg in optimizer.param_groups}\n'
        "    names = six_groups(model)\n"
        "    for name, m in model.named_modules():\n"
        "        if isinstance(m, nn.modules.batchnorm._BatchNorm):\n"
        '            if names.get(name + ".running_mean") not in training:\n'
        "                m.eval()"
    )


FEATURES = '''
def features(model, loader, device):
    """The head's input for every image (the pooled features), in
    eval mode: what the pretrained backbone computes, frozen."""
    model.eval()
    xs, ys = [], []
    with torch.no_grad():
        for images, labels in loader:
            x = model.forward_features(images.to(device))
            x = model.forward_head(x, pre_logits=True)
            xs.append(x.float())
            ys.append(labels.to(device))
    return torch.cat(xs), torch.cat(ys)'''.strip()


def head_first(builtin: str) -> str:
    """The script's LP-FT stage (``codegen.HEAD_FIRST``) for a timm model: the features before its
    classifier, which ``get_classifier()`` names."""
    start = builtin.index("def features(")
    end = builtin.index("def solve(")
    return (builtin[:start] + FEATURES + "\n\n\n" + builtin[end:]).replace("model.fc", "model.get_classifier()")


def normalise_lines() -> str:
    """The first lines of ``loaders`` for a timm model: its normalisation and resize filter."""
    return ("    normalise = transforms.Normalize(mean=MEAN, std=STD)\n"
            "    mode = transforms.InterpolationMode(INTERPOLATION)\n")
