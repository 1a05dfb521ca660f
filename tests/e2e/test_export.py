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
    assert "--preset" not in code and "--head-first" in code and "fit_head(model" in code and "def main():" in code
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
    head, *lines = trained.stdout.splitlines()
    assert head.startswith("head fitted")  # both presets fit the head first (--head-first)
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



def test_a_deterministic_script_with_a_warmup_trains_the_same_weights_twice(tmp_path, folders):
    """The switch and the warm-up as exported: the script runs as written, and twice gives the same weights."""
    script = tmp_path / "finetune.py"
    exported = subprocess.run(
        [*TLTUI, "export", str(folders), "--model", "tiny", "--weights", "none", "--epochs", "2", "--batch-size", "6",
         "--warmup-epochs", "1", "--deterministic", "--augment", "crop,flip,color", "-o", str(script)],
        capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    outputs = []
    for name in ("a", "b"):
        work = tmp_path / name
        work.mkdir()
        trained = subprocess.run([sys.executable, str(script), str(folders)], cwd=work, capture_output=True,
                                 text=True, timeout=300)
        assert trained.returncode == 0, trained.stderr[-3000:]
        outputs.append(trained.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("epoch ") == 2
    check = subprocess.run(
        [sys.executable, "-c",
         "import torch\n"
         "a, b = (torch.load(f'{d}/last.pt', map_location='cpu') for d in 'ab')\n"
         "print(all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys())"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert check.stdout.strip() == "True", check.stderr[-2000:]


# -- the recipe for a cluster: --torchrun and --slurm ----------------------------------------------


def test_the_probe_is_not_exported_for_several_processes():
    result = subprocess.run([*TLTUI, "export", "./birds", "--preset", "probe", "--torchrun"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("tltui: --preset probe is one fit")
    assert result.stderr.count("\n") == 1


def test_torchrun_and_slurm_exports_write_the_script_and_the_commands(tmp_path):
    import ast

    script = tmp_path / "ddp.py"
    result = subprocess.run([*TLTUI, "export", "./birds", "--preset", "head-then-unfreeze", "--freeze", "backbone",
                             "--unfreeze", "2:layer4,3:layer3", "--nproc", "4", "--torchrun", "--nnodes", "3",
                             "-o", str(script)],
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
    from tltui.core.protocol.config import RunConfig
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
    for picture, label in zip(images, labels, strict=True):
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


# -- the plain script runs as written: every model, every layout, offline ---------------------------

NO_NETWORK = (
    "import runpy, socket, sys\n"
    "def refuse(*args, **kwargs):\n"
    "    raise OSError('the network is off in this test')\n"
    "socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)
"""Runs a script (its path and arguments follow) with every connection refused: it must not need one."""


def run_offline(script, *args, cwd, torch_home):
    """The script under NO_NETWORK, one thread (the CPU is shared), an empty hub cache at ``torch_home``."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(torch_home)}
    return subprocess.run([sys.executable, "-c", NO_NETWORK, str(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def single_folder(tmp_path):
    """One folder of class folders (11, 9 and 5 images), no train/ or val/; beside them what tltui does not
    read: a hidden file, a text file and a hidden folder."""
    root = tmp_path / "single"
    for kind, count in zip(CLASSES, (11, 9, 5), strict=True):
        (root / kind).mkdir(parents=True)
        for i in range(count):
            image(kind, 9 * i).save(root / kind / f"{i:02d}.png")
    image("circle", 0).save(root / "circle" / ".hidden.png")
    (root / "circle" / "notes.txt").write_text("not an image")
    (root / ".ipynb_checkpoints").mkdir()
    return root


LAYOUTS = {"train-val": 3, "single": 3, "builtin": 10}
"""Each data layout tltui reads, and its classes."""


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("model", ["resnet50", "tiny"])
def test_the_exported_script_runs_as_written_for_every_model_and_layout(tmp_path, folders, single_folder, model,
                                                                       layout):
    """`tltui export DATA -o x.py`, then `python x.py --epochs 1` from another folder with the network off:
    it trains one epoch and its best.pt loads into the model's own class. builtin's images are written
    beside the script, where its DATA points."""
    import torch
    import torchvision

    from tltui.engine.tiny import TinyResNet

    data = {"train-val": str(folders), "single": str(single_folder), "builtin": "builtin"}[layout]
    weights = ["--weights", "none"] if model == "resnet50" else []  # tiny: its shipped weights
    script = tmp_path / "x.py"
    exported = subprocess.run(
        [*TLTUI, "export", data, "--model", model, *weights, "--epochs", "3", "--image-size", "16",
         "--batch-size", "64" if layout == "builtin" else "6", "-o", str(script)],
        capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    if layout == "builtin":
        folder = tmp_path / "x_data"
        assert exported.stdout.splitlines() == [
            f"builtin: 960 training and 240 validation images (18 px, seed 0) written to {folder}, where the "
            "script's DATA points"]
        assert sorted(p.name for p in (folder / "val").iterdir()) == sorted(
            ["stripes-h", "stripes-v", "checkers", "dots", "rings", "triangle", "cross", "waves", "blob", "gradient"])
    work = tmp_path / "elsewhere"
    work.mkdir()
    trained = run_offline(script, "--epochs", "1", cwd=work, torch_home=tmp_path / "torch")
    assert trained.returncode == 0, trained.stderr[-3000:]
    lines = trained.stdout.splitlines()
    assert len(lines) == 2, lines  # one epoch: --epochs 1 over the script's EPOCHS = 3
    assert lines[0].startswith("epoch 1: val accuracy") and lines[1].startswith("best val accuracy")
    state = torch.load(work / "best.pt", map_location="cpu", weights_only=True)
    network = TinyResNet(num_classes=LAYOUTS[layout]) if model == "tiny" else \
        torchvision.models.resnet50(num_classes=LAYOUTS[layout])
    network.load_state_dict(state)  # strict: every key, every shape
    assert not (tmp_path / "torch").exists()  # no hub cache was even looked for


@pytest.mark.parametrize("data", ["folder", "flowers102"])
def test_offline_the_script_that_needs_a_download_says_so_in_one_line(tmp_path, folders, data_dir, data):
    """With the network off and an empty hub cache: ImageNet's weights, or a named set to download, end the
    script with one line naming what is missing, where, and what to do; exit 1, no traceback."""
    script = tmp_path / "x.py"
    flags = [str(folders)] if data == "folder" else ["flowers102", "--weights", "none"]
    exported = subprocess.run([*TLTUI, "export", *flags, "-o", str(script)], capture_output=True, text=True,
                              timeout=60)
    assert exported.returncode == 0, exported.stderr
    downloads = data_dir / "datasets"  # where tltui downloads them: a set it has is not fetched again
    if data == "flowers102":
        assert exported.stdout.splitlines() == [
            f"flowers102: the script downloads it into {downloads} the first time, which needs internet"]
    work = tmp_path / "run"
    work.mkdir()
    ran = run_offline(script, cwd=work, torch_home=tmp_path / "torch")
    assert ran.returncode == 1
    (line,) = ran.stderr.splitlines()
    assert len(ran.stdout.splitlines()) <= 1  # torch's own "Downloading: URL to FILE", where it tried
    if data == "folder":
        assert line == (f"ResNet-50 ImageNet weights are not in {tmp_path / 'torch' / 'hub' / 'checkpoints'} and "
                        "could not be downloaded (URLError): put resnet50-11ad3fa6.pth there, or use --weights FILE "
                        "(a state_dict) or --weights none")
    else:
        assert line == (f"cannot download flowers102 into {downloads} (URLError; offline?): download it there "
                        "on a connected machine, or give a folder")
    assert not list(work.iterdir())  # nothing trained, nothing saved


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "ddp"])
def test_the_scripts_split_one_folder_as_the_engine_does(single_folder, distributed):
    """A folder of class folders of 11, 9 and 5 images, 30 % held out: the script's training and validation
    sets are the engine's, file for file and label for label (hidden files, a text file and a hidden folder
    left out as the engine leaves them)."""
    from tltui.core.cluster import generate_ddp
    from tltui.core.codegen import generate
    from tltui.core.protocol.config import RunConfig
    from tltui.engine import data

    config = RunConfig(data=str(single_folder), image_size=16, augment=(), batch_size=2, val_fraction=0.3)
    engine = data.load(str(single_folder), image_size=16, augment=(), val_fraction=0.3, limit_per_class=0, seed=0)
    namespace = {"__name__": "script"}
    exec(generate_ddp(config) if distributed else generate(config), namespace)
    train_loader, val_loader = namespace["loaders"](0, 1)[:2] if distributed else namespace["loaders"]()
    train_set = train_loader.dataset
    val_set = val_loader.dataset.dataset if distributed else val_loader.dataset  # DDP: a Subset, its shard
    assert [path for path, _ in val_set.samples] == engine.val_paths
    assert val_set.targets == engine.val_y.tolist() and train_set.targets == engine.train_y.tolist()
    assert (len(train_set), len(val_set)) == (17, 8)  # 3, 3 and 2 held out


def test_the_builtin_folder_holds_the_engines_images_and_split(tmp_path):
    """builtin-shifted written for a script (seed 3, 25 % held out, 32 px) and read by it: each class's
    validation images are the engine's, in its order, pixel for pixel after the script's resize and centre
    crop, and each class has the engine's training images (the script numbers the classes in the sorted
    order of their folders, as an ImageFolder does). Written again it is replaced; a folder tltui did not
    write is refused and left as it was."""
    import torch

    from tltui.core.codegen import generate
    from tltui.core.errors import BadInput
    from tltui.core.protocol.config import RunConfig
    from tltui.core.protocol.requests import WriteBuiltin
    from tltui.engine import builtin_folder, data

    folder = tmp_path / "x_data"
    request = WriteBuiltin(data="builtin-shifted", folder=str(folder), image_size=32, seed=3, val_fraction=0.25)
    builtin_folder.write(msgspec_replace(request, seed=4))
    written = builtin_folder.write(request)  # over the first: replaced
    engine = data.load("builtin-shifted", image_size=32, augment=(), val_fraction=0.25, limit_per_class=0, seed=3)
    assert (written.n_train, written.n_val, written.side) == (len(engine.train_y), len(engine.val_y), 37)
    config = RunConfig(data="builtin-shifted", image_size=32, augment=(), seed=3, val_fraction=0.25, model="tiny")
    namespace = {"__name__": "script", "__file__": str(tmp_path / "x.py")}
    exec(generate(config, "x_data"), namespace)
    assert namespace["DATA"] == str(folder)
    train_loader, val_loader = namespace["loaders"]()
    train_set, val_set = train_loader.dataset, val_loader.dataset
    assert sorted(val_set.classes) == sorted(engine.classes)

    def by_name(classes, labels):
        return [classes[label] for label in labels]

    assert sorted(by_name(train_set.classes, train_set.targets)) == sorted(by_name(engine.classes, engine.train_y))
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    scripted = torch.stack([image for image, _ in val_set]) * std[:, None, None] + mean[:, None, None]
    labels = torch.tensor(val_set.targets)
    for name in engine.classes:
        mine = scripted[labels == val_set.classes.index(name)]
        theirs = engine.val_x[engine.val_y == engine.classes.index(name)].float() / 255
        assert mine.shape == theirs.shape and torch.allclose(mine, theirs, atol=1e-5), name

    mine = tmp_path / "mine"
    (mine / "cats").mkdir(parents=True)
    (mine / "cats" / "1.png").write_bytes(b"a picture of mine")
    with pytest.raises(BadInput, match="is there already and tltui did not write it: move it, or export to "):
        builtin_folder.write(msgspec_replace(request, folder=str(mine)))
    assert [p.relative_to(mine).as_posix() for p in mine.rglob("*")] == ["cats", "cats/1.png"]


def msgspec_replace(struct, **changes):
    import msgspec

    return msgspec.structs.replace(struct, **changes)


def test_the_tiny_script_builds_the_engines_model_with_its_shipped_weights():
    """The script of a tiny run builds, from the same seed, the very model the engine builds: TinyResNet with
    the weights tltui ships and the same new head."""
    import torch

    from tltui.core.codegen import generate
    from tltui.core.protocol.config import RunConfig
    from tltui.engine import model

    namespace = {"__name__": "script"}
    exec(generate(RunConfig(data="builtin", model="tiny")), namespace)
    torch.manual_seed(4)
    scripted = namespace["build"](7)[0].state_dict()
    torch.manual_seed(4)
    engine = model.build("tiny", 7, "pretrained")[0].state_dict()
    assert scripted.keys() == engine.keys()
    assert all(torch.equal(scripted[k], engine[k]) for k in engine)
    shipped = torch.load(model.tiny.WEIGHTS_FILE, weights_only=True)
    assert torch.equal(scripted["conv1.weight"], shipped["conv1.weight"])


def test_export_of_builtin_writes_its_images_beside_the_script_or_refuses_in_one_line(tmp_path):
    """--torchrun: the DDP script's folder beside it, named in the torchrun commands; a folder of the user's
    in its place is refused in one line; a named set cannot have its labels shuffled by the script."""
    script = tmp_path / "ddp.py"
    result = subprocess.run([*TLTUI, "export", "builtin", "--model", "tiny", "--torchrun", "-o", str(script)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"builtin: 960 training and 240 validation images (37 px, seed 0) written to "
                                    f"{tmp_path / 'ddp_data'}")
    assert "torchrun --standalone --nproc-per-node gpu ddp.py ddp_data" in result.stderr
    assert len(list((tmp_path / "ddp_data" / "val").rglob("*.png"))) == 240
    (tmp_path / "x_data").mkdir()
    (tmp_path / "x_data" / "notes.txt").write_text("mine")
    refused = subprocess.run([*TLTUI, "export", "builtin", "-o", str(tmp_path / "x.py")], capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2 and not (tmp_path / "x.py").exists()
    assert refused.stderr == (f"tltui: {tmp_path / 'x_data'} is there already and tltui did not write it: move it, "
                              "or export to another name\n")
    shuffled = subprocess.run([*TLTUI, "export", "pets", "--shuffle-labels"], capture_output=True, text=True,
                              timeout=60)
    assert shuffled.returncode == 2 and shuffled.stderr.startswith("tltui: --shuffle-labels with pets: ")
