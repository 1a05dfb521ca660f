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


# -- the recipe for a cluster: --torchrun and --slurm ----------------------------------------------


def test_torchrun_and_slurm_exports_write_the_script_and_the_commands(tmp_path):
    import ast

    script = tmp_path / "ddp.py"
    result = subprocess.run([*TLTUI, "export", "./birds", "--preset", "head-then-unfreeze", "--nproc", "4",
                             "--torchrun", "--nnodes", "3", "-o", str(script)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    code = script.read_text()
    ast.parse(code)
    assert "torchrun --standalone --nproc-per-node 4 ddp.py ./birds" in result.stderr
    assert "torchrun --nnodes 3 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HEAD:29500" in result.stderr
    assert "--rdzv-backend c10d" in code and "--nnodes 3" in code and "--nproc 4" in code
    for piece in ("dist.init_process_group(", "DistributedSampler(", "sampler.set_epoch(epoch)", "DDP(model",
                  "dist.all_reduce(counts)", "if rank == 0:", "BATCH_SIZE // world", "ddp = wrap()  # again"):
        assert piece in code, piece
    sbatch = tmp_path / "job.sbatch"
    result = subprocess.run([*TLTUI, "export", "./birds", "--slurm", "--nnodes", "4", "--gpus-per-node", "2",
                             "-o", str(sbatch)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = sbatch.read_text()
    assert text.startswith("#!/bin/bash\n") and "#SBATCH --nodes=4" in text and "#SBATCH --gpus-per-node=2" in text
    assert "srun torchrun" in text and "--rdzv-backend c10d" in text and "job.py \"$DATA\"" in text
    ast.parse((tmp_path / "job.py").read_text())
    bash = subprocess.run(["bash", "-n", str(sbatch)], capture_output=True, text=True)
    assert bash.returncode == 0, bash.stderr


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "ddp"])
def test_the_scripts_prepare_validation_images_as_the_engine_does(tmp_path, distributed):
    """A wide picture with a frame near its edges: the engine keeps the centre 87.5% (resize to size / 0.875,
    centre crop); a script that cropped otherwise would see a different picture."""
    import numpy as np
    import torch

    from tltui.core.cluster import generate_ddp
    from tltui.core.codegen import generate
    from tltui.core.protocol import RunConfig
    from tltui.engine import data

    picture = np.full((60, 90, 3), 200, np.uint8)
    picture[3:57, 3:87] = (30, 90, 160)  # the frame: 3 px of light border
    picture[20:40, 35:55] = (240, 40, 40)
    for split in ("train", "val"):
        for kind in ("a", "b"):  # the same picture in two classes: a classifier needs two
            (tmp_path / split / kind).mkdir(parents=True)
            Image.fromarray(picture).save(tmp_path / split / kind / "0.png")
    config = RunConfig(data=str(tmp_path), image_size=32, augment=(), batch_size=2, model="tiny")
    engine = data.load(str(tmp_path), image_size=32, augment=(), val_fraction=0.2, limit_per_class=0,
                       seed=0).val_x[0].float() / 255

    namespace = {"__name__": "script"}
    exec(generate_ddp(config) if distributed else generate(config), namespace)
    namespace["DATA"] = str(tmp_path)
    loaders = namespace["loaders"]
    val_loader = loaders(0, 1)[1] if distributed else loaders()[1]
    scripted = val_loader.dataset[0][0]
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    scripted = scripted * std[:, None, None] + mean[:, None, None]
    assert scripted.shape == engine.shape == (3, 32, 32)
    assert (scripted - engine).abs().mean() < 0.03


def test_the_exported_tiny_backbone_is_the_engines():
    import torch
    from torch import nn
    from torchvision.models.resnet import BasicBlock, ResNet

    from tltui.core.codegen import tiny_source
    from tltui.engine.tiny import TinyResNet

    namespace = {"nn": nn, "ResNet": ResNet, "BasicBlock": BasicBlock}
    exec(tiny_source(), namespace)
    torch.manual_seed(5)
    exported = namespace["TinyResNet"](7).state_dict()
    torch.manual_seed(5)
    engine = TinyResNet(7).state_dict()
    assert exported.keys() == engine.keys()
    assert all(torch.equal(exported[k], engine[k]) for k in engine)


@pytest.fixture
def builtin_folders(tmp_path):
    """The built-in set as an ImageFolder on disk (96 train and 24 val images per class, 64 px)."""
    from tltui.engine import builtin

    images, labels = builtin.render(64, 0)
    root, seen = tmp_path / "builtin", {}
    for picture, label in zip(images, labels):
        name = builtin.CLASSES[label]
        i = seen[name] = seen.get(name, -1) + 1
        folder = root / ("train" if i < 96 else "val") / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_the_ddp_script_on_two_gloo_processes_reaches_the_workers_accuracy(tmp_path, builtin_folders, data_dir):
    """The exported DDP script, under torchrun with 2 CPU processes, against the worker's run of the same
    setting over 2 processes with the same seed: best validation accuracy within 2 points."""
    import json

    import torch

    from tltui.engine.tiny import TinyResNet

    flags = [str(builtin_folders), "--model", "tiny", "--nproc", "2", "--device", "cpu", "--no-augment", "--seed", "0"]
    worker = subprocess.run([*TLTUI, "train", *flags, "--json"], capture_output=True, text=True, timeout=600)
    assert worker.returncode == 0, worker.stderr[-2000:]
    finished = json.loads(worker.stdout.splitlines()[-1])
    work = tmp_path / "cluster"
    work.mkdir()
    exported = subprocess.run([*TLTUI, "export", *flags, "--torchrun", "-o", str(work / "ddp.py")],
                              capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    trained = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                              "ddp.py", str(builtin_folders)], cwd=work, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    lines = trained.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:5]] == [f"epoch {e}" for e in range(1, 6)]  # rank 0 alone prints
    best = float(lines[-1].split()[3].rstrip("%:")) / 100
    assert abs(best - finished["best_val_acc"]) <= 0.02, (best, finished["best_val_acc"])
    for name in ("best.pt", "last.pt"):
        state = torch.load(work / name, map_location="cpu", weights_only=True)
        assert not any(k.startswith("module.") for k in state)
        TinyResNet(num_classes=10).load_state_dict(state)
