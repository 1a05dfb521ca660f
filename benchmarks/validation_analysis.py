"""What the error analysis costs a validation pass: ``Trainer.validate`` (which keeps each image's prediction
and the softmax probabilities of its true and predicted class) against the same batches through
``TrainStep.evaluate`` alone (loss and predictions only, as before the analysis), on the same model.

It prints the median time per validation pass of each and the ratio, then the time ``core.analysis.analyse``
takes on those predictions (once per run, at the end).

Run: ``python benchmarks/validation_analysis.py`` (``--model resnet50 --size 64`` for the big backbone,
``--device cuda`` on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core import analysis  # noqa: E402
from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.engine.train import Trainer, prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    config = RunConfig(data="builtin", model=args.model, weights="none", device=args.device, image_size=args.size,
                       augment=(), epochs=1)
    prep = prepare(config)
    run_dir = tempfile.TemporaryDirectory()  # removed when the benchmark ends
    trainer = Trainer(prep, Path(run_dir.name), lambda *a, **k: None, lambda: False)
    trainer.start_optimizer()
    trainer.step = trainer.make_step()
    trainer.model.eval()
    n = len(prep.data.val_y)

    def before() -> None:
        for start in range(0, n, trainer.eval_batch):
            x, y = trainer._val_batch(start, start + trainer.eval_batch)
            loss, predicted = trainer.step.evaluate(x, y)
        loss.item(), predicted.cpu()

    def with_samples() -> None:
        trainer.validate()

    times: dict[str, list[float]] = {"evaluate only": [], "validate with samples": []}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, run in (("evaluate only", before), ("validate with samples", with_samples)):
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values[1:]) for name, values in times.items()}
    for name, seconds in medians.items():
        print(f"{name:>22}: {seconds * 1000:7.1f} ms per pass over {n} validation images")
    print(f"ratio (with samples / evaluate only): {medians['validate with samples'] / medians['evaluate only']:.3f}")
    samples = trainer.validate()[4]
    started = time.perf_counter()
    analysis.analyse(prep.data.classes, prep.data.val_y.tolist(), samples["predicted"], samples["p_true"],
                     samples["p_predicted"], prep.data.val_paths)
    print(f"analyse: {(time.perf_counter() - started) * 1000:.1f} ms, once per run")


if __name__ == "__main__":
    main()
