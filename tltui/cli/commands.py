"""Headless commands: ``tltui train``, ``tltui runs``, ``tltui worker``.

Training goes through a worker process, exactly as the UI does, so the CLI never imports torch
itself. Exit codes: 0 done, 1 the run failed or was cancelled, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from tltui.cli.flags import config_from_args
from tltui.cli.link import follow_run, new_client
from tltui.core import analysis, diagnosis, remote
from tltui.core.errors import BadInput
from tltui.core.formatting import bar, duration, head_fitted, printable
from tltui.core.protocol import codec
from tltui.core.protocol.events import (
    Cancelled,
    Diagnosis,
    Epoch,
    Failed,
    Finished,
    HeadFitted,
    Measured,
    Note,
    Progress,
    RunEvent,
    Started,
    Unfrozen,
    current,
)
from tltui.core.protocol.replies import RunSummary
from tltui.core.protocol.requests import CancelRun, GetEvents, ListRuns, ResumeRun, StartRun


class Reporter:
    """Prints a run's events: JSON lines, a live progress line on a terminal, or a line per epoch."""

    def __init__(self, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.out = out
        self.live = out.isatty() and not as_json
        self.epochs = 0

    def __call__(self, event: RunEvent) -> None:
        if self.as_json:
            self.out.write(codec.encode(event).decode())
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
        if isinstance(event, (Measured, Diagnosis)):
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
                + (", deterministic" if event.deterministic else "")
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
        elif isinstance(event, HeadFitted):
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
        elif isinstance(event, Cancelled):
            self._line(f"cancelled after epoch {event.epoch}; last checkpoint kept in {event.run_dir}")

    def _line(self, text: str) -> None:
        self.out.write(printable(text) + "\n")  # a class or file name cannot send the terminal a sequence
        self.out.flush()

    def _status(self, text: str) -> None:
        if self.live:
            self.out.write("\r\x1b[2K" + printable(text[:200], lines=False))
            self.out.flush()


def train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    for caveat in config.caveats():
        print(f"tltui: warning: {caveat}", file=sys.stderr)
    if args.lr == "auto":
        from tltui.cli.lr_find import with_found_lr

        config = with_found_lr(config, args.remote, args.json)
    return asyncio.run(follow_run(StartRun(config=config), Reporter(args.json), args.remote))


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
    request = ResumeRun(run_id=run_id) if action == "resume" else \
        GetEvents(run_id=run_id, after_seq=0, follow=True)
    return asyncio.run(follow_run(request, Reporter(args.json), args.remote))


async def _cancel(run_id: str, host: str | None) -> int:
    from tltui.core.client import WorkerError

    client = new_client(host)
    try:
        await client.start()
        run_id = (await client.request(CancelRun(run_id=run_id))).run_id
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
        summaries = await client.request(ListRuns())
        if args.action == "list":
            _list(summaries, args.json, f"no runs yet on {args.remote}")
            return 0
        replayed = await client.request(GetEvents(run_id=args.run_id, after_seq=0))
        events = [e for e in (client.events.get_nowait() for _ in range(replayed.replayed)) if e is not None]
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        await client.close(timeout=10)
    (summary,) = [s for s in summaries if s.run_id == replayed.run_id]
    show(summary, events, args.json)
    return 0


def _list(summaries: list[RunSummary], as_json: bool, empty: str) -> None:
    if as_json:
        for summary in summaries:
            print(codec.encode(summary).decode(), end="")
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


def show(summary: RunSummary, events: list[RunEvent], as_json: bool) -> None:
    """One run: its summary, then every epoch and the end, as ``tltui train`` printed them."""
    if summary.config is None:
        raise BadInput(summary.reason)
    if as_json:
        print(codec.encode(summary).decode(), end="")
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
    for event in current(events):
        if not isinstance(event, Progress):
            reporter(event)


def worker(args: argparse.Namespace) -> int:
    """``--stdio``: the bridge to this user's daemon (torch-free, so it runs here). ``--daemon``: this process
    becomes the daemon, ``python -m tltui.worker``, which imports the engine; the CLI never does."""
    if args.daemon:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "tltui.worker"])
    if not args.stdio:
        raise BadInput("tltui worker: use --stdio (the bridge the UI and CLI start) or --daemon")
    from tltui.worker.bridge import main

    return main()
