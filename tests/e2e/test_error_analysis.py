"""The error analysis after a real run: a folder of generated images with imbalanced classes, the tiny
backbone on the CPU; what the Finished event says is checked against best.pt run again on the files,
``tltui runs show`` prints it, and the worker draws the top-loss images."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tltui.core.analysis import TOP_LOSSES, wilson
from tltui.core.client import WorkerError
from tltui.core.groups import BACKBONE
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, Epoch, Finished
from tltui.core.protocol.requests import LossPictures, StartRun
from tltui.engine import builtin, checkpoint, data as datasets, model as net
from tltui.engine.augment import BatchTransform
from tltui.engine.pictures import picture
from tltui.engine.train import prepare, train

COUNTS = {"stripes-h": 40, "rings": 12, "cross": 12, "blob": 12}
"""Images per class: the first class has over three times the others'."""


def write_folder(root: Path) -> Path:
    images, labels = builtin.render(40, 5, per_class=40)
    for label, name in enumerate(builtin.CLASSES):
        if name not in COUNTS:
            continue
        (root / name).mkdir(parents=True)
        for i, image in enumerate(images[labels == label][:COUNTS[name]]):
            Image.fromarray(image).save(root / name / f"{name}-{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("imbalanced") / "shapes")


CONFIG = dict(model="tiny", weights="pretrained", device="cpu", image_size=32, epochs=3, batch_size=16, augment=(),
              seed=1, optimizer="sgd", lr=0.01)
"""Short and plain SGD, so the run errs on some images (AdamW at the default LR gets this set all right)."""


def predict_files(model, paths: list[str], size: int) -> torch.Tensor:
    """Softmax probabilities of ``model`` for image files, decoded and normalised as validation does."""
    resize, _, side = datasets.sides(size, ())
    arrays = [np.array(datasets.decode(Path(p), resize, side)[0]) for p in paths]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    with torch.inference_mode():
        return model(BatchTransform(size, (), torch.device("cpu"))(x, train=False)).softmax(1)


def test_the_analysis_names_the_images_best_pt_really_gets_wrong(folder, tmp_path):
    config = RunConfig(data=str(folder), **CONFIG)
    prep = prepare(config)
    events = []
    train(prep, tmp_path / "run", lambda cls, **fields: events.append(cls(**fields)), lambda: False)
    finished = events[-1]
    assert isinstance(finished, Finished)
    analysis = finished.analysis
    classes, confusion = finished.classes, finished.confusion

    # best.pt, run again on every validation file, gives the confusion matrix the event reports.
    model = net.new("tiny", len(classes))
    model.load_state_dict(torch.load(tmp_path / "run" / "best.pt", weights_only=True))
    model.eval()
    paths = prep.data.val_paths
    assert len(paths) == analysis.total == sum(map(sum, confusion)) and all(Path(p).is_file() for p in paths)
    truth = [classes.index(Path(p).parent.name) for p in paths]
    probabilities = predict_files(model, paths, 32)
    predicted = probabilities.argmax(1).tolist()
    again = np.zeros((len(classes), len(classes)), int)
    for t, p in zip(truth, predicted, strict=False):
        again[t, p] += 1
    assert again.tolist() == confusion
    wrong = {paths[i] for i, (t, p) in enumerate(zip(truth, predicted, strict=False)) if t != p}
    assert wrong, "the run should get some validation images wrong, or this test proves nothing"

    # The top losses: the highest -ln p(true) of those predictions, with their files, labels and probabilities.
    losses = [-math.log(probabilities[i, t].item()) for i, t in enumerate(truth)]
    expected = sorted(range(len(paths)), key=lambda i: -losses[i])[:TOP_LOSSES]
    assert [paths[i] for i in expected] == [t.path for t in analysis.top_losses]
    for top in analysis.top_losses:
        i = paths.index(top.path)
        assert top.index == i and top.true == Path(top.path).parent.name
        assert top.predicted == classes[predicted[i]]
        assert (top.path in wrong) == (top.true != top.predicted)
        assert top.probability == pytest.approx(probabilities[i, predicted[i]].item(), abs=1e-4)
        assert top.true_probability == pytest.approx(probabilities[i, truth[i]].item(), abs=1e-4)
    assert [t.loss for t in analysis.top_losses] == sorted((t.loss for t in analysis.top_losses), reverse=True)

    # Recall and support per class, the pairs, the interval and balanced accuracy, all from the matrix.
    for i, row in enumerate(confusion):
        recall = analysis.per_class[i]
        assert (recall.name, recall.support) == (classes[i], sum(row))
        assert recall.recall == pytest.approx(row[i] / sum(row))
    cells = sorted(((confusion[t][p], classes[t], classes[p]) for t in range(len(classes))
                    for p in range(len(classes)) if t != p and confusion[t][p]), key=lambda c: -c[0])
    assert [c.count for c in analysis.confused] == [k for k, _, _ in cells[:len(analysis.confused)]]
    assert all(confusion[classes.index(c.true)][classes.index(c.predicted)] == c.count for c in analysis.confused)
    correct = int(np.trace(again))
    assert analysis.correct == correct and finished.best_val_acc == pytest.approx(correct / len(paths))
    assert (analysis.low, analysis.high) == wilson(correct, len(paths))
    supports = [r.support for r in analysis.per_class]
    assert max(supports) >= 3 * min(supports)  # imbalanced, so balanced accuracy is given
    assert analysis.balanced_accuracy == pytest.approx(np.mean([r[i] / sum(r) for i, r in enumerate(confusion)]))


def tltui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True, timeout=300)


