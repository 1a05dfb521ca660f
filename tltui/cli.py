"""Command line: ``tltui`` opens the tutor; subcommands train, list runs and serve the worker.

Nothing here imports torch or Textual at module level: each command imports what it needs.
"""

from __future__ import annotations

import argparse
import sys

from tltui import __version__


class UsageError(Exception):
    """Bad input: one line on stderr, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tltui",
        description="A terminal tutor for transfer learning: lessons with live widgets, "
        "backed by real ResNet-50 fine-tuning in a worker process.",
        epilog="Keys inside the tutor: n/p next/previous lesson, t contents, ? help, q quit.",
    )
    parser.add_argument("--version", action="version", version=f"tltui {__version__}")
    parser.add_argument("--lesson", metavar="N|NAME", help="open at this lesson (number or name)")
    parser.set_defaults(command=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tutor(args)
        return args.command(args)
    except UsageError as error:
        print(f"tltui: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_tutor(args: argparse.Namespace) -> int:
    from tltui.lessons import LessonNotFound, find_lesson, load_lessons

    lessons = load_lessons()
    if not lessons:
        raise UsageError("no lessons found: the installation is incomplete (reinstall tltui)")
    start = None
    if args.lesson is not None:
        try:
            start = find_lesson(lessons, args.lesson)
        except LessonNotFound as error:
            raise UsageError(str(error)) from None

    from tltui.app import TutorApp

    TutorApp(lessons, start=start).run()
    return 0
