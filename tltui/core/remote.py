"""A worker on another machine, through the user's own ssh (their config, agent, jump hosts).

``TLTUI_SSH_COMMAND`` replaces ``ssh`` the way ``GIT_SSH_COMMAND`` does for git. BatchMode keeps ssh
from ever waiting at a password or host-key prompt: it fails with a message instead.
"""

from __future__ import annotations

import os
import shlex

SSH_ENV = "TLTUI_SSH_COMMAND"
CONNECT_TIMEOUT_S = 30
"""ssh gives up on a host that does not answer after this; a far side that answers but never says
hello is given up by the client (client.HELLO_TIMEOUT_S)."""


def worker_command(host: str) -> list[str]:
    """The command that bridges to the worker daemon on ``host`` (``[user@]host``)."""
    ssh = shlex.split(os.environ.get(SSH_ENV) or "ssh")
    return [*ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", host, "tltui", "worker", "--stdio"]


def client(host: str):
    """A client of the worker daemon on ``host``, through ssh."""
    from tltui.core.client import WorkerClient

    return WorkerClient(worker_command(host), host=host)


def follow_hint(run_id: str, host: str | None) -> str:
    """How to pick a run up again from the shell."""
    remote = f" --remote {host}" if host else ""
    return f"follow it again with: tltui runs follow {run_id}{remote}  (cancel: tltui runs cancel {run_id}{remote})"