def test_runs_show_prints_the_analysis_in_text(folder):
    result = tltui("train", str(folder), "--model", "tiny", "--epochs", "2", "--no-augment", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout.splitlines()[-1])
    analysis = finished["analysis"]
    shown = tltui("runs", "show", finished["run_id"][:15])
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    low, high = wilson(analysis["correct"], analysis["total"])
    assert f"95% interval {low:.1%} to {high:.1%} (Wilson score)" in text
    assert f"balanced accuracy {analysis['balanced_accuracy']:.1%}" in text
    for recall in analysis["per_class"]:
        assert any(line.split() == [recall["name"], f"{recall['recall']:.1%}", f"({recall['support']})"]
                   for line in text.splitlines())
    for pair in analysis["confused"]:
        assert f"{pair['true']} -> {pair['predicted']} {pair['count']}" in text
    listed = [line for line in text.splitlines() if line.strip()[:2].rstrip(".").isdigit() and ".png" in line]
    assert len(listed) == len(analysis["top_losses"])
    for line, top in zip(listed, analysis["top_losses"], strict=True):
        assert Path(top["path"]).name in line and f"{top['true']} -> {top['predicted']}" in line
        assert f"p {top['probability']:.2f}" in line


async def finish(client, config: RunConfig) -> Finished:
    run_id = (await client.request(StartRun(config=config))).run_id
    while True:
        event = await asyncio.wait_for(client.events.get(), 240)
        assert event is not None, client.gone
        if event.run_id == run_id and isinstance(event, TERMINAL_EVENTS):
            assert isinstance(event, Finished), event
            return event


@pytest.mark.asyncio(loop_scope="module")
async def test_the_worker_draws_the_top_losses_from_the_validation_files(worker, folder, tmp_path):
    moved = tmp_path / "shapes"
    shutil.copytree(folder, moved)  # a copy of its own: one file is deleted below
    finished = await finish(worker, RunConfig(data=str(moved), **CONFIG))
    tops = finished.analysis.top_losses
    reply = await worker.request(LossPictures(run_id=finished.run_id, display=16))
    assert reply.run_id == finished.run_id and len(reply.pictures) == len(tops) == TOP_LOSSES
    resize, _, side = datasets.sides(32, ())
    for top, shown in zip(tops, reply.pictures, strict=False):
        image = torch.from_numpy(np.array(datasets.decode(Path(top.path), resize, side)[0])).permute(2, 0, 1)
        assert shown.rgb == picture(image.float() / 255, 16, "").rgb  # that very file, as validation saw it
        assert shown.label == f"{top.true} → {top.predicted} {top.probability:.0%}"
    Path(tops[0].path).unlink()
    again = await worker.request(LossPictures(run_id=finished.run_id[:15], display=16))
    assert again.pictures[0].label == f"cannot show: {Path(tops[0].path).name} is no longer there"
    assert again.pictures[1:] == reply.pictures[1:]
    for request, why in ((LossPictures(run_id=finished.run_id, display=500), "display must be between 8 and 64"),
                         (LossPictures(run_id="nope"), "no run 'nope'")):
        with pytest.raises(WorkerError, match=why):
            await worker.request(request)


