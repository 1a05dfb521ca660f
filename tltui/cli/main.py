"""Command line: ``tltui`` opens the tutor; subcommands train, list runs, export a recipe as a script and
serve the worker.

Nothing here imports torch or Textual at module level: each command imports what it needs.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from tltui import __version__
from tltui.core.errors import BadInput
from tltui.core.files import UnsafePath

#: Milliseconds from an escape byte to a lone esc key when $ESCDELAY is unset (Textual's own default is 100).
#: A terminal sends a key's escape sequence whole, so the wait only has to outlast a network's jitter between
#: bytes of one write; Neovim waits 50 ms ('ttimeoutlen') and tmux 3.5 10 ms ('escape-time').
ESCAPE_DELAY_MS = 50

#: Subcommands; their arguments (and imports) are built only when one of them is used.
COMMANDS = ("train", "diagnose", "lr-find", "runs", "export", "keys", "worker", "pretrain-tiny")


def build_parser(full: bool = True) -> argparse.ArgumentParser:
    """The parser; with ``full`` False the subcommands are listed but their options not built."""
    parser = argparse.ArgumentParser(
        prog="tltui",
        description="A terminal tutor for transfer learning: lessons with live widgets, "
        "backed by real ResNet-50 fine-tuning in a worker process.",
        epilog="Keys inside the tutor: n/p next/previous lesson, t contents, ? help, q quit.",
    )
    parser.add_argument("--version", action="version", version=f"tltui {__version__}")
    parser.add_argument("--lesson", metavar="N|NAME", help="open at this lesson (number or name)")
    parser.add_argument("--remote", metavar="[USER@]HOST",
                        help="run the worker on HOST through your ssh (its GPU trains; nothing listens on a port)")
    parser.add_argument("--worker-cmd", metavar="CMD",
                        help="command that starts the worker, e.g. 'ssh gpu-box tltui worker --stdio' "
                        "(default: $TLTUI_WORKER_CMD, else a local worker)")
    parser.set_defaults(command=None)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    train = sub.add_parser("train", help="fine-tune ResNet-50 headless, with live progress",
                           description="Fine-tune a pretrained backbone (ResNet-50 unless --model says) on DATA "
                           "through a worker process.")
    if full:
        from tltui.cli.flags import add_train_arguments

        add_train_arguments(train)
    train.set_defaults(command=_headless("train"))

    diagnose = sub.add_parser("diagnose", help="measure k-NN and the presets on your data: its quadrant and the "
                              "tltui train command to start from",
                              description="Measure on repeated splits of DATA (train/ alone when it has train/ and "
                              "val/), in a time budget: k-NN and a linear probe (L2 by cross-validation) on frozen "
                              "features, then feature-extraction, "
                              "head-then-unfreeze and fine-tune-all, each as tltui train trains the preset, and from "
                              "scratch; each with a 95% interval, then the quadrant of the 2x2 and the tltui train "
                              "command that trains the recommended preset as measured (scored on val/ when there is "
                              "one).")
    if full:
        from tltui.cli.diagnose import add_arguments

        add_arguments(diagnose)
    diagnose.set_defaults(command=_diagnose)
    lr_find = sub.add_parser("lr-find", help="the LR range test: loss against a growing LR, and an LR to start from",
                             description="Smith's LR range test (2017) on DATA with the run the flags of train "
                             "describe: the head's LR grows exponentially over about 100 batches (frozen groups stay "
                             "frozen, lower groups keep their ratio), the smoothed loss is drawn against it and an LR "
                             "is suggested (the steepest descent; fastai's valley beside it). Nothing is stored; the "
                             "model is dropped after.")
    if full:
        from tltui.cli.flags import add_train_arguments
        from tltui.cli.lr_find import add_arguments

        add_train_arguments(lr_find)
        add_arguments(lr_find)
    lr_find.set_defaults(command=_lr_find)

    runs = sub.add_parser("runs", help="list runs; show, follow, resume or cancel one",
                          description="The runs in a run store: this machine's, or a host's with --remote.")
    runs.add_argument("action", nargs="?", choices=["list", "show", "follow", "resume", "cancel"], default="list")
    runs.add_argument("run_id", nargs="?", metavar="ID", help="a run id (a unique prefix is enough)")
    runs.add_argument("--json", action="store_true", help="JSON lines (follow, resume: its events)")
    runs.add_argument("--remote", metavar="[USER@]HOST", help="the runs of the worker on HOST, through ssh")
    runs.set_defaults(command=_headless("runs"))

    export = sub.add_parser("export", help="write the plain PyTorch script of a recipe (the flags of train)",
                            description="The plain PyTorch script that trains as `tltui train` would with the same "
                            "flags: data loading, frozen groups, optimizer, schedule, checkpoints. Needs no tltui "
                            "to run.")
    if full:
        from tltui.cli.flags import add_train_arguments

        add_train_arguments(export)
        export.add_argument("-o", "--out", metavar="FILE", help="write the script here (default: standard output)")
        export.add_argument("--torchrun", action="store_true",
                            help="a DDP script for torchrun (several GPUs, several nodes); the commands to run it "
                            "are at its top and printed")
        export.add_argument("--slurm", action="store_true",
                            help="an sbatch file that runs the DDP script on --nnodes nodes; with -o FILE the "
                            "script is written next to it, as FILE with .py")
        export.add_argument("--nnodes", type=int, default=2, metavar="N",
                            help="nodes for the torchrun and sbatch commands (default 2)")
        export.add_argument("--gpus-per-node", type=int, default=8, metavar="N",
                            help="GPUs per node in the sbatch file when --nproc is not given (default 8)")
    export.set_defaults(command=_export)

    worker = sub.add_parser("worker", help="serve the worker protocol (started by tltui itself)")
    worker.add_argument("--stdio", action="store_true",
                        help="speak the protocol on stdin/stdout, through this user's worker daemon")
    worker.add_argument("--daemon", action="store_true",
                        help="run the daemon itself (the --stdio bridge starts it when needed)")
    worker.set_defaults(command=_headless("worker"))

    keys = sub.add_parser("keys", help="every key of the tutor, its id and what it does; the keymap file's path",
                          description="Every key binding of the tutor, by id. To change one, write the id and "
                          "its new keys in the keymap file printed first, e.g. \"TrainScreen.start\" = \"ctrl+r\".")
    keys.set_defaults(command=_keys)

    pretrain = sub.add_parser("pretrain-tiny", help="pretrain the tiny backbone on generated fractals (minutes)",
                              description="Pretrain the tiny backbone as its shipped weights were made, from "
                              "their seed; a flag changes the recipe.")
    if full:
        pretrain.add_argument("--out", default="tiny.pt", metavar="PATH",
                              help="state_dict to write (default ./tiny.pt)")
        for flag in ("seed", "classes", "per-class", "epochs"):
            pretrain.add_argument(f"--{flag}", type=int, metavar="N", help="default: the shipped recipe's")
    pretrain.set_defaults(command=_pretrain_tiny)
    parser.set_defaults(parsers=sub.choices)
    return parser


def _pretrain_tiny(args: argparse.Namespace) -> NoReturn:
    """Check the flags and ``--out``, before minutes of work; then this process becomes the pretraining,
    ``python -m tltui.engine.pretrain OUT CHANGES``, which imports torch (the CLI never does)."""
    import json

    changes = {k: getattr(args, k) for k in ("seed", "classes", "per_class", "epochs") if getattr(args, k) is not None}
    if any(v < (0 if k == "seed" else 1) for k, v in changes.items()):
        raise BadInput("--classes, --per-class and --epochs must be at least 1, --seed at least 0")
    _check_writable(Path(args.out))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "tltui.engine.pretrain", args.out, json.dumps(changes)])


def _check_writable(out: Path) -> None:
    """BadInput unless a file can be written at ``out``: not a folder, in a folder that takes a new file (a
    pseudo-filesystem such as /proc does not)."""
    import tempfile

    try:
        if out.is_dir():
            raise BadInput(f"--out {out} is a folder: name the file to write, e.g. {out / 'tiny.pt'}")
        fd, probe = tempfile.mkstemp(dir=out.parent or ".", prefix=f".{out.name[:100]}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise BadInput(f"cannot write --out {str(out)[:200]}: {error.strerror}") from None


def _keys(args: argparse.Namespace) -> int:
    from tltui.ui.keys import describe, keymap_path

    lines, problems = describe()
    print("\n".join(lines))
    for problem in problems:
        print(f"tltui: {keymap_path()}: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _diagnose(args: argparse.Namespace) -> int:
    from tltui.cli.diagnose import diagnose

    return diagnose(args)


def _lr_find(args: argparse.Namespace) -> int:
    from tltui.cli.lr_find import lr_find

    if args.lr == "auto":
        raise BadInput("tltui lr-find sweeps the LR itself: leave out --lr auto (a number sets the groups' ratios)")
    return lr_find(args)


def _export(args: argparse.Namespace) -> int:
    from tltui.cli.export import export

    return export(args)


def _headless(name: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from tltui.cli import commands

        if name == "runs" and args.action != "list" and not args.run_id:
            raise BadInput(f"tltui runs {args.action} needs a run ID (tltui runs lists them)")
        return getattr(commands, name)(args)

    return command


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(full=bool(argv) and argv[0] in COMMANDS)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # told by the command's own parser, with its usage, not the top level's
        command = argv[0] if argv and argv[0] in COMMANDS else ""
        args.parsers.get(command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if sys.stdout is None:  # started with >&-
        print("tltui: the standard output is closed: give it a file, or /dev/null", file=sys.stderr)
        return 2
    try:
        if args.command is None:
            return run_tutor(args)
        code = args.command(args)
        sys.stdout.flush()  # a full disk (>/dev/full) is told here, not in a traceback at exit
        return code
    except (BadInput, UnsafePath) as error:
        from tltui.core.formatting import printable

        print(f"tltui: {printable(str(error), lines=False)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`tltui runs show ID | head`): stop quietly, as a tool killed by SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as error:
        if not _stdout_fails(error):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left unwritten goes nowhere
        print(f"tltui: cannot write the standard output: {error.strerror or error}", file=sys.stderr)
        return 1


def _stdout_fails(error: OSError) -> bool:
    """True if ``error`` is the standard output's: what waits for it cannot be written, or a write with no
    file named failed as writes to a full disk or a broken device do."""
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return error.filename is None and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def run_tutor(args: argparse.Namespace) -> NoReturn:
    gc.disable()  # until the first lesson is painted (ui.collector.calm): 20 ms of collections before it
    from tltui.ui.lessons import LessonNotFound, find_lesson, load_lessons

    lessons = load_lessons()
    if not lessons:
        raise BadInput("no lessons found: the installation is incomplete (reinstall tltui)")
    start = None
    if args.lesson is not None:
        try:
            start = find_lesson(lessons, args.lesson)
        except LessonNotFound as error:
            raise BadInput(str(error)) from None

    os.environ.setdefault("ESCDELAY", str(ESCAPE_DELAY_MS))  # read when Textual is first imported, just below
    from tltui.core.remote import split_command, worker_command
    from tltui.ui.app import WORKER_CMD_ENV, TutorApp

    command: list[str] | None
    if args.remote:
        command = worker_command(args.remote)
    else:
        split_command(os.environ.get(WORKER_CMD_ENV, ""), f"${WORKER_CMD_ENV}")
        command = split_command(args.worker_cmd or "", "--worker-cmd") or None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput("the tutor needs a terminal on its standard input and output; for scripts use tltui train, "
                       "tltui runs, tltui export")
    app = TutorApp(lessons, start=start, worker_command=command, remote=args.remote)
    app.run()
    if app.crash is not None:
        from tltui.ui.crash import one_line

        print(one_line(app.crash, app.crash_log), file=sys.stderr)
        _leave(1)
    from tltui.core.remote import follow_hint

    for run_id in app.running_at_exit:
        print(f"Run {run_id} goes on in the worker; {follow_hint(run_id, args.remote)}")
    _leave(app.return_code or 0)


def _leave(code: int) -> NoReturn:
    """Exit at once, without the interpreter's teardown of the tutor's heap: freeing it took 0.25 s after a
    fresh start and over a second after a long session (benchmarks/soak.py) before the shell came back.
    The app has closed, the progress is saved and the worker let go; what was printed is flushed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
