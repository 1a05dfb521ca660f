"""``tltui export DATA [train flags]``: the plain PyTorch script of a recipe, or its DDP script and Slurm
batch file (tltui/core/codegen.py, cluster.py), each one that runs as written.

For a generated set (``builtin``, ``builtin-shifted``) the worker writes its images as an ImageFolder beside
the script (``x.py`` reads ``x_data/``), as it does every other engine job: the CLI does not import torch. A
named set is the script's to download (torchvision), which needs internet once. For a timm model the worker
says its preprocessing (timm's data config), which the script writes out.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tltui.cli.flags import config_from_args
from tltui.cli.link import ask
from tltui.core import backbones, codegen, datasets
from tltui.core.backbones import Preprocessing
from tltui.core.errors import BadInput
from tltui.core.presets import PROBE
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.requests import DescribeBackbone, WriteBuiltin


def export(args: argparse.Namespace) -> int:
    if args.lr == "auto":
        raise BadInput("--lr auto needs the LR finder, which export does not run: tltui lr-find DATA, then --lr N")
    config = config_from_args(args)
    problem = codegen.refusal(config)
    if problem:
        raise BadInput(problem)
    pre = _preprocessing(config)
    if args.torchrun or args.slurm:
        return _export_cluster(args, config, pre)
    data = _data(config, args.out, pre)
    _write(args.out, codegen.generate(config, data, pre))
    if args.out:
        print(f"wrote {args.out}: python {args.out} trains it", file=sys.stderr)
    return 0


def _preprocessing(config: RunConfig) -> Preprocessing | None:
    """A timm model's preprocessing at the run's image size, as the worker resolves it; None for the others."""
    if not backbones.is_timm(config.model):
        return None
    return asyncio.run(ask(DescribeBackbone(model=config.model, image_size=config.image_size))).preprocessing


def _export_cluster(args: argparse.Namespace, config: RunConfig, pre: Preprocessing | None) -> int:
    """``--torchrun``: the DDP script; ``--slurm``: the sbatch file (and, with -o, the script beside it)."""
    from tltui.core.cluster import generate_ddp, generate_slurm, torchrun_commands

    if args.nnodes < 1 or args.gpus_per_node < 1:
        raise BadInput("--nnodes and --gpus-per-node must be at least 1")
    if config.preset == PROBE:
        raise BadInput("--preset probe is one fit on features computed once, not a job for several processes: "
                       "export it without --torchrun and --slurm")
    if args.slurm:
        beside = Path(args.out).with_suffix(".py") if args.out else None
        script = beside.name if beside else "finetune_ddp.py"
        data = _data(config, str(beside) if beside else None, pre)
        _write(args.out, generate_slurm(config, args.nnodes, script, args.gpus_per_node, data))
        if beside:
            _write(str(beside), generate_ddp(config, args.nnodes, script, data, pre))
            print(f"wrote {args.out} and {beside}: sbatch {args.out} from that folder runs it on {args.nnodes} "
                  "nodes", file=sys.stderr)
        else:
            print(f"the sbatch file runs {script}: write it with tltui export ... --torchrun -o {script}",
                  file=sys.stderr)
        return 0
    script = Path(args.out).name if args.out else "finetune_ddp.py"
    data = _data(config, args.out, pre)
    _write(args.out, generate_ddp(config, args.nnodes, script, data, pre))
    one, many = torchrun_commands(config, script, args.nnodes, data)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"one host:  {one}\n{args.nnodes} nodes, on each (HEAD: the first node's address):\n  {many}",
          file=sys.stderr)
    return 0


def _data(config: RunConfig, script: str | None, pre: Preprocessing | None = None) -> str:
    """What the script of ``config`` written to ``script`` (None: standard output) reads, said in one line:
    a generated set is written beside it by the worker (``x.py``: ``x_data``), whose name is returned;
    '' for every other kind of data."""
    if config.data in datasets.DOWNLOADED:
        _say(f"{config.data}: the script downloads it into {codegen.data_folder(config)} the first time, "
             "which needs internet", script)
    if config.data not in datasets.BUILTIN:
        return ""
    if not script:
        _say(f"the script reads {config.data} from {codegen.data_folder(config)}/: with -o FILE, tltui export "
             "writes its images beside FILE", script)
        return ""
    folder = Path(script).resolve().with_suffix("")
    folder = folder.with_name(folder.name + "_data")
    request = WriteBuiltin(data=config.data, folder=str(folder), image_size=codegen.image_size(config, pre),
                           seed=config.seed, val_fraction=config.val_fraction)
    written = asyncio.run(ask(request))
    _say(f"{config.data}: {written.n_train} training and {written.n_val} validation images ({written.side} px, "
         f"seed {config.seed}) written to {written.folder}, where the script's DATA points", script)
    return folder.name


def _say(line: str, script: str | None) -> None:
    """A line on standard output, or on standard error where the script itself goes to standard output."""
    print(line, file=sys.stdout if script else sys.stderr)


def _write(out: str | None, text: str) -> None:
    """``text`` to the file ``out``, or to standard output; BadInput if it cannot be written."""
    if not out:
        sys.stdout.write(text)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot write {out}: {error.strerror}") from None
