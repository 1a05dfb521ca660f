"""A worker on another machine, through the user's own ssh (their config, agent, jump hosts).

``TLTUI_SSH_COMMAND`` replaces ``ssh`` the way ``GIT_SSH_COMMAND`` does for git. BatchMode keeps ssh
from ever waiting at a password or host-key prompt: it fails with a message instead.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tltui.core.client import WorkerClient

SSH_ENV = "TLTUI_SSH_COMMAND"
CONNECT_TIMEOUT_S = 30
"""ssh gives up on a host that does not answer after this; a far side that answers but never says
hello is given up by the client (client.HELLO_TIMEOUT_S)."""


def worker_command(host: str) -> list[str]:
    """The command that bridges to the worker daemon on ``host`` (``[user@]host``); BadInput for a host that
    ssh would read as an option (``-oProxyCommand=...`` runs a command here) or a ``$TLTUI_SSH_COMMAND``
    that does not split into words."""
    from tltui.core.errors import BadInput

    if not host or host.startswith("-") or any(c.isspace() or not c.isprintable() for c in host):
        raise BadInput(f"--remote {host[:80]!r} is not a [USER@]HOST")
    ssh = split_command(os.environ.get(SSH_ENV) or "ssh", f"${SSH_ENV}")
    return [*ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "--", host,
            "tltui", "worker", "--stdio"]


def split_command(text: str, what: str) -> list[str]:
    """``text`` split into words as a shell would; BadInput naming ``what`` if it cannot be (a quote left open)."""
    from tltui.core.errors import BadInput

    try:
        return shlex.split(text)
    except ValueError as error:
        raise BadInput(f"{what} {text[:200]!r}: {error} (quote it as a shell would)") from None


def client(host: str) -> WorkerClient:
    """A client of the worker daemon on ``host``, through ssh."""
    from tltui.core.client import WorkerClient

    return WorkerClient(worker_command(host), host=host)


def follow_hint(run_id: str, host: str | None) -> str:
    """How to pick a run up again from the shell."""
    remote = f" --remote {host}" if host else ""
    return f"follow it again with: tltui runs follow {run_id}{remote}  (cancel: tltui runs cancel {run_id}{remote})"
