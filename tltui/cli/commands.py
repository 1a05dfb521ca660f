"""Headless commands: ``tltui train``, ``tltui runs``, ``tltui worker``.

Training goes through a worker process, exactly as the UI does, so the CLI never imports torch
itself. Exit codes: 0 done, 1 the run failed or was cancelled, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from tltui.core import analysis, datasets, diagnosis, protocol, remote
from tltui.core.errors import BadInput
from tltui.core.formatting import bar, duration, head_fitted, printable
from tltui.core.parsing import parse_setting
from tltui.core.paths import private_runs_dir
from tltui.core.presets import PRESETS, configure
from tltui.core.protocol import (
    AUGMENTS,
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    Epoch,
    Failed,
    Finished,
    Note,
    Progress,
    RunConfig,
    Started,
    Unfrozen,
)

if TYPE_CHECKING:
    from tltui.core.client import WorkerClient

R = TypeVar("R")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Every run setting as a flag; a flag left out keeps the preset's (or the default) value."""
    d = RunConfig()
    parser.add_argument("data", metavar="DATA", help=f"a folder (ImageFolder) or one of: {', '.join(datasets.NAMES)}")
    parser.add_argument("--preset", choices=list(PRESETS), help="a usual recipe; other flags override it")
    parser.add_argument("--model", help="resnet50; tiny: a small ResNet whose pretrained weights ship with tltui, 32 "
                        "px, seconds on a CPU; or timm:NAME, any timm image model (pip install -e \".[timm]\") "
                        f"(default {d.model})")
    parser.add_argument("--weights", help="pretrained (the model's own: ImageNet for resnet50, generated fractals for "
                        "tiny, the Hugging Face cache's for timm), imagenet, imagenet-v1, none, or a state_dict / "
                        f"safetensors file / run dir (default {d.weights})")
    parser.add_argument("--freeze", metavar="GROUPS",
                        help="groups to freeze: stem,layer1,...,layer4,head, all, backbone")
    parser.add_argument("--bn", choices=["freeze", "train"], help="BatchNorm of frozen groups (default freeze)")
    parser.add_argument("--epochs", type=int, help=f"default {d.epochs}")
    parser.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    parser.add_argument("--lr", type=lr_value, help=f"learning rate of the head (default {d.lr}), or auto: the LR "
                        "finder's suggestion (train only)")
    parser.add_argument("--lr-decay", type=float, help="each group below gets the LR above times this (default 1)")
    parser.add_argument("--unfreeze", metavar="E:GROUP,...",
                        help="a frozen group joins training at epoch E, e.g. 2:layer4,4:layer3")
    parser.add_argument("--head-first", action=argparse.BooleanOptionalAction,
                        help="fit the new head alone on the frozen features until its loss plateaus, before "
                        "epoch 1 (LP-FT's linear probe)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.optimizer}")
    parser.add_argument("--momentum", type=float, help=f"SGD momentum (default {d.momentum})")
    parser.add_argument("--weight-decay", type=float, help=f"default {d.weight_decay}")
    parser.add_argument("--schedule", choices=SCHEDULES, help=f"default {d.schedule}")
    parser.add_argument("--label-smoothing", type=float, help="default 0")
    parser.add_argument("--image-size", type=int, help="pixels; default 224 on a GPU, 64 on the CPU, 32 for tiny, "
                        "a timm model's own")
    parser.add_argument("--augment", metavar="LIST", help=f"train augmentations from {','.join(AUGMENTS)} (default "
                        f"{','.join(d.augment)}; flip for photos where left and right do not matter)")
    parser.add_argument("--no-augment", action="store_true", help="no train augmentation")
    parser.add_argument("--limit-per-class", type=int, help="at most N training images per class")
    parser.add_argument("--val-fraction", type=float,
                        help=f"validation share of a single folder (default {d.val_fraction})")
    parser.add_argument("--seed", type=int, help="data split, order and init (default 0)")
    parser.add_argument("--shuffle-labels", action="store_true",
                        help="permute the labels once with the seed, train and val alike: a control whose "
                        "validation accuracy can only be chance")
    parser.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu (default auto)")
    parser.add_argument("--nproc", metavar="N|all",
                        help="processes of one run (torch.distributed): one per GPU, or N CPU processes with "
                        "--device cpu; all: every free GPU (default 1). --batch-size is then the global batch")
    parser.add_argument("--sync-bn", action="store_true",
                        help="with several processes, trainable BatchNorm normalises over the global batch")
    parser.add_argument("--max-files", type=int, metavar="N",
                        help=f"walk a data folder of up to N files and folders (default {protocol.MAX_FILES:,})")
    parser.add_argument("--json", action="store_true", help="print one JSON event per line")
    parser.add_argument("--remote", metavar="[USER@]HOST",
                        help="train on HOST's worker through your ssh; the run goes on if you disconnect")


