"""Full fine-tune throughput on a GPU: the engine's training step against the plain loop.

Self-contained: no downloads, no dataset files. The images are the built-in set, rendered in memory by
the engine's own loader (stored at 256 px, random-cropped to 224 on the GPU), held on the GPU as uint8.

- engine: the engine's own pieces: ``BatchTransform`` (crop + flip on the GPU), ``TrainStep`` (bf16
  autocast, fp16 + GradScaler where bf16 is missing), the model in channels_last, SGD with one parameter
  group per layer group; a random batch of the stored images each step.
- plain fp32: torchvision ResNet-50 in NCHW, fp32 (TF32 matmuls allowed, as the engine), inputs already
  normalised on the GPU (no augmentation cost: generous to the baseline), the tutorial's step.
- plain AMP: the same with fp16 autocast + GradScaler, still NCHW.

Each is warmed up, then timed over ``--steps`` steps (synchronised). The roofline is the GPU's dense bf16
peak over the FLOPs of a training step, 3 x 8.18 GFLOP x (res / 224)^2 per image; the goal is 25% of it.

GPU: ``python benchmarks/gpu_throughput.py --out summary.json``. No GPU (checks it runs):
``python benchmarks/gpu_throughput.py --device cpu --quick``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core.groups import GROUPS  # noqa: E402
from tltui.engine import data, model as net, optim  # noqa: E402
from tltui.engine.augment import BatchTransform  # noqa: E402
from tltui.engine.step import TrainStep, autocast_dtype  # noqa: E402

FORWARD_FLOPS_224 = 8.18e9
PEAKS_TFLOPS = [  # dense bf16, by a substring of the device name (first match wins)
    ("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0),
    ("A100", 312.0), ("L40S", 362.0), ("A10G", 70.0), ("L4", 121.0), ("4090", 165.0),
]


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in PEAKS_TFLOPS if key in name), None)


def timed(step, batches, warmup: int, steps: int, device: torch.device) -> float:
    """Images per second of ``step`` over ``steps`` calls after ``warmup`` calls."""
    for i in range(warmup):
        step(*batches(i))
    _sync(device)
    started = time.perf_counter()
    for i in range(steps):
        step(*batches(i))
    _sync(device)
    return steps * batches(0)[1].shape[0] / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_case(images, labels, batch: int, args, device) -> float:
    torch.manual_seed(0)
    model, _, _ = net.build("resnet50", 10, "none")
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    net.set_trainable(model, set(GROUPS), "freeze")
    opt = optim.build("sgd", [(g, net.group_parameters(model, g), 0.01) for g in GROUPS], momentum=0.9,
                      weight_decay=1e-4)
    forward = torch.compile(model) if args.compile else model
    step = TrainStep(forward, opt, device)
    transform = BatchTransform(args.res, ("crop", "flip"), device, channels_last=device.type == "cuda")
    picks = [torch.randint(len(labels), (batch,), device=device) for _ in range(8)]

    def batches(i):
        idx = picks[i % len(picks)]
        return transform(images[idx], train=True), labels[idx]

    return timed(step, batches, args.warmup, args.steps, device)


def plain_case(images, labels, batch: int, args, device, amp: bool) -> float:
    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=10).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    transform = BatchTransform(args.res, (), device)
    inputs = [transform(images[torch.randint(len(labels), (batch,), device=device)][..., :args.res, :args.res],
                        train=False) for _ in range(4)]
    targets = [torch.randint(10, (batch,), device=device) for _ in range(4)]

    def step(x, y):
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    return timed(step, lambda i: (inputs[i % 4], targets[i % 4]), args.warmup, args.steps, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-sizes", default="128,256")
    parser.add_argument("--res", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, if not detected")
    parser.add_argument("--compile", action="store_true", help="torch.compile the engine's model")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny: 32 px, batch 8, 2 steps (a smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="write a JSON summary here")
    args = parser.parse_args()
    if args.quick:
        args.res, args.batch_sizes, args.warmup, args.steps = 32, "8", 1, 2
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = peak_flops(device, args.peak_tflops)
    roofline = peak / (3 * FORWARD_FLOPS_224 * (args.res / 224) ** 2) if peak else None

    started = time.perf_counter()
    loaded = data.load("builtin", image_size=args.res, augment=("crop", "flip"), val_fraction=0.2,
                       limit_per_class=0, seed=0)
    images, labels = loaded.train_x.to(device), loaded.train_y.to(device)
    print(f"{name}; torch {torch.__version__}; autocast {autocast_dtype(device)}; {len(labels)} images "
          f"{tuple(images.shape[1:])} uint8 on {device} (loaded in {time.perf_counter() - started:.1f} s); "
          f"{args.res} px; roofline {f'{roofline:,.0f} img/s' if roofline else 'unknown (use --peak-tflops)'}")

    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        # (a default binds each case to this batch)
        cases = [("engine" + (" +compile" if args.compile else ""),
                  lambda batch=batch: engine_case(images, labels, batch, args, device))]
        if not args.skip_plain:
            cases += [("plain fp32", lambda batch=batch: plain_case(images, labels, batch, args, device, amp=False))]
            if device.type == "cuda":
                cases += [("plain AMP fp16",
                           lambda batch=batch: plain_case(images, labels, batch, args, device, amp=True))]
        for label, measure in cases:
            try:
                rate = measure()
            except torch.cuda.OutOfMemoryError:
                rate = float("nan")
            rows.append({"case": label, "batch": batch, "images_per_s": rate,
                         "roofline_share": rate / roofline if roofline else None})
            print(f"  {label:18} batch {batch:4}: {rate:9,.1f} img/s", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()

    print()
    print(f"{'case':18} {'batch':>5} {'img/s':>10} {'of roofline':>12}")
    for row in rows:
        share = f"{row['roofline_share']:.1%}" if row["roofline_share"] is not None else "-"
        print(f"{row['case']:18} {row['batch']:>5} {row['images_per_s']:>10,.1f} {share:>12}")
    if roofline:
        best = max(r["images_per_s"] for r in rows if r["case"].startswith("engine"))
        print(f"engine best {best:,.0f} img/s = {best / roofline:.1%} of the bf16 roofline (goal 25%)")
    if args.out:
        args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "res": args.res,
                                        "peak_flops": peak, "roofline_images_per_s": roofline, "rows": rows},
                                       indent=2))


if __name__ == "__main__":
    main()
