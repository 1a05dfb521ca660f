"""The capstone: `tltui export` writes a whole plain PyTorch script of a recipe, and that script trains on
a small generated ImageFolder on the CPU, from loading the folders to saving best.pt and last.pt."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

TLTUI = [sys.executable, "-m", "tltui"]
CLASSES = ("circle", "square", "stripes")


def image(kind: str, shade: int, size: int = 40) -> Image.Image:
    """A simple generated picture of ``kind``, darker or lighter by ``shade``."""
    picture = Image.new("RGB", (size, size), (230 - shade, 230, 220))
    pixels = picture.load()
    for y in range(size):
        for x in range(size):
            inside = {"circle": (x - 20) ** 2 + (y - 20) ** 2 < 120,
                      "square": 10 < x < 30 and 10 < y < 30,
                      "stripes": (x // 4) % 2 == 0}[kind]
            if inside:
                pixels[x, y] = (40 + shade, 60, 90)
    return picture


@pytest.fixture
def folders(tmp_path):
    """``train/`` and ``val/`` with a folder of generated images per class."""
    root = tmp_path / "shapes"
    for split, count in (("train", 8), ("val", 3)):
        for kind in CLASSES:
            (root / split / kind).mkdir(parents=True)
            for i in range(count):
                image(kind, 7 * i).save(root / split / kind / f"{i}.png")
    return root


def test_export_writes_the_script_to_a_file_or_stdout(tmp_path):
    out = tmp_path / "recipe.py"
    result = subprocess.run([*TLTUI, "export", "./birds", "--preset", "head-then-unfreeze", "-o", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stderr
    code = out.read_text()
    assert "--preset" not in code and "--unfreeze 2:stem" in code and "def main():" in code
    printed = subprocess.run([*TLTUI, "export", "./birds", "--preset", "head-then-unfreeze"],
                             capture_output=True, text=True, timeout=60)
    assert printed.stdout == code
    bad = subprocess.run([*TLTUI, "export", "./birds", "--lr", "-1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("tltui: --lr must be a positive number")


@pytest.mark.slow
@pytest.mark.parametrize("flags", [
    ["--preset", "head-then-unfreeze", "--schedule", "onecycle"],
    ["--preset", "feature-extraction", "--optimizer", "adamw", "--lr", "1e-3", "--shuffle-labels"],
])
def test_the_exported_script_trains_on_a_small_dataset_and_saves_checkpoints(tmp_path, folders, flags):
    script = tmp_path / "finetune.py"
    exported = subprocess.run(
        [*TLTUI, "export", str(folders), *flags, "--weights", "none", "--epochs", "2", "--image-size", "32",
         "--batch-size", "6", "-o", str(script)], capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    work = tmp_path / "run"
    work.mkdir()
    trained = subprocess.run([sys.executable, str(script), str(folders)], cwd=work, capture_output=True, text=True,
                             timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    lines = trained.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["epoch 1", "epoch 2"]
    assert lines[-1].startswith("best val accuracy")
    check = subprocess.run(
        [sys.executable, "-c",
         "import torch, torchvision\n"
         "for name in ('best.pt', 'last.pt'):\n"
         "    model = torchvision.models.resnet50(num_classes=3)\n"
         "    model.load_state_dict(torch.load(name, map_location='cpu'))\n"
         "print('ok')"], cwd=work, capture_output=True, text=True, timeout=120)
    assert check.stdout.strip() == "ok", check.stderr[-2000:]