def lr_value(text: str) -> float | str:
    """``--lr``: a number, or ``auto`` (the LR finder picks it)."""
    return "auto" if text == "auto" else float(text)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the flags describe (``--lr auto`` leaves the LR as it is); BadInput with one line if
    they cannot work."""
    fields: dict[str, Any] = {}
    for name in ("model", "weights", "bn", "epochs", "batch_size", "lr", "lr_decay", "optimizer", "momentum",
                 "weight_decay", "schedule", "label_smoothing", "image_size", "limit_per_class",
                 "val_fraction", "seed", "device", "max_files"):
        value = getattr(args, name)
        if value is not None and value != "auto":
            fields[name] = value
    try:
        for field, text in (("frozen", args.freeze), ("unfreeze", args.unfreeze), ("augment", args.augment),
                            ("data", args.data), ("nproc", args.nproc)):
            if text is not None:
                fields[field] = parse_setting(field, text)
        if args.no_augment:
            fields["augment"] = ()
        if args.shuffle_labels:
            fields["shuffle_labels"] = True
        if args.head_first is not None:
            fields["head_first"] = args.head_first
        if args.sync_bn:
            fields["sync_bn"] = True
        return configure(args.preset, **fields)
    except (ConfigError, ValueError) as error:
        raise BadInput(str(error)) from None


# ----------------------------------------------------------------------------------------------


class Reporter:
    """Prints a run's events: JSON lines, a live progress line on a terminal, or a line per epoch."""

    def __init__(self, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.out = out
        self.live = out.isatty() and not as_json
        self.epochs = 0

    def __call__(self, event: protocol.RunEvent) -> None:
        if self.as_json:
            self.out.write(protocol.encode(event).decode())
            self.out.flush()
            return
        if isinstance(event, Progress):
            if self.live:
                self._status(
                    f"epoch {event.epoch}/{self.epochs} {bar(event.step / max(event.steps, 1))} "
                    f"loss {event.train_loss:.3f} acc {event.train_acc:.1%} {event.images_per_s:.0f} img/s "
                    f"ETA {duration(event.eta)}"
                )
            return
        self._status("")
        if isinstance(event, (protocol.Measured, protocol.Diagnosis)):
            for line in diagnosis.lines(event):
                self._line(line)
        elif isinstance(event, Started):
            self.epochs = event.config.epochs
            skipped = sum(event.skipped.values())
            self._line(
                f"run {event.run_id}: {event.model} ({event.weights}) on {event.device_name}, "
                f"{len(event.classes)} classes, {event.n_train} train / {event.n_val} val images at "
                f"{event.config.image_size}px, path {event.path}"
                + (f", {event.world_size} processes" if event.world_size > 1 else "")
                + (f", {skipped} files skipped" if skipped else "")
                + (f", resumed after epoch {event.resumed_from}" if event.resumed_from else "")
            )
        elif isinstance(event, Epoch):
            self._line(
                f"epoch {event.epoch}/{self.epochs}  train loss {event.train_loss:.3f} acc {event.train_acc:.1%}  "
                f"val loss {event.val_loss:.3f} acc {event.val_acc:.1%}{' *' if event.best else ''}  "
                f"{event.images_per_s:.0f} img/s  {duration(event.elapsed)}"
            )
        elif isinstance(event, Unfrozen):
            self._line(f"epoch {event.epoch}: unfroze {', '.join(event.groups)}")
        elif isinstance(event, protocol.HeadFitted):
            self._line(head_fitted(event))
        elif isinstance(event, Note):
            self._line(f"note: {event.message}")
        elif isinstance(event, Finished):
            self._line(
                f"best val acc {event.best_val_acc:.1%} at epoch {event.best_epoch}; "
                f"{duration(event.elapsed)}; checkpoints in {event.run_dir}"
            )
            if event.analysis is not None:
                for line in analysis.lines(event.analysis):
                    self._line(f"  {line}")
        elif isinstance(event, Failed):
            self._line(f"run failed: {event.reason}" + (f"\n  {event.hint}" if event.hint else ""))
        elif isinstance(event, protocol.Cancelled):
            self._line(f"cancelled after epoch {event.epoch}; last checkpoint kept in {event.run_dir}")

    def _line(self, text: str) -> None:
        self.out.write(printable(text) + "\n")  # a class or file name cannot send the terminal a sequence
        self.out.flush()

    def _status(self, text: str) -> None:
        if self.live:
            self.out.write("\r\x1b[2K" + printable(text[:200], lines=False))
            self.out.flush()


async def follow_run(request: protocol.StartRun | protocol.ResumeRun | protocol.GetEvents | protocol.StartDiagnosis,
                     report: Callable[[protocol.RunEvent], None], host: str | None = None) -> int:
    """Start, resume or pick up a run on the worker (local, or on ``host``) and report its events until
    it ends. Ctrl-C or a dropped connection leaves the run going and says how to follow it again."""
    from tltui.core.client import WorkerError, WorkerGone

    client = _client(host)
    run_id = ""
    detached = asyncio.Event()
    caught: list[int] = []

    def detach(signum: int) -> None:
        caught.append(signum)
        detached.set()

    loop = asyncio.get_running_loop()
    for signum in DETACH_SIGNALS:
        loop.add_signal_handler(signum, detach, signum)
    try:
        hello = await client.start()
        if host and not any(d.startswith("cuda") for d in hello.capabilities.devices):
            print(f"note: {host} has no GPU; the run trains on its CPU", file=sys.stderr)
        reply: protocol.RunStarted | protocol.Replayed = await client.request(request)
        run_id = reply.run_id
        while True:
            event = await _next(client, detached)
            if event is None:
                break
            report(event)
            if isinstance(event, protocol.TERMINAL_EVENTS) and event.run_id == run_id:
                if isinstance(event, protocol.Cancelled) and not isinstance(request, protocol.StartDiagnosis):
                    print(f"resume with: tltui runs resume {run_id}" + (f" --remote {host}" if host else ""),
                          file=sys.stderr)
                return 0 if isinstance(event, (Finished, protocol.Diagnosis)) else 1
        if detached.is_set():
            _say(f"\nleft run {run_id} going" + (f" on {host}" if host else "")
                 + f"; {remote.follow_hint(run_id, host)}")
            return 128 + caught[0]
        raise WorkerGone(client.gone)
    except WorkerGone as error:
        _say(f"tltui: {error}")
        if run_id:
            _say(f"the run may go on; {remote.follow_hint(run_id, host)}")
        return 1
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        for signum in DETACH_SIGNALS:
            loop.remove_signal_handler(signum)
        await client.close(timeout=10)


#: Signals that leave a followed run going, as Ctrl-C does: a closed terminal, a polite kill.
DETACH_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _say(text: str) -> None:
    """A line on stderr; a terminal that has gone (SIGHUP) cannot make it a traceback."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


async def ask(request: protocol.Request[R], host: str | None = None,
              working: Callable[[protocol.Working], None] | None = None) -> R:
    """The worker's reply to one short request (here, or on ``host``; ``working`` hears its progress); a
    refusal as BadInput."""
    from tltui.core.client import WorkerError

    client = _client(host)
    try:
        await client.start()
        return await client.request(request, working)
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        await client.close(timeout=10)


def _client(host: str | None) -> WorkerClient:
    """A client of the worker on ``host``, or here; here, a data or worker directory that is not private is
    refused first, in one line (the worker would refuse it too, less directly)."""
    from tltui.core.client import WorkerClient
    from tltui.worker.sockets import private_dir

    if host:
        return remote.client(host)
    private_runs_dir()
    private_dir()
    return WorkerClient()


async def _next(client: WorkerClient, detached: asyncio.Event) -> protocol.RunEvent | None:
    """The next event, or None once the user has pressed Ctrl-C or the worker has gone."""
    get = asyncio.ensure_future(client.events.get())
    stop = asyncio.ensure_future(detached.wait())
    done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
    for task in (get, stop):
        if task not in done:
            task.cancel()
    return get.result() if get in done else None


def train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    for caveat in config.caveats():
        print(f"tltui: warning: {caveat}", file=sys.stderr)
    if args.lr == "auto":
        from tltui.cli.lr_find import with_found_lr

        config = with_found_lr(config, args.remote, args.json)
    return asyncio.run(follow_run(protocol.StartRun(config=config), Reporter(args.json), args.remote))


def runs(args: argparse.Namespace) -> int:
    """List the runs, or show / follow / resume / cancel one: locally from the run store, or on a
    host's worker with --remote."""
    if args.remote:
        if args.action in ("list", "show"):
            return asyncio.run(_remote_read(args))
        return _run_action(args.action, args.run_id, args)
    from tltui.worker.store import RunNotFound, RunStore

    store = RunStore()
    if args.action == "list":
        _list(store.summaries(), args.json, f"no runs yet in {store.root}")
        return 0
    try:
        run = store.get(args.run_id)
    except RunNotFound as error:
        raise BadInput(str(error)) from None
    if args.action == "show":
        summary = run.summary()
        show(summary, run.events(progress=False) if summary.config else [], args.json)
        return 0
    return _run_action(args.action, run.id, args)


def _run_action(action: str, run_id: str, args: argparse.Namespace) -> int:
    """resume / follow / cancel one run through the worker."""
    if action == "cancel":
        return asyncio.run(_cancel(run_id, args.remote))
    request = protocol.ResumeRun(run_id=run_id) if action == "resume" else \
        protocol.GetEvents(run_id=run_id, after_seq=0, follow=True)
    return asyncio.run(follow_run(request, Reporter(args.json), args.remote))


async def _cancel(run_id: str, host: str | None) -> int:
    from tltui.core.client import WorkerError

    client = _client(host)
    try:
        await client.start()
        run_id = (await client.request(protocol.CancelRun(run_id=run_id))).run_id
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        await client.close(timeout=10)
    print(f"cancelling {run_id}: it stops at the end of its batch and keeps its last checkpoint")
    return 0


async def _remote_read(args: argparse.Namespace) -> int:
    """``tltui runs [show ID] --remote HOST``: the host's run store, through its worker."""
    from tltui.core.client import WorkerError

    client = remote.client(args.remote)
    try:
        await client.start()
        summaries = await client.request(protocol.ListRuns())
        if args.action == "list":
            _list(summaries, args.json, f"no runs yet on {args.remote}")
            return 0
        replayed = await client.request(protocol.GetEvents(run_id=args.run_id, after_seq=0))
        events = [e for e in (client.events.get_nowait() for _ in range(replayed.replayed)) if e is not None]
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        await client.close(timeout=10)
    (summary,) = [s for s in summaries if s.run_id == replayed.run_id]
    show(summary, events, args.json)
    return 0


def _list(summaries: list[protocol.RunSummary], as_json: bool, empty: str) -> None:
    if as_json:
        for summary in summaries:
            print(protocol.encode(summary).decode(), end="")
        return
    if not summaries:
        print(empty)
        return
    print(f"{'run':<21} {'status':<11} {'model':<8} {'epochs':>8} {'best val':>9}  data / preset / weights")
    diagnosed = False
    for s in summaries:
        if s.config is None:
            print(f"{s.run_id:<21} {s.status:<11} {'-':<8} {'-':>8} {'-':>9}  {s.reason}")
            continue
        diagnosis = s.config.preset == "diagnose"
        diagnosed |= diagnosis and s.best_val_acc is not None
        best = "-" if s.best_val_acc is None else f"{s.best_val_acc:.1%}" + (" cv" if diagnosis else "")
        preset = f"diagnose: {s.recommend}" if s.recommend else s.config.preset
        what = " / ".join(x for x in (Path(s.config.data).name, preset, s.config.weights) if x)
        held = f"  [{', '.join(s.devices)}]" if s.devices else ""
        print(f"{s.run_id:<21} {s.status:<11} {s.config.model:<8} {s.progress:>8} {best:>9}  {what}{held}")
    if diagnosed:
        print("cv: a diagnosis's best strategy, its mean validation accuracy over the cross-validation folds")


def show(summary: protocol.RunSummary, events: list[protocol.RunEvent], as_json: bool) -> None:
    """One run: its summary, then every epoch and the end, as ``tltui train`` printed them."""
    if summary.config is None:
        raise BadInput(summary.reason)
    if as_json:
        print(protocol.encode(summary).decode(), end="")
        return
    print(printable(f"run {summary.run_id}  {summary.status}" + (f": {summary.reason}" if summary.reason else ""),
                    lines=False))
    config = summary.config
    print(f"  created {time.strftime('%Y-%m-%d %H:%M', time.localtime(summary.created))}")
    print(f"  config  data={printable(config.data, lines=False)} model={config.model} weights={config.weights} "
          f"preset={config.preset or '-'} frozen={','.join(config.frozen) or '-'} epochs={config.epochs} "
          f"lr={config.lr:g}{f' ({config.lr_found})' if config.lr_found else ''} lr_decay={config.lr_decay:g} "
          f"image_size={config.image_size}")
    reporter = Reporter(False)
    reporter.epochs = config.epochs
    for event in protocol.current(events):
        if not isinstance(event, Progress):
            reporter(event)


#: Seconds the worker daemon waits with no client and no run before it exits ($TLTUI_WORKER_IDLE_S).
IDLE_EXIT_S = 600.0


def worker(args: argparse.Namespace) -> int:
    if args.daemon:
        from tltui.core.parsing import env_number
        from tltui.worker.daemon import run_daemon

        return asyncio.run(run_daemon(env_number("TLTUI_WORKER_IDLE_S", IDLE_EXIT_S)))
    if not args.stdio:
        raise BadInput("tltui worker: use --stdio (the bridge the UI and CLI start) or --daemon")
    from tltui.worker.bridge import main

    return main()
