"""A scripted worker that replays recorded runs: deterministic UI tests without torch.

Speaks the real protocol (tltui.core.protocol). Each start_run replays a recorded events file from
``tests/data``: ``scratch.jsonl`` for ``weights none``, ``pretrained.jsonl`` otherwise (a start_diagnosis
``diagnose.jsonl``), with the new run id and the requested config in its started event (and a diagnosis's
command). Settings (environment): ``FAKE_WEIGHTS`` cached weights to report (comma list), ``FAKE_NO_TINY``
(any value) no pretrained weights for the tiny backbone either (a package without its weights file),
``FAKE_STOP_AFTER`` replay only this many events of each run (a run caught mid-way), ``FAKE_DELAY``
seconds between events, ``FAKE_ANALYSIS`` (any value) a made-up error analysis in the finished event,
from its confusion matrix, ``FAKE_KEEP`` (any value) keep the runs in the data dir, as a run store does, so
that the worker of a restarted tutor has them, ``FAKE_HELLO_AFTER`` (a path) say hello only once that file
exists (a worker slow to start, for exactly as long as a test needs), ``FAKE_DESCRIBE_AFTER`` (a path) answer
describe_backbone only once that file exists, ``FAKE_TIMM_CACHED`` the timm models (comma list) whose weights it
reports cached (each described as the real worker describes test_vit). Picture requests get made-up pictures
(tests/fake_pictures.py).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import msgspec

from tltui.core import backbones, costs, diagnosis
from tltui.core.backbones import BackboneInfo, GroupInfo, Preprocessing
from tltui.core.groups import GROUPS
from tltui.core.protocol import codec
from tltui.core.protocol.config import MODELS, RunConfig
from tltui.core.protocol.events import Diagnosis, Finished, RunEvent, Started
from tltui.core.protocol.messages import PROTOCOL_VERSION, Error, EventMessage, Hello, Message, Working
from tltui.core.protocol.replies import (
    Cancelling,
    Capabilities,
    CapacityPoint,
    CapacityReply,
    Replayed,
    RunStarted,
    RunSummary,
)
from tltui.core.protocol.requests import (
    PICTURE_REQUESTS,
    AnyRequest,
    CancelRun,
    Capacity,
    DescribeBackbone,
    GetCapabilities,
    GetEvents,
    ListRuns,
    LossPictures,
    StartDiagnosis,
    StartRun,
)

import fake_pictures

DATA = Path(__file__).parent / "data"
RECORDINGS = {name: [codec.decode_event(line) for line in (DATA / f"{name}.jsonl").read_bytes().splitlines()]
              for name in ("scratch", "pretrained", "diagnose")}

out_lock = threading.Lock()
runs: dict[str, list[RunEvent]] = {}
configs: dict[str, RunConfig] = {}
KEPT = Path(os.environ.get("TLTUI_DATA_DIR", ".")) / "fake-runs" if os.environ.get("FAKE_KEEP") else None
"""With FAKE_KEEP: each run's config (<id>.json) and events (<id>.jsonl)."""


def load_kept() -> None:
    """The runs an earlier fake worker kept."""
    for path in sorted(KEPT.glob("*.json")) if KEPT else ():
        run_id = path.stem
        configs[run_id] = msgspec.json.decode(path.read_bytes(), type=RunConfig)
        runs[run_id] = [codec.decode_event(line) for line in path.with_suffix(".jsonl").read_bytes().splitlines()]


def keep(run_id: str, event: RunEvent | None = None) -> None:
    """Write a new run's config, or append one of its events (with FAKE_KEEP)."""
    if KEPT is None:
        return
    KEPT.mkdir(exist_ok=True)
    if event is None:
        (KEPT / f"{run_id}.json").write_bytes(msgspec.json.encode(configs[run_id]))
        (KEPT / f"{run_id}.jsonl").touch()
    else:
        with open(KEPT / f"{run_id}.jsonl", "ab") as events:
            events.write(msgspec.json.encode(event) + b"\n")


def send(message: Message) -> None:
    with out_lock:
        sys.stdout.buffer.write(codec.encode(message))
        sys.stdout.buffer.flush()


