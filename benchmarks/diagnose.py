"""``tltui diagnose`` against the same strategies run one by one with ``tltui train``: the same work, timed.

Diagnose runs k-NN and the three presets (and from scratch, when the budget allows) on every fold, each
preset as ``tltui train --preset`` trains it. The same work by hand is one ``tltui train`` per strategy and
fold, each on a training split of the fold's size with the epochs diagnose planned: ``--preset
feature-extraction``, ``head-then-unfreeze`` and ``fine-tune-all`` (k-NN has no command), and the default
recipe with ``--weights none`` (scratch) if diagnose ran it. All go through the same warm worker daemon.
``tltui train`` validates on its own held-out split (``builtin``: 24 images per class), so it predicts
more images than a fold holds; that costs it little next to training.

Where the time goes differs: diagnose loads and decodes the data once and runs the frozen backbone once
over every image for k-NN; its runs are the engine's own Trainer on the fold's images in memory, writing
no checkpoint. The runs one by one each load, split and decode anew, write checkpoints, and each
``tltui train`` is a client process of its own.

Measured on this 2-core CPU (shared, load average about 9), 200 images in 10 classes, tiny backbone,
before diagnose trained the presets (its own AdamW loop, one validation at the end): diagnose 86.4 s end to
end (5 folds, 30 epochs, all five strategies), the same 20 runs one by one 176.2 s: 2.04x. Not measured
again since.

Run: ``python benchmarks/diagnose.py`` (builtin, 20 per class: 200 images in 10 classes, the tiny
backbone; about 4 minutes on 2 CPU cores). ``--data``, ``--per-class``, ``--model``, ``--budget`` change it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

TLTUI = [sys.executable, "-m", "tltui"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, list[dict]]:
    clock = time.perf_counter()
    result = subprocess.run([*TLTUI, *args, "--json"], capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - clock
    if result.returncode:
        raise SystemExit(f"tltui {' '.join(args)} failed: {result.stderr or result.stdout[-500:]}")
    return seconds, [json.loads(line) for line in result.stdout.splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="builtin")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--budget", default="5m")
    args = parser.parse_args()
    data_dir = tempfile.TemporaryDirectory(prefix="tltui-bench-", ignore_cleanup_errors=True)  # gone at the end
    env = {**os.environ, "TLTUI_DATA_DIR": data_dir.name, "TLTUI_WORKER_IDLE_S": "120"}

    timed(["runs", "list"], env)  # nothing to time: the first command below then finds no daemon either way
    warm, _ = timed(["diagnose", args.data, "--model", args.model, "--limit-per-class", "2", "--budget", "10s"], env)
    print(f"warm-up (starts the worker daemon, imports torch): {warm:.1f} s")

    diag_s, events = timed(["diagnose", args.data, "--model", args.model, "--limit-per-class", str(args.per_class),
                            "--budget", args.budget], env)
    final = events[-1]
    plan = next(e["message"] for e in events if e["event"] == "note" and e["message"].startswith("plan:"))
    folds, epochs = (int(x) for x in re.match(r"plan: (\d+) of \d+ folds, (\d+) epochs", plan).groups())
    started = events[0]
    train_per_class = round(args.per_class * (folds - 1) / folds) if folds > 2 else args.per_class // 2
    print(f"diagnose: {started['n_train']} images, {plan}")
    print(f"  {diag_s:.1f} s end to end; " + ", ".join(f"{k} {v['acc']:.0%}" for k, v in final["results"].items())
          + f"; quadrant {final['quadrant']}, {final['recommend']}")

    common = [args.data, "--model", args.model, "--limit-per-class", str(train_per_class), "--epochs", str(epochs)]
    runs = {name: ["--preset", name] for name in ("feature-extraction", "head-then-unfreeze", "fine-tune-all")}
    runs["scratch"] = ["--weights", "none"]
    if "scratch" not in final["results"]:
        del runs["scratch"]
    by_hand = 0.0
    for name, flags in runs.items():
        spent = 0.0
        for fold in range(folds):
            seconds, _ = timed(["train", *common, *flags, "--seed", str(fold)], env)
            spent += seconds
        by_hand += spent
        print(f"  tltui train, {name}: {folds} runs of {train_per_class} per class, {spent:.1f} s")
    print(f"one by one with tltui train: {by_hand:.1f} s for {len(runs) * folds} runs (k-NN not counted)")
    print(f"diagnose: {diag_s:.1f} s; ratio (one by one / diagnose): {by_hand / diag_s:.2f}x")


if __name__ == "__main__":
    main()
