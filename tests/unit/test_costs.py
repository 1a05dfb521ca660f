"""The board's computed costs against torch's own FLOP counter on the real models (built on torch's meta
device: the same layers and shapes, so the same counts, without the arithmetic)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from tltui.core.costs import model_costs, step_cost
from tltui.core.groups import GROUPS, MODULES
from tltui.engine import model as net
from tltui.engine.tiny import TinyResNet


def flops_from(model, group: str, image: torch.Tensor) -> int:
    """FLOPs torch counts for running ``model`` from ``group``'s input to the logits."""
    with torch.no_grad():
        x = net.forward_until(model, group, image)
        with FlopCounterMode(display=False) as counter:
            net.forward_from(model, group, x)
    return counter.get_total_flops()


@pytest.mark.parametrize(("name", "size"), [("resnet50", 224), ("resnet50", 64), ("tiny", 32), ("tiny", 48)])
def test_params_and_flops_per_group_match_torch(name, size):
    classes = 10
    with torch.device("meta"):
        model = (TinyResNet(classes) if name == "tiny" else torchvision.models.resnet50(num_classes=classes)).eval()
        image = torch.zeros(1, 3, size, size)
    costs = model_costs(name, size, classes)
    from_group = {g: flops_from(model, g, image) for g in GROUPS}
    for i, group in enumerate(GROUPS):
        params = sum(p.numel() for m in MODULES[group] for p in getattr(model, m).parameters())
        assert costs[group].params == params, group
        above = from_group[GROUPS[i + 1]] if i + 1 < len(GROUPS) else 0
        assert from_group[group] - above == 2 * costs[group].macs, group


def test_resnet50_at_224_costs_what_the_literature_says():
    costs = model_costs("resnet50", 224, 1000)
    assert sum(c.params for c in costs.values()) == 25_557_032
    assert sum(c.macs for c in costs.values()) / 1e9 == pytest.approx(4.09, abs=0.01)


def test_backward_runs_only_down_to_the_lowest_trainable_group():
    costs = model_costs("resnet50", 224, 1000)
    head = step_cost(costs, {"head"})
    late = step_cost(costs, {"layer4", "head"})
    full = step_cost(costs, set(GROUPS))
    assert head.forward_gflops == late.forward_gflops == full.forward_gflops == pytest.approx(8.18, abs=0.01)
    assert head.backward_gflops == pytest.approx(2 * 2 * costs["head"].macs / 1e9)
    assert late.backward_gflops == pytest.approx(2 * 2 * (costs["layer4"].macs + costs["head"].macs) / 1e9)
    assert full.backward_gflops == pytest.approx(2 * full.forward_gflops)
    assert head.trainable_params == costs["head"].params
    assert step_cost(costs, {"layer4", "head"}, "adamw").optimizer_mb == pytest.approx(late.optimizer_mb * 1.5)