def replay(run_id: str, recording: list[RunEvent]) -> None:
    stop_after = int(os.environ.get("FAKE_STOP_AFTER", "0")) or len(recording)
    delay = float(os.environ.get("FAKE_DELAY", "0"))
    for seq, event in enumerate(recording[:stop_after], 1):
        event = msgspec.structs.replace(event, run_id=run_id, seq=seq)
        if isinstance(event, Finished) and os.environ.get("FAKE_ANALYSIS"):
            event = msgspec.structs.replace(event, analysis=fake_pictures.analysis(event))
        if isinstance(event, Started):  # a real worker echoes the config it was given
            config = configs[run_id]
            event = msgspec.structs.replace(event, config=config, weights=config.weights, model=config.model)
        if isinstance(event, Diagnosis) and event.command:  # and its command names what it diagnosed
            epochs = int(event.command[event.command.index("--epochs") + 1])
            event = msgspec.structs.replace(event, command=diagnosis.command(configs[run_id], event.recommend, epochs))
        runs[run_id].append(event)
        keep(run_id, event)
        send(EventMessage(event=event))
        time.sleep(delay)  # FAKE_DELAY: the pace of a recorded run, which the test chose, not a wait


pending: list[threading.Thread] = []


def handle(request: AnyRequest) -> msgspec.Struct | list:
    """The reply the request declares, as the real worker gives it."""
    if isinstance(request, GetCapabilities):
        return CAPABILITIES
    if isinstance(request, StartRun):
        run_id = f"20261126-1200{len(runs):02d}-fake"
        runs[run_id], configs[run_id] = [], request.config
        keep(run_id)
        recording = RECORDINGS["scratch" if request.config.weights == "none" else "pretrained"]
        pending.append(threading.Thread(target=replay, args=(run_id, recording), daemon=True))
        return RunStarted(run_id=run_id, run_dir=f"/fake/{run_id}")
    if isinstance(request, StartDiagnosis):
        run_id = f"20261126-1200{len(runs):02d}-fake"
        runs[run_id], configs[run_id] = [], msgspec.structs.replace(request.config, preset="diagnose")  # as stored
        keep(run_id)
        pending.append(threading.Thread(target=replay, args=(run_id, RECORDINGS["diagnose"]), daemon=True))
        return RunStarted(run_id=run_id, run_dir=f"/fake/{run_id}")
    if isinstance(request, ListRuns):
        return [RunSummary(run_id=r, status="running", config=configs[r], created=0.0, last_seq=len(e))
                for r, e in runs.items()]
    if isinstance(request, GetEvents):
        for event in runs.get(request.run_id, []):
            if event.seq > request.after_seq:
                send(EventMessage(event=event))
        return Replayed(run_id=request.run_id, replayed=0, following=False)
    if isinstance(request, CancelRun):
        return Cancelling(run_id=request.run_id)
    if isinstance(request, PICTURE_REQUESTS):
        return fake_pictures.answer(request)
    if isinstance(request, LossPictures):
        finished = [e for e in runs.get(request.run_id, []) if isinstance(e, Finished) and e.analysis]
        if not finished:
            raise ValueError(f"run {request.run_id} has no error analysis")
        return fake_pictures.loss_pictures(request, finished[-1].analysis)
    if isinstance(request, Capacity):
        return capacity(request)
    if isinstance(request, DescribeBackbone):
        wait_for("FAKE_DESCRIBE_AFTER")
        return describe(request)
    raise ValueError(f"the fake worker does not do {type(request).__name__}")


def capacity(request: Capacity) -> CapacityReply:
    """A made-up sweep of the real worker's shape: a Working message per fit, then every n answered,
    memorised up to 4 (d + 1) on Gaussian features and 2.5 (d + 1) on "real" ones, then falling."""
    dim = 128 if request.model == "tiny" else 2048
    sizes = request.sizes or tuple(round(f * (dim + 1)) for f in (0.25, 0.5, 1, 2, 3, 4, 6, 8))
    for done, n in enumerate(sizes, 1):
        send(Working(id=request.id, done=done, total=len(sizes), text=f"n = {n}"))

    def accuracy(n: int, reach: float) -> float:
        return round(max(0.1, min(1.0, reach * (dim + 1) / n)), 4)

    return CapacityReply(
        model=request.model, weights="fake", source=f"{request.data}: fake", dim=dim, classes=10, chance=0.1,
        l2=1e-4, points=[CapacityPoint(n=n, real=accuracy(n, 2.5), gaussian=accuracy(n, 4)) for n in sizes],
        effective_rank=dim * 2 // 3, gaussian_rank=dim - 2, rank_rule="made up by the fake worker", seconds=0.1,
    )


