"""The error analysis over ``--remote`` (the loopback SSH server and the system ssh): the finished event
carries it, ``tltui runs show --remote`` prints it, and the top-loss pictures come through the same pipe."""

from __future__ import annotations

import json
import subprocess
import sys

from tltui.core import remote
from tltui.core.analysis import wilson
from tltui.core.client import WorkerClient
from tltui.core.protocol.requests import LossPictures


def tltui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True, timeout=300)


async def test_error_analysis_over_ssh(over_ssh):
    result = tltui("train", "builtin", "--model", "tiny", "--limit-per-class", "4", "--epochs", "1", "--no-augment",
                   "--json", "--remote", over_ssh)
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout.splitlines()[-1])
    analysis = finished["analysis"]
    assert finished["event"] == "finished" and analysis["total"] == sum(map(sum, finished["confusion"]))

    shown = tltui("runs", "show", finished["run_id"], "--remote", over_ssh)
    assert shown.returncode == 0, shown.stderr
    low, high = wilson(analysis["correct"], analysis["total"])
    assert f"95% interval {low:.1%} to {high:.1%} (Wilson score)" in shown.stdout
    for i, top in enumerate(analysis["top_losses"], 1):
        assert f"{i}. {top['path']}  {top['true']} -> {top['predicted']}  p {top['probability']:.2f}" in shown.stdout

    client = WorkerClient(remote.worker_command(over_ssh))
    await client.start()
    try:
        reply = await client.request(LossPictures(run_id=finished["run_id"], display=16))
    finally:
        await client.close(timeout=30)
    assert [p.label for p in reply.pictures] == [
        f"{t['true']} → {t['predicted']} {t['probability']:.0%}" for t in analysis["top_losses"]]
    assert all(p.width == p.height == 16 and len(p.rgb) == 16 * 16 * 3 for p in reply.pictures)
