"""``tltui lr-find DATA``: the LR range test through the worker, drawn in the terminal; and ``--lr auto``.

The sweep runs in the worker (tltui/engine/lr_find.py) as a short job: one FindLr request, its progress
as ``Working`` messages, its LrFound reply. ``--json`` prints the reply as one ``lr_find`` event.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

import msgspec

from tltui.cli.flags import config_from_args
from tltui.cli.link import ask
from tltui.core.protocol import codec
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.messages import Working
from tltui.core.protocol.replies import LrFound
from tltui.core.protocol.requests import FindLr

RULES = {
    "valley": "half way down the longest stretch where the loss keeps falling (fastai's default)",
    "steepest": "where the smoothed loss falls fastest",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's own flags (the run's come from ``add_train_arguments``)."""
    parser.add_argument("--steps", type=int, default=100, help="batches in the sweep (default 100)")
    parser.add_argument("--start-lr", type=float, default=1e-7, help="the head's LR at the first step (default 1e-7)")
    parser.add_argument("--end-lr", type=float, default=10.0, help="the head's LR at the last step (default 10)")


async def find(request: FindLr, host: str | None, live: bool) -> LrFound:
    """The worker's answer to ``request`` (here, or on ``host``); with ``live``, a progress line on stderr."""
    from tltui.core.formatting import bar

    def show(working: Working) -> None:
        sys.stderr.write(f"\r\x1b[2Klr-find {bar(working.done / max(working.total, 1))} "
                         f"{working.done}/{working.total}  {working.text}")
        sys.stderr.flush()

    try:
        return await ask(request, host, show if live else None)
    finally:
        if live:
            sys.stderr.write("\r\x1b[2K")


def chart(found: LrFound, width: int = 78, height: int = 20) -> str:
    """The smoothed loss against the LR (log scale), the suggestion marked, as text."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    xs = [math.log10(lr) for lr, _ in found.curve]
    plt.plot(xs, [loss for _, loss in found.curve], marker="braille", label="smoothed loss")
    mark = math.log10(found.suggested_lr)
    plt.vline(mark)
    plt.text(f"{found.rule} {found.suggested_lr:.1e}", x=mark, y=max(loss for _, loss in found.curve))
    ticks = range(math.floor(min(xs)), math.ceil(max(xs)) + 1)
    plt.xticks(list(ticks), [f"1e{t}" for t in ticks])
    plt.xlabel("learning rate of the head (log scale)")
    plt.title("LR range test: training loss while the LR grows")
    return plt.uncolorize(plt.build())


def summary(found: LrFound) -> list[str]:
    """What the sweep found, in lines for the terminal."""
    config = found.config
    lines = [f"suggested LR {found.suggested_lr:.2e} ({found.rule}: {RULES[found.rule]}); "
             f"valley at {found.valley_lr:.2e}",
             f"swept {len(found.curve)} steps on {config.model}, {config.optimizer}, trainable "
             f"{', '.join(config.trainable_at(1))} in {found.seconds:.1f} s"
             + (f"; stopped early: {found.stopped}" if found.stopped else "")]
    lines += [f"note: {note}" for note in found.notes]
    lines += [f"warning: {warning}" for warning in found.warnings]
    return lines


def lr_find(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    request = FindLr(config=config, steps=args.steps, start_lr=args.start_lr, end_lr=args.end_lr)
    found = asyncio.run(find(request, args.remote, sys.stderr.isatty() and not args.json))
    if args.json:
        print(codec.encode(found).decode(), end="")
        return 0
    print(chart(found))
    print("\n".join(summary(found)))
    print(f"train with it: the same flags with tltui train and --lr {found.suggested_lr:.2g}, or --lr auto")
    return 0


def with_found_lr(config: RunConfig, host: str | None, as_json: bool) -> RunConfig:
    """``tltui train --lr auto``: the finder on ``config``, then ``config`` at its suggestion, recorded."""
    found = asyncio.run(find(FindLr(config=config), host, sys.stderr.isatty() and not as_json))
    if as_json:
        print(codec.encode(found).decode(), end="", flush=True)
    else:
        print("\n".join(line for line in summary(found) if not line.startswith(("swept", "note"))), file=sys.stderr)
    return msgspec.structs.replace(config, lr=found.suggested_lr,
                                   lr_found=f"{found.rule} of a {len(found.curve)}-step LR range test")
