"""The flags of a run (``tltui train``, ``lr-find``, ``export``) and the RunConfig they describe."""

from __future__ import annotations

import argparse
from typing import Any

from tltui.core import datasets
from tltui.core.errors import BadInput
from tltui.core.parsing import parse_setting
from tltui.core.presets import PRESETS, configure
from tltui.core.protocol.config import AUGMENTS, MAX_FILES, OPTIMIZERS, SCHEDULES, ConfigError, RunConfig


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Every run setting as a flag; a flag left out keeps the preset's (or the default) value."""
    d = RunConfig()
    parser.add_argument("data", metavar="DATA", help=f"a folder (ImageFolder) or one of: {', '.join(datasets.NAMES)}")
    parser.add_argument("--preset", choices=list(PRESETS), help="a usual recipe; other flags override it (probe: "
                        "a linear probe on the frozen features, L2 by cross-validation, one fit and no SGD epochs)")
    parser.add_argument("--model", help="resnet50; tiny: a small ResNet whose pretrained weights ship with tltui, 32 "
                        "px, seconds on a CPU; or timm:NAME, any timm image model (pip install -e \".[timm]\") "
                        f"(default {d.model})")
    parser.add_argument("--weights", help="pretrained (the model's own: ImageNet for resnet50, generated fractals for "
                        "tiny, the Hugging Face cache's for timm), imagenet, imagenet-v1, none, or a state_dict / "
                        f"safetensors file / run dir (default {d.weights})")
    parser.add_argument("--freeze", metavar="GROUPS",
                        help="groups to freeze: stem,layer1,...,layer4,head, all, backbone")
    parser.add_argument("--bn", choices=["freeze", "train"], help="BatchNorm of frozen groups (default freeze)")
    parser.add_argument("--epochs", type=int, help=f"default {d.epochs}; --preset probe has one, its fit")
    parser.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    parser.add_argument("--lr", type=lr_value, help=f"learning rate of the head (default {d.lr}), or auto: the LR "
                        "finder's suggestion (train only)")
    parser.add_argument("--lr-decay", type=float, help="each group below gets the LR above times this (default 1)")
    parser.add_argument("--unfreeze", metavar="E:GROUP,...",
                        help="a frozen group joins training at epoch E, e.g. 2:layer4,4:layer3")
    parser.add_argument("--head-first", action=argparse.BooleanOptionalAction,
                        help="fit the new head alone on the frozen features until its loss plateaus, before "
                        "epoch 1 (LP-FT's linear probe)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.optimizer}")
    parser.add_argument("--momentum", type=float, help=f"SGD momentum (default {d.momentum})")
    parser.add_argument("--weight-decay", type=float, help=f"default {d.weight_decay}")
    parser.add_argument("--schedule", choices=SCHEDULES, help=f"default {d.schedule}")
    parser.add_argument("--warmup-epochs", type=float, metavar="E",
                        help="warm the LR up linearly over the first E epochs (a fraction allowed), times the "
                        "schedule (default 0: none)")
    parser.add_argument("--label-smoothing", type=float, help="default 0")
    parser.add_argument("--image-size", type=int, help="pixels; default 224 on a GPU, 64 on the CPU, 32 for tiny, "
                        "a timm model's own")
    parser.add_argument("--augment", metavar="LIST", help=f"train augmentations from {','.join(AUGMENTS)} (default "
                        f"{','.join(d.augment)}; flip for photos where left and right do not matter)")
    parser.add_argument("--no-augment", action="store_true", help="no train augmentation")
    parser.add_argument("--limit-per-class", type=int, help="at most N training images per class")
    parser.add_argument("--val-fraction", type=float,
                        help=f"validation share of a single folder (default {d.val_fraction})")
    parser.add_argument("--seed", type=int, help="data split, order and init (default 0)")
    parser.add_argument("--shuffle-labels", action="store_true",
                        help="permute the labels once with the seed, train and val alike: a control whose "
                        "validation accuracy can only be chance")
    parser.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu (default auto)")
    parser.add_argument("--nproc", metavar="N|all",
                        help="processes of one run (torch.distributed): one per GPU, or N CPU processes with "
                        "--device cpu; all: every free GPU (default 1). --batch-size is then the global batch")
    parser.add_argument("--sync-bn", action="store_true",
                        help="with several processes, trainable BatchNorm normalises over the global batch")
    parser.add_argument("--deterministic", action="store_true",
                        help="torch's deterministic algorithms, no cuDNN autotuning: the same run again gives the "
                        "same weights, bit for bit (slower; trains in a process of its own)")
    parser.add_argument("--max-files", type=int, metavar="N",
                        help=f"walk a data folder of up to N files and folders (default {MAX_FILES:,})")
    parser.add_argument("--json", action="store_true", help="print one JSON event per line")
    parser.add_argument("--remote", metavar="[USER@]HOST",
                        help="train on HOST's worker through your ssh; the run goes on if you disconnect")


def lr_value(text: str) -> float | str:
    """``--lr``: a number, or ``auto`` (the LR finder picks it)."""
    return "auto" if text == "auto" else float(text)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the flags describe (``--lr auto`` leaves the LR as it is); BadInput with one line if
    they cannot work."""
    fields: dict[str, Any] = {}
    for name in ("model", "weights", "bn", "epochs", "batch_size", "lr", "lr_decay", "optimizer", "momentum",
                 "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "image_size", "limit_per_class",
                 "val_fraction", "seed", "device", "max_files"):
        value = getattr(args, name)
        if value is not None and value != "auto":
            fields[name] = value
    try:
        for field, text in (("frozen", args.freeze), ("unfreeze", args.unfreeze), ("augment", args.augment),
                            ("data", args.data), ("nproc", args.nproc)):
            if text is not None:
                fields[field] = parse_setting(field, text)
        if args.no_augment:
            fields["augment"] = ()
        if args.shuffle_labels:
            fields["shuffle_labels"] = True
        if args.head_first is not None:
            fields["head_first"] = args.head_first
        if args.sync_bn:
            fields["sync_bn"] = True
        if args.deterministic:
            fields["deterministic"] = True
        return configure(args.preset, **fields)
    except (ConfigError, ValueError) as error:
        raise BadInput(str(error)) from None
