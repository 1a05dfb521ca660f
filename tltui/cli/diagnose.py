"""``tltui diagnose DATA``: measure the strategies on the learner's data and say where it stands.

The worker runs it (engine/diagnose.py) as a run in its store, queued like any run, so it outlives the
connection and ``tltui runs follow ID`` picks it up again; this prints its events.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from tltui.cli.commands import Reporter
from tltui.cli.link import follow_run
from tltui.core import datasets, diagnosis
from tltui.core.errors import BadInput
from tltui.core.parsing import parse_setting
from tltui.core.protocol.config import MAX_FILES, ConfigError, RunConfig
from tltui.core.protocol.events import RunEvent, Started
from tltui.core.protocol.requests import StartDiagnosis


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = RunConfig()
    parser.add_argument("data", metavar="DATA", help=f"a folder (ImageFolder) or one of: {', '.join(datasets.NAMES)}")
    parser.add_argument("--model", help=f"the backbone: resnet50, tiny or timm:NAME (default {d.model})")
    parser.add_argument("--weights", help=f"its pretrained weights, a state_dict or a run dir (default {d.weights})")
    parser.add_argument("--budget", default="", metavar="TIME",
                        help="time to spend, e.g. 90s, 5m: trims folds and epochs, and says what it trimmed "
                        "(default: 2m for tiny, 5m for resnet50 on a GPU, 10m on a CPU)")
    parser.add_argument("--limit-per-class", type=int, metavar="N", help="use at most N images per class")
    parser.add_argument("--image-size", type=int, metavar="PX",
                        help="default 224 on a GPU, 64 on the CPU, 32 for tiny, a timm model's own")
    parser.add_argument("--seed", type=int, metavar="N", help="folds, order and init (default 0)")
    parser.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu (default auto)")
    parser.add_argument("--max-files", type=int, metavar="N",
                        help=f"walk a data folder of up to N files and folders (default {MAX_FILES:,})")
    parser.add_argument("--json", action="store_true",
                        help="JSON lines, the last a diagnosis event: results, quadrant, recommend, because, command, "
                        "held_out")
    parser.add_argument("--remote", metavar="[USER@]HOST", help="diagnose on HOST's worker through your ssh")


def request_from_args(args: argparse.Namespace) -> StartDiagnosis:
    """The request the flags describe; BadInput with one line if they cannot work."""
    fields = {name: getattr(args, name) for name in ("model", "weights", "limit_per_class", "image_size", "seed",
                                                      "device", "max_files") if getattr(args, name) is not None}
    try:
        budget = diagnosis.parse_budget(args.budget) if args.budget else 0.0
        config = RunConfig(data=parse_setting("data", args.data), augment=(), **fields)
        config.check()
    except (ConfigError, ValueError) as error:
        raise BadInput(str(error)) from None
    return StartDiagnosis(config=config, budget_s=budget)


class DiagnoseReporter:
    """Prints a diagnose run's events: JSON lines, or a line per measurement and the verdict."""

    def __init__(self, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.plain = Reporter(as_json, out)
        self.out = out

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, Started) and not self.plain.as_json:
            self.out.write(f"diagnose {event.run_id}: {event.model} ({event.weights}) on {event.device_name}, "
                           f"{len(event.classes)} classes, {event.n_train} images at {event.config.image_size}px\n")
            self.out.flush()
        else:
            self.plain(event)


def diagnose(args: argparse.Namespace) -> int:
    return asyncio.run(follow_run(request_from_args(args), DiagnoseReporter(args.json), args.remote))
