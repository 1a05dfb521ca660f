"""The source set and the pretraining that made the tiny backbone's weights, on a shortened recipe."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from tltui.engine import fractals, pretrain, tiny

SHORT = pretrain.Recipe(classes=4, per_class=24, epochs=2, batch_size=16, held_out_per_class=5)


def test_fractal_classes_and_images_are_the_same_bytes_for_the_same_seed():
    a = fractals.systems(6, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, fractals.systems(6, seed=1), strict=True))
    assert not np.array_equal(a[0], fractals.systems(6, seed=2)[0])
    images, labels = fractals.render(32, 1, 6, 3, ifs=a)
    assert images.shape == (18, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [c for c in range(6) for _ in range(3)]
    assert images.tobytes() == fractals.render(32, 1, 6, 3)[0].tobytes()
    # Another stream (the next epoch, or the held-out batch): the same classes, other instances.
    assert images.tobytes() != fractals.render(32, 1, 6, 3, stream=1, ifs=a)[0].tobytes()
    assert images.tobytes() != fractals.render(32, 1, 6, 3, stream=fractals.HELD_OUT, ifs=a)[0].tobytes()


def test_every_class_is_contractive_and_covers_enough_of_the_canvas():
    a, b, p = fractals.systems(20, seed=0)
    used = p > 0
    assert used.sum(1).min() >= 2 and used.sum(1).max() <= fractals.MAX_MAPS
    assert np.allclose(p.sum(1), 1)
    assert np.linalg.norm(a, ord=2, axis=(-2, -1))[used].max() <= fractals.MAX_GAIN + 1e-9
    points, _ = fractals._chaos(a, b, p, np.random.default_rng(0))
    assert (fractals._cover(fractals._normalise(points)) >= fractals.MIN_COVER).all()


def test_a_shortened_recipe_trains_end_to_end_and_twice_gives_the_same_weights(tmp_path):
    lines: list[str] = []
    first = pretrain.pretrain(SHORT, tmp_path / "a.pt", lines.append)
    second = pretrain.pretrain(SHORT, tmp_path / "b.pt", lambda line: None)
    assert len(lines) == SHORT.epochs and lines[-1].startswith(f"epoch {SHORT.epochs}/{SHORT.epochs}")
    assert 0 <= first.accuracy <= 1 and first.seconds < 30
    assert first.fingerprint == second.fingerprint
    state = torch.load(tmp_path / "a.pt", weights_only=True)
    assert pretrain.fingerprint(state) == first.fingerprint
    model = tiny.TinyResNet(SHORT.classes)
    model.load_state_dict(state)
    images, labels = pretrain.held_out(SHORT)
    assert pretrain.accuracy(model, images, labels) == first.accuracy


def test_tltui_pretrain_tiny_runs_a_shortened_recipe(tmp_path):
    out = tmp_path / "mine.pt"
    result = subprocess.run(
        [sys.executable, "-m", "tltui", "pretrain-tiny", "--classes", "3", "--per-class", "16", "--epochs", "1",
         "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stdout and "held-out accuracy" in result.stdout
    tiny.TinyResNet(3).load_state_dict(torch.load(out, weights_only=True))
    bad = subprocess.run([sys.executable, "-m", "tltui", "pretrain-tiny", "--epochs", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_the_pretrain_command_imports_no_torch_until_it_runs():
    script = ("import sys; from tltui.cli.main import build_parser; "
              "build_parser(full=True).parse_args(['pretrain-tiny', '--epochs', '1']); "
              "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