TEST_VIT = [("cls_token, pos_embed, patch_embed.proj", 55_744, 4_915_200), ("blocks.0", 41_728, 5_442_688),
            ("blocks.1", 41_728, 5_442_688), ("blocks.2-3", 83_456, 10_885_376),
            ("blocks.4-5, norm", 83_584, 10_885_376), ("head", 650, 640)]
"""timm's test_vit as the real worker describes it at its own 160 px (tests/unit/test_timm_backbone.py)."""


def describe(request: DescribeBackbone) -> BackboneInfo:
    """A backbone's six groups: the built-in ones from core/costs.py (the real worker measures the same
    numbers), any timm model as the real worker describes test_vit."""
    if request.model in MODELS:
        size = request.image_size or (32 if request.model == "tiny" else 64)
        rows = [(g, c.params, c.macs) for g, c in costs.model_costs(request.model, size, 10).items()]
        blocks = ("0", "0", "0", "0") if request.model == "tiny" else ("0-2", "0-3", "0-5", "0-2")
        holds = ["conv1, bn1", *(f"layer{i}.{b}" for i, b in enumerate(blocks, 1)), "fc"]
        return BackboneInfo(model=request.model, label=backbones.label(request.model), weights=["none"],
                            groups=[GroupInfo(name=g, params=p, macs=m, holds=h)
                                    for (g, p, m), h in zip(rows, holds, strict=True)],
                            preprocessing=Preprocessing(image_size=size, resize=round(size / 0.875)))
    if backbones.problem(request.model):
        raise ValueError(backbones.problem(request.model))
    return BackboneInfo(
        model=request.model, label=backbones.label(request.model), weights=["none"], convolutional=False,
        groups=[GroupInfo(name=g, params=p, macs=m, holds=h) for g, (h, p, m) in zip(GROUPS, TEST_VIT, strict=True)],
        preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), image_size=request.image_size or 160,
                                    interpolation="bicubic", model_size=160, crop_pct=0.95,
                                    resize=(request.image_size or 160) * 20 // 19,
                                    source=f"timm's data config of {backbones.timm_name(request.model)}"),
        looked=f"/fake/hf/hub/models--timm--{backbones.timm_name(request.model)}")


CACHED = [w for w in os.environ.get("FAKE_WEIGHTS", "").split(",") if w]
CAPABILITIES = Capabilities(
    host="fake-host", tltui_version="0", torch_version="0.0+fake", devices=["cpu"],
    cached_weights=CACHED, weights_dir="/fake/hub/checkpoints",
    models={  # as a real worker reports them: the tiny backbone's weights ship with tltui
        "resnet50": (["pretrained"] if "imagenet" in CACHED else []) + CACHED + ["none"],
        "tiny": ([] if os.environ.get("FAKE_NO_TINY") else ["pretrained"]) + ["none"],
        **{m: ["pretrained", "none"] for m in os.environ.get("FAKE_TIMM_CACHED", "").split(",") if m},
    },
)


def wait_for(setting: str) -> None:
    """Until the file the environment's ``setting`` names exists (at once without it)."""
    gate = os.environ.get(setting)
    while gate and not os.path.exists(gate):
        time.sleep(0.01)  # a file another process creates: nothing to block on but a look every 10 ms


def main() -> None:
    load_kept()
    wait_for("FAKE_HELLO_AFTER")
    send(Hello(protocol=PROTOCOL_VERSION, capabilities=CAPABILITIES))
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = codec.decode_request(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            send(Error(id=None, message=str(error)))
            continue
        try:
            send(codec.reply(request.id, handle(request)))
        except ValueError as error:
            send(Error(id=request.id, message=str(error)))
        while pending:  # replays start after the reply, as a real worker's events follow it
            pending.pop().start()


if __name__ == "__main__":
    main()