@pytest.mark.asyncio(loop_scope="module")
async def test_built_in_top_losses_are_rendered_again_from_the_runs_seed(worker):
    config = RunConfig(data="builtin", limit_per_class=4, **{**CONFIG, "epochs": 1, "seed": 3})
    finished = await finish(worker, config)
    reply = await worker.request(LossPictures(run_id=finished.run_id, display=32))
    val = datasets.load("builtin", image_size=32, augment=(), val_fraction=config.val_fraction, limit_per_class=0,
                        seed=3)
    for top, shown in zip(finished.analysis.top_losses, reply.pictures, strict=False):
        assert top.path == f"builtin:val/{top.index}"
        assert shown.rgb == val.val_x[top.index].permute(1, 2, 0).contiguous().numpy().tobytes()
        assert builtin.CLASSES[int(val.val_y[top.index])] == top.true


@pytest.mark.asyncio(loop_scope="module")
async def test_a_timm_runs_top_losses_are_shown_as_its_crop_pct_prepared_them(worker, folder):
    """timm's test_vit (crop_pct 0.95, bicubic) at 32 px, from the run's record: each picture is its file
    resized to floor(32 / 0.95) = 33 with the model's filter and centre-cropped, as the run validated it, not
    the built-in backbones' 37 px bilinear."""
    from tltui.engine import preprocess

    pre = preprocess.resolve("timm:test_vit", 32, torch.device("cpu"))
    assert (pre.crop_pct, pre.resize, pre.interpolation) == (0.95, 33, "bicubic")
    config = RunConfig(data=str(folder), **{**CONFIG, "model": "timm:test_vit", "weights": "none", "epochs": 1})
    finished = await finish(worker, config)
    reply = await worker.request(LossPictures(run_id=finished.run_id, display=32))
    assert len(reply.pictures) == len(finished.analysis.top_losses) > 0
    for top, shown in zip(finished.analysis.top_losses, reply.pictures, strict=True):
        assert shown.rgb == datasets.decode(Path(top.path), 33, 32, "bicubic")[0].tobytes()
        assert shown.rgb != datasets.decode(Path(top.path), 37, 32)[0].tobytes()


def test_a_resumed_run_reports_the_analysis_of_the_run_that_never_stopped(tmp_path):
    config = RunConfig(data="builtin", limit_per_class=8, frozen=BACKBONE, **{**CONFIG, "epochs": 3, "lr": 0.001})
    whole = []
    train(prepare(config), tmp_path / "whole", lambda cls, **f: whole.append(cls(**f)), lambda: False)
    epochs = []

    def keep(cls, **fields) -> None:
        if cls is Epoch:
            epochs.append(fields["epoch"])

    train(prepare(config), tmp_path / "run", keep, lambda: bool(epochs))  # cancelled after epoch 1
    kept = checkpoint.read(config, tmp_path / "run").best
    assert kept.epoch == 1 and len(kept.samples["predicted"]) == whole[-1].analysis.total  # in resume.pt
    resumed = []
    train(prepare(config), tmp_path / "run", lambda cls, **f: resumed.append(cls(**f)), lambda: False, resume=True)
    a, b = whole[-1].analysis, resumed[-1].analysis
    assert (a.correct, a.per_class, a.confused) == (b.correct, b.per_class, b.confused)
    assert [(t.path, t.predicted) for t in a.top_losses] == [(t.path, t.predicted) for t in b.top_losses]
    assert [t.loss for t in a.top_losses] == pytest.approx([t.loss for t in b.top_losses], rel=1e-4)
