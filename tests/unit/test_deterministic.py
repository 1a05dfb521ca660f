"""``--deterministic``: the same run twice gives the same numbers and weights, bit for bit; torch's settings are
on while it trains and as they were after; the Started event says so; the flag reaches the CLI, the protocol
and the exported scripts."""

from __future__ import annotations

import io
import os

import msgspec
import pytest
import torch

from tltui.cli.commands import Reporter
from tltui.cli.flags import config_from_args
from tltui.cli.main import build_parser
from tltui.core import codegen
from tltui.core.cluster import generate_ddp
from tltui.core.errors import RunFailure
from tltui.core.protocol import codec
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Epoch, Started
from tltui.core.protocol.ranks import RankReport
from tltui.core.protocol.requests import StartRun
from tltui.engine import determinism
from tltui.engine.train import prepare, train
from tltui.worker import ranks

TINY = RunConfig(data="builtin", model="tiny", weights="pretrained", device="cpu", image_size=32, limit_per_class=6,
                 batch_size=8, epochs=2, val_fraction=0.2, augment=("crop", "flip", "color"), seed=3,
                 deterministic=True)
"""Every group trains from the shipped weights, with every augmentation: each draws from the seeded generator."""
WORKSPACE = determinism.CUBLAS_WORKSPACE[0]


@pytest.fixture
def torch_settings():
    """torch's process-wide settings as a run that does not ask for determinism leaves them (device.configure
    turns cuDNN's autotuning on), put back after the test."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic, os.environ.get(WORKSPACE))
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    os.environ.pop(WORKSPACE, None)
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[1], before[2]
    if before[3] is not None:
        os.environ[WORKSPACE] = before[3]


def settings() -> tuple[bool, bool, bool, str | None]:
    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic, os.environ.get(WORKSPACE))


def run(config: RunConfig, run_dir) -> tuple[list[tuple[type, dict]], list[tuple]]:
    """The run's events, and torch's settings as each event went out."""
    events: list[tuple[type, dict]] = []
    during: list[tuple] = []

    def emit(cls, **fields):
        events.append((cls, fields))
        during.append(settings())

    train(prepare(config), run_dir, emit, lambda: False)
    return events, during


def test_two_deterministic_runs_give_bit_identical_metrics_and_weights(tmp_path, torch_settings):
    first, _ = run(TINY, tmp_path / "a")
    second, _ = run(TINY, tmp_path / "b")
    epochs = [[f for c, f in events if c is Epoch] for events in (first, second)]
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "lrs")
    assert len(epochs[0]) == 2
    assert [[e[k] for k in keys] for e in epochs[0]] == [[e[k] for k in keys] for e in epochs[1]]
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other, _ = run(msgspec.structs.replace(TINY, seed=4), tmp_path / "c")
    c = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    assert not torch.equal(a["fc.weight"], c["fc.weight"])  # the seed is what fixes them


def test_the_settings_hold_while_it_trains_and_are_restored_after(tmp_path, torch_settings):
    before = settings()
    events, during = run(TINY, tmp_path)
    assert set(during) == {(True, False, True, ":4096:8")}
    assert settings() == before == (False, True, False, None)
    started = [f for c, f in events if c is Started]
    assert [f["deterministic"] for f in started] == [True]
    printed = io.StringIO()
    Reporter(as_json=False, out=printed)(Started(**started[0]))
    assert printed.getvalue().rstrip().endswith(", deterministic")  # what tltui train prints of it
    plain, during = run(msgspec.structs.replace(TINY, deterministic=False, epochs=1), tmp_path / "plain")
    assert set(during) == {before} and [f["deterministic"] for c, f in plain if c is Started] == [False]


def test_an_operation_without_a_deterministic_implementation_fails_the_run_in_one_line(torch_settings):
    before = settings()
    with pytest.raises(RunFailure) as failure, determinism.enforced(True):
        torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))  # put_ has none, on the CPU too
    assert failure.value.reason == "--deterministic: put_ has no deterministic implementation on this device"
    assert "without --deterministic" in failure.value.hint
    assert settings() == before
    with pytest.raises(RuntimeError, match="unrelated"), determinism.enforced(True):
        raise RuntimeError("unrelated")  # any other error goes on as it was


def parse(*words: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(["train", "builtin", *words]))


def test_the_flag_round_trips_through_the_cli_and_the_protocol():
    config = parse("--deterministic")
    assert config.deterministic and not parse().deterministic
    assert parse(*codegen.command_line(config).split()[3:]) == config
    request = StartRun(id=1, config=config)
    assert codec.decode_request(codec.encode(request)) == request
    stored = msgspec.json.decode(codec.encode(request), type=dict)
    del stored["config"]["deterministic"]  # a config stored before the field existed
    assert codec.decode_request(msgspec.json.encode(stored)).config.deterministic is False


def test_the_exported_scripts_carry_the_switch():
    config = RunConfig(data="builtin", model="tiny", deterministic=True)
    for code in (codegen.generate(config), generate_ddp(config)):
        main = code[code.index("def main():"):]
        settings_at = main.index("torch.use_deterministic_algorithms(True)")
        assert 'os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")' in main
        assert "torch.backends.cudnn.benchmark = False" in main and "torch.backends.cudnn.deterministic = True" in main
        assert settings_at < main.index("build(len(classes)")  # before the model touches a device
        assert "--deterministic" in code[:code.index('"""', 5)]  # the header's tltui command
    assert "use_deterministic_algorithms" not in codegen.generate(msgspec.structs.replace(config, deterministic=False))


def test_the_reason_a_run_of_one_process_failed_names_no_others():
    """A deterministic run trains in torchrun's one process: its failure is told as it is, not as one of many."""
    failed = RankReport(rank=0, pid=7, reason="--deterministic: put_ has no deterministic implementation", hint="h")
    assert ranks.explain([failed], [], 1, 1) == (failed.reason, "h")
    assert ranks.explain([failed], [], 2, 1)[0] == f"{failed.reason} (process rank 0 of 2; the others were stopped)"
