"""A worker on another machine, through the user's own ssh (their config, agent, jump hosts).

``TLTUI_SSH_COMMAND`` replaces ``ssh`` the way ``GIT_SSH_COMMAND`` does for git. BatchMode keeps ssh
from ever waiting at a password or host-key prompt: it fails with a message instead.
"""

from __future__ import annotations

import os
import shlex

SSH_ENV = "TLTUI_SSH_COMMAND"


def worker_command(host: str) -> list[str]:
    """The command that bridges to the worker daemon on ``host`` (``[user@]host``)."""
    ssh = shlex.split(os.environ.get(SSH_ENV) or "ssh")
    return [*ssh, "-o", "BatchMode=yes", host, "tltui", "worker", "--stdio"]


def follow_hint(run_id: str, host: str | None) -> str:
    """How to pick a run up again from the shell."""
    remote = f" --remote {host}" if host else ""
    return f"follow it again with: tltui runs follow {run_id}{remote}  (cancel: tltui runs cancel {run_id}{remote})"
