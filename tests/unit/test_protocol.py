"""The protocol's run config and messages: pure Python, shared by UI, CLI and worker."""

from __future__ import annotations

import msgspec
import pytest

from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.parsing import parse_groups, parse_unfreeze
from tltui.core.presets import PRESETS, apply_preset
from tltui.core.protocol import codec
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.core.protocol.events import Epoch
from tltui.core.protocol.messages import EventMessage
from tltui.core.protocol.requests import StartRun


def test_group_lr_cascades_down_from_the_head():
    config = RunConfig(lr=1e-2, lr_decay=0.1, group_lrs={"stem": 5e-6})
    assert config.group_lr("head") == pytest.approx(1e-2)
    assert config.group_lr("layer4") == pytest.approx(1e-3)
    assert config.group_lr("layer1") == pytest.approx(1e-6)
    assert config.group_lr("stem") == 5e-6


def test_trainable_groups_follow_the_unfreezing_plan():
    config = RunConfig(frozen=BACKBONE, unfreeze={"layer4": 2, "layer3": 4}, epochs=5)
    config.check()
    assert config.trainable_at(1) == ("head",)
    assert config.trainable_at(2) == ("layer4", "head")
    assert config.trainable_at(4) == ("layer3", "layer4", "head")
    assert config.lowest_ever_trainable() == "layer3"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frozen": ("layer9",)}, "unknown group 'layer9'"),
        ({"epochs": 0}, "--epochs must be between 1 and 1000, not 0"),
        ({"epochs": 10**9}, "--epochs must be between 1 and 1000"),
        ({"lr": -1.0}, "--lr must be a positive number"),
        ({"lr": float("nan")}, "--lr must be a positive number"),
        ({"lr": 1e308}, r"--lr must be a positive number up to 1000, not 1e\+308"),
        ({"weight_decay": float("nan")}, r"--weight-decay must be in \[0, 1\], not nan"),
        ({"momentum": float("inf")}, r"--momentum must be in \[0, 1\)"),
        ({"seed": -1}, "--seed must be between 0 and 2147483647, not -1"),
        ({"max_files": -5}, "--max-files must be 0"),
        ({"unfreeze": {"layer4": 2}}, "layer4 is not frozen"),
        ({"frozen": ("layer4",), "unfreeze": {"layer4": 9}}, "between 2 and --epochs"),
        ({"frozen": GROUPS}, "nothing would train"),
        ({"frozen": GROUPS, "unfreeze": {"head": 2}, "epochs": 2}, "nothing trains in epoch 1"),
        ({"augment": ("rotate",)}, "unknown augmentation 'rotate'"),
        ({"image_size": 8}, "--image-size must be between 16 and 1024"),
        ({"val_fraction": 1.0}, "--val-fraction must be between 0 and 1"),
    ],
)
def test_check_gives_one_line_per_problem(fields, message):
    with pytest.raises(ConfigError, match=message) as caught:
        msgspec.structs.replace(RunConfig(), **fields).check()
    assert "\n" not in str(caught.value)


def test_parse_unfreeze_and_groups():
    assert parse_unfreeze("2:layer4, 4:layer3") == {"layer4": 2, "layer3": 4}
    assert parse_unfreeze("") == {}
    with pytest.raises(ConfigError, match="write EPOCH:GROUP"):
        parse_unfreeze("layer4")
    with pytest.raises(ConfigError, match="unknown group"):
        parse_unfreeze("2:layer5")
    with pytest.raises(ConfigError, match="names layer4 twice"):
        parse_unfreeze("2:layer4,3:layer4")
    assert parse_groups("layer2,stem") == ("stem", "layer2")
    assert parse_groups("backbone") == BACKBONE
    with pytest.raises(ValueError, match="choose from stem"):
        parse_groups("conv1")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_config_and_flags_override_it(name):
    config = apply_preset(RunConfig(epochs=4), name, lr=3e-3)
    config.check()
    assert config.preset == name and config.lr == 3e-3


def test_head_then_unfreeze_fits_the_head_first_then_trains_every_group():
    config = apply_preset(RunConfig(epochs=3), "head-then-unfreeze")
    assert config.head_first and config.trainable_at(1) == GROUPS


def test_messages_round_trip_and_bad_lines_are_rejected():
    event = Epoch(run_id="r", seq=3, epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.2,
                           val_acc=0.4, lrs={"head": 0.01}, images_per_s=30.0, elapsed=2.0, eta=4.0)
    line = codec.encode(EventMessage(event=event))
    assert codec.decode_message(line).event == event
    assert codec.decode_event(codec.encode(event)) == event
    request = StartRun(id=7, config=RunConfig(epochs=2))
    assert codec.decode_request(codec.encode(request)) == request
    for bad in (b"{}", b"[1]", b'{"type": "nope", "id": 1}', b'{"type": "cancel_run", "id": "x", "run_id": 1}',
                b"\xff\xfe", b'{"type": "start_run", "id": 1, "config": {"epochs": 2, "colour": "red"}}'):
        with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
            codec.decode_request(bad)
