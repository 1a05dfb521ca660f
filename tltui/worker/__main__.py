"""``python -m tltui.worker``: the worker daemon, serving on its private socket until it is idle.

The bridge (``tltui worker --stdio``) starts it when none answers, and ``tltui worker --daemon`` hands its
process over to it: the daemon imports the engine (torch), which the CLI never imports, not even through
another module (the contract in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import sys

from tltui.core.errors import BadInput
from tltui.core.parsing import env_number
from tltui.worker.daemon import run_daemon

IDLE_EXIT_S = 600.0
"""Seconds the daemon waits with no client and no run before it exits ($TLTUI_WORKER_IDLE_S)."""


def main() -> int:
    try:
        idle_exit_s = env_number("TLTUI_WORKER_IDLE_S", IDLE_EXIT_S)
    except BadInput as error:
        print(f"tltui worker: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_daemon(idle_exit_s))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
