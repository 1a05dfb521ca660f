"""Diagnose's engine side: near-duplicates found and kept on one side of every fold, the pool it splits, and
the runs it trains being ``tltui train``'s own (``prepare`` from decoded images, a Trainer that writes nothing)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from tltui.core import diagnosis
from tltui.core.presets import configure
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Diagnosis, Epoch, Finished, Measured, Note
from tltui.engine import data as datasets, diagnose, duplicates, probe, train

ORIGINALS = 6
"""Distinct images per class."""
COPIED = 2
"""Of them, how many get altered copies."""


def picture(seed: int) -> Image.Image:
    """A smooth random colour pattern, 48 px: distinct seeds give unrelated images."""
    low = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(low).resize((48, 48), Image.BICUBIC)


def jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def noisy(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image).astype(int) + np.random.default_rng(7).normal(0, 4, (48, 48, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


ALTERATIONS = {
    "copy": lambda im: im,
    "jpeg": jpeg,
    "smaller": lambda im: im.resize((40, 40), Image.BILINEAR),
    "contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.85),
    "noise": noisy,
}


def folder_with_copies(root: Path, classes: int = 3) -> tuple[Path, int]:
    """Class folders of ``ORIGINALS`` distinct images each, ``COPIED`` of which also appear altered in
    every way of ``ALTERATIONS`` (under other names); returns the folder and its number of distinct images."""
    for c in range(classes):
        folder = root / f"class-{c}"
        folder.mkdir(parents=True)
        for i in range(ORIGINALS):
            image = picture(100 * c + i)
            image.save(folder / f"{i}.png")
            if i < COPIED:
                for name, alter in ALTERATIONS.items():
                    alter(image).save(folder / f"{i}-{name}.png")
    return root, classes * ORIGINALS


def test_altered_copies_are_near_duplicates_and_distinct_images_are_not():
    originals = [picture(seed) for seed in range(20)]

    def stack(images):
        return torch.stack([torch.from_numpy(np.array(im.convert("RGB").resize((37, 37)))).permute(2, 0, 1)
                            for im in images])

    assert duplicates.near_pairs(stack(originals)) == []
    for name, alter in ALTERATIONS.items():
        pairs = duplicates.near_pairs(stack([originals[0], alter(originals[0]), originals[1]]))
        assert pairs == [(0, 1)], name


def test_folds_never_put_copies_of_one_image_on_both_sides(tmp_path):
    root, distinct = folder_with_copies(tmp_path / "data")
    config = diagnose.check(RunConfig(data=str(root), model="tiny", image_size=32, augment=()))
    pool = diagnose.load(config)
    images = distinct + 3 * COPIED * len(ALTERATIONS)
    assert len(pool.y) == images and len(set(pool.groups)) == distinct
    folds = diagnosis.splits(pool.y.tolist(), seed=0, groups=pool.groups)
    assert len(folds) == diagnosis.MAX_FOLDS
    for tr, va in folds:
        assert not {pool.groups[i] for i in tr} & {pool.groups[i] for i in va}
    assert sorted(i for _, va in folds for i in va) == list(range(images))


def test_with_train_and_val_the_pool_is_train_alone_limited_as_tltui_train_limits_it(tmp_path):
    root = tmp_path / "data"
    for part, count in (("train", 5), ("val", 3)):
        for c in range(2):
            (root / part / f"c{c}").mkdir(parents=True)
            for i in range(count):
                picture(1000 * c + 10 * i + (part == "val")).save(root / part / f"c{c}" / f"{i}.png")
    config = diagnose.check(RunConfig(data=str(root), model="tiny", image_size=32, limit_per_class=4, augment=()))
    pool = diagnose.load(config)
    assert pool.val_images == 6 and len(pool.y) == 8
    trained = datasets.load(str(root), image_size=32, augment=("crop",), val_fraction=0.2, limit_per_class=4, seed=0)
    assert torch.equal(pool.x, trained.train_x) and torch.equal(pool.y, trained.train_y)


def test_each_strategy_is_its_preset_with_the_learners_settings():
    config = RunConfig(data="builtin", model="tiny", weights="pretrained", image_size=32, limit_per_class=7, seed=3,
                       augment=(), preset="diagnose")
    for name in diagnosis.TRAINED:
        run = diagnose.strategy_config(config, name, 12)
        assert run.preset == name and run.epochs == 12
        assert (run.data, run.model, run.image_size, run.limit_per_class, run.seed) == ("builtin", "tiny", 32, 7, 3)
        assert run == configure(name, data="builtin", model="tiny", image_size=32, limit_per_class=7, seed=3, epochs=12)
    scratch = diagnose.strategy_config(config, "scratch", 12)
    assert scratch.weights == "none" and scratch.preset == "" and scratch.augment == RunConfig().augment
    fitted = diagnose.strategy_config(config, "probe", 12)  # one fit: the epochs diagnose chose do not apply
    assert fitted == configure("probe", data="builtin", model="tiny", image_size=32, limit_per_class=7, seed=3)
    assert fitted.epochs == 1


def test_diagnose_fits_the_probe_on_each_folds_training_part_alone(tmp_path, monkeypatch):
    """The probe's folds, the network's training faked (each trained strategy scores half of a fold): fold 1's
    probe is fitted on the pretrained features first (it times the plan), then every fold fits it on the random
    features and, after fold 1, on the pretrained ones; each fit gets its fold's training images alone, and its
    score on the fold's held-out part is the strategy's Measured accuracy."""
    fits = []
    real = probe.fit_cv

    def spy(features, labels, classes, seed=0, should_stop=lambda: False):
        fitted = real(features, labels, classes, seed, should_stop=should_stop)
        fits.append((labels.clone(), fitted))
        return fitted

    computed = []
    features = diagnose.Diagnoser._features

    def keep(self, model):
        computed.append(features(self, model))
        return computed[-1]

    monkeypatch.setattr(probe, "fit_cv", spy)
    monkeypatch.setattr(diagnose.Diagnoser, "_features", keep)
    monkeypatch.setattr(diagnose.Diagnoser, "_fold", lambda self, strategy, fold, tr, va, epochs: len(va) // 2)
    monkeypatch.setattr(diagnose.Diagnoser, "_time", lambda self, fold, epochs: (0.01, 0.01, 0.0, 0.0))
    config = RunConfig(data="builtin", model="tiny", image_size=32, limit_per_class=6, device="cpu", seed=2)
    events = []
    diagnose.run(config, 600, tmp_path, lambda kind, **fields: events.append((kind, fields)), lambda: False)
    pool = diagnose.load(diagnose.check(config))
    folds = diagnosis.splits(pool.y.tolist(), config.seed, groups=pool.groups)
    order = [0, 0] + [f for f in range(1, len(folds)) for _ in (0, 1)]  # fold 1: pretrained, random; then each
    assert [len(labels) for labels, _ in fits] == [len(folds[f][0]) for f in order] and len(pool.y) == 60
    for (labels, fitted), f in zip(fits, order, strict=True):
        assert torch.equal(labels, pool.y[folds[f][0]]) and fitted.l2 in probe.L2_GRID
    measured = [fields for kind, fields in events if kind is Measured and fields["strategy"] == "probe"]
    assert [m["fold"] for m in measured] == list(range(1, len(folds) + 1))
    pretrained = [fitted for i, (_, fitted) in enumerate(fits) if i == 0 or (i > 1 and i % 2)]
    for m, fitted, (_, va) in zip(measured, pretrained, folds, strict=True):
        assert m["acc"] == pytest.approx(float((fitted.predict(computed[0].held[va]) == pool.y[va]).float().mean()))
    (end,) = [fields for kind, fields in events if kind is Diagnosis]
    assert "probe" in end["results"] and end["results"]["probe"].folds == len(folds)
    assert any(kind is Note and "the probe's lift over them" in fields["message"] for kind, fields in events)


def test_prepare_from_decoded_images_is_prepare_from_the_folder():
    """The same model (head initialised alike) and the same images, whether loaded by ``prepare`` or given."""
    config = RunConfig(data="builtin", model="tiny", image_size=32, limit_per_class=3, epochs=1)
    loaded = train.prepare(config)
    data = datasets.load("builtin", image_size=32, augment=config.augment, val_fraction=config.val_fraction,
                         limit_per_class=3, seed=0)
    given = train.prepare(config, data=data)
    assert given.config == loaded.config and given.cut == loaded.cut
    assert torch.equal(given.data.train_x, loaded.data.train_x)
    for (name, a), b in zip(loaded.model.state_dict().items(), given.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_trainer_without_checkpoints_writes_nothing_and_still_reports(tmp_path):
    prep = train.prepare(RunConfig(data="builtin", model="tiny", image_size=32, limit_per_class=3, epochs=2))
    events = []
    train.Trainer(prep, tmp_path / "run", lambda kind, **fields: events.append(kind), lambda: False,
                  checkpoints=False).run()
    assert events.count(Epoch) == 2 and events[-1] is Finished
    assert list((tmp_path / "run").iterdir()) == []


def test_the_pool_of_one_folder_is_train_and_val_at_a_cropping_recipes_side():
    pool = diagnose.load(diagnose.check(RunConfig(data="builtin", model="tiny", image_size=32, limit_per_class=4,
                                                  augment=())))
    side = datasets.sides(32, ("crop",))[0]
    assert side > 32 and pool.x.shape[1:] == (3, side, side)
    assert len(pool.y) == 40 and pool.val_images == 0
