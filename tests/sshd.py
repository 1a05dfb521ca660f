"""A real SSH server on loopback for tests (asyncssh, throwaway host and user keys), reached with the
system's own ``ssh`` client. Each session runs its command in a shell, as sshd would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

import asyncssh

USER = "tester"
_children: set[asyncio.subprocess.Process] = set()
"""Commands still running; the server kills them when it closes, before its loop does."""


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True  # public-key auth (against the authorized key) is required

    def public_key_auth_supported(self) -> bool:
        return True


async def _run_command(process: asyncssh.SSHServerProcess) -> None:
    """Run the command in a shell; copy the channel to its stdin and its stdout and stderr, both to
    the end, to the channel; then exit with its code (as sshd does: no output is lost to a race)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    child = await asyncio.create_subprocess_shell(
        process.command or "true", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True,
    )
    _children.add(child)

    async def feed() -> None:
        try:
            while data := await process.stdin.read(65536):
                child.stdin.write(data)
                await child.stdin.drain()
            child.stdin.close()
        except (OSError, asyncssh.Error):
            pass  # the command exited, or the client went away

    async def drain(source: asyncio.StreamReader, sink: asyncssh.SSHWriter) -> None:
        while data := await source.read(65536):
            try:
                sink.write(data)
            except (OSError, asyncssh.Error):
                return

    feeding = asyncio.create_task(feed())
    await asyncio.gather(drain(child.stdout, process.stdout), drain(child.stderr, process.stderr))
    code = await child.wait()
    _children.discard(child)
    feeding.cancel()
    try:
        process.exit(code)
    except (OSError, asyncssh.Error):
        pass  # the client is gone


class SSHServer:
    """Runs in its own thread and event loop; ``ssh_command`` is a TLTUI_SSH_COMMAND that reaches it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        user_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_file = directory / "id_ed25519"
        user_key.write_private_key(self.key_file)
        self.key_file.chmod(0o600)
        self._host_key = host_key
        self._authorized = asyncssh.import_authorized_keys(user_key.export_public_key().decode())
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._serve, name="sshd", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._acceptor = await asyncssh.create_server(
                _Server, "127.0.0.1", 0, server_host_keys=[self._host_key],
                authorized_client_keys=self._authorized, process_factory=_run_command, encoding=None,
            )
            self.port = self._acceptor.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    @property
    def host(self) -> str:
        return f"{USER}@127.0.0.1"

    @property
    def ssh_command(self) -> str:
        return shlex.join([
            "ssh", "-p", str(self.port), "-i", str(self.key_file), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
        ])

    def close(self) -> None:
        async def stop() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            for child in list(_children):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # the shell and what it started
                await child.wait()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
