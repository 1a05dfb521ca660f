"""A RunConfig as the plain PyTorch script that trains the same way (pure text: no torch here).

The script does what the engine does: the run's backbone (torchvision's ResNet-50, or tltui's tiny ResNet,
its class written out from ``engine/tiny.py``) with its weights and a new ``fc``, ``requires_grad`` per
group, the BatchNorm of frozen groups back in eval mode after every ``model.train()``, two optimizer
param groups per trainable group at its own LR (bottom to top; weight decay on its weights, none on its
norm weights and biases), ``add_param_group`` when a frozen group joins, and the schedule (times the
warm-up, if any) as a factor of each group's ``base_lr`` set before every step, a deterministic run's torch
settings first; it keeps the epoch with the best validation accuracy in ``best.pt`` and the last in
``last.pt``, plain state_dicts. Its data is what the run reads: a folder's
``train/`` and ``val/``, or its class folders split as ``engine/data.py`` splits them; a generated set
from the folder ``tltui export`` writes beside the script; a named set from torchvision's download.
ImageNet weights come through torchvision's weights API, and a machine that cannot get them gets one line.

Importing it runs nothing: ``build(num_classes, weights=...)`` returns the model and optimizer, ``main()``
trains (``python script.py [DATA] [--epochs N] [--weights FILE|none]``). Lines stay within 68 columns
where they can, the width of a code view in an 80-column lesson.
"""

from __future__ import annotations

import ast
import json
import shlex
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tltui.core import backbones, codegen_timm, datasets, linear_probe, paths, schedule
from tltui.core.backbones import Preprocessing
from tltui.core.groups import GROUPS, MODULES, depth_from_top
from tltui.core.presets import PROBE, apply_preset
from tltui.core.protocol.config import RunConfig

#: tltui's named ImageNet weights as torchvision's ``ResNet50_Weights``.
WEIGHTS = {"pretrained": "IMAGENET1K_V2", "imagenet": "IMAGENET1K_V2", "imagenet-v1": "IMAGENET1K_V1"}
WIDTH = 68
TINY_FILE = Path(__file__).resolve().parents[1] / "engine" / "tiny.py"
TINY_WEIGHTS = str(TINY_FILE.with_name("weights") / "tiny.pt")
"""The tiny backbone's pretrained weights, as tltui ships them (the script of a tiny run reads them)."""
RESNET50_SIZE = 224
"""ResNet-50's image size in a script whose run left it to the device (the engine's on a GPU)."""


def generate(config: RunConfig, data: str = "", pre: Preprocessing | None = None) -> str:
    """The script for ``config`` (one that passes ``check()`` and trains something in epoch 1); ``data``: for a
    generated set, the folder beside the script that ``tltui export`` writes its images into; ``pre``: a timm
    model's preprocessing as the worker resolves it (None: the script reads it from timm)."""
    top = "\n\n".join((_header(config, data), imports(config), constants(config, data=data, pre=pre),
                        groups_table(config)))
    defs = (*model_defs(config), *data_defs(config, data), _loaders(config), _evaluate(), OPTIONS,
            _main(config), ENTRY)
    return "\n\n\n".join([top, *(d for d in defs if d)]) + "\n"


ENTRY = 'if __name__ == "__main__":\n    main()'


def refusal(config: RunConfig) -> str:
    """Why ``config`` cannot be exported ('' where it can)."""
    if config.shuffle_labels and config.data in datasets.DOWNLOADED and datasets.TORCHVISION[config.data][1]:
        return (f"--shuffle-labels with {config.data}: the script can shuffle the labels of a folder (or eurosat) "
                "only; tltui train runs it")
    return ""


def model_defs(config: RunConfig) -> list[str]:
    """The definitions every generated script shares, in order (an empty string where ``config`` needs none):
    the optimizer's param groups, the tiny network's class for a tiny run, reading the weights, ``build``,
    ``unfreeze``, ``train_mode`` and the LR schedule."""
    tiny = config.model == "tiny"
    if backbones.is_timm(config.model):
        return [_param_groups(config), codegen_timm.groups_source(), codegen_timm.NETWORK, _build(config),
                _unfreeze(config), codegen_timm.train_mode(config), _schedule(config),
                codegen_timm.head_first(HEAD_FIRST) if config.head_first else ""]
    return [_param_groups(config), tiny_source() if tiny else "", *_weights_defs(config), _build(config),
            _unfreeze(config), _train_mode(config), _schedule(config), HEAD_FIRST if config.head_first else ""]


HEAD_FIRST = '''
def refresh_bn(model, loader, device):
    """The statistics of the BatchNorm layers that train, computed
    afresh over the training images (AdaBN), as tltui does before it
    fits the head: fine-tuning will normalise by the batch."""
    layers = [m for m in model.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm)
              and REFRESH(m)]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    with torch.no_grad():
        for images, _ in loader:
            model(images.to(device))
    for m in layers:
        m.momentum = 0.1
    model.eval()


def features(model, loader, device):
    """The head's input for every image (the pooled features), in
    eval mode: what the pretrained backbone computes, frozen."""
    model.eval()
    head, model.fc = model.fc, nn.Identity()
    xs, ys = [], []
    with torch.no_grad():
        for images, labels in loader:
            xs.append(model(images.to(device)).float())
            ys.append(labels.to(device))
    model.fc = head
    return torch.cat(xs), torch.cat(ys)


def solve(z, y, classes, l2, start=None):
    """Logistic regression on centred, scaled features z: the
    cross-entropy + l2/2 |W|^2, by L-BFGS until a step changes it
    under 1e-5."""
    w = torch.zeros(classes, z.shape[1], device=z.device)
    b = torch.zeros(classes, device=z.device)
    if start is not None:
        w, b = start[0].clone(), start[1].clone()
    onehot = nn.functional.one_hot(y, classes).float()
    opt = torch.optim.LBFGS(
        [w, b], max_iter=500, history_size=20, tolerance_grad=1e-5,
        tolerance_change=1e-5, line_search_fn="strong_wolfe")

    def objective():  # the gradient by hand: softmax minus one-hot
        logp = torch.log_softmax(z @ w.T + b, dim=1)
        residual = (logp.exp() - onehot) / len(z)
        w.grad, b.grad = residual.T @ z + l2 * w, residual.sum(0)
        penalty = l2 / 2 * (w * w).sum()
        return -(logp * onehot).sum() / len(z) + penalty

    opt.step(objective)
    return w, b


def folds(y, k=3):
    """Stratified folds as tltui deals them: each class shuffled by
    Python's random (SEED), dealt round the folds in turn."""
    by_class = {}
    for i, label in enumerate(y.tolist()):
        by_class.setdefault(label, []).append(i)
    k = min(k, min(len(v) for v in by_class.values()))
    if k < 2:
        return []
    rng, dealt = random.Random(SEED), 0
    held = [[] for _ in range(k)]
    for members in by_class.values():
        for i in rng.sample(members, len(members)):
            held[dealt % k].append(i)
            dealt += 1
    every = set(range(len(y)))
    return [(sorted(every - set(v)), sorted(v)) for v in held]


def fit_head(model, loader, device):
    """LP-FT's first stage (tltui's --head-first): the new head
    alone, fitted to convergence on the frozen features of the
    training images; its penalty by 3-fold cross-validation."""
    refresh_bn(model, loader, device)
    x, y = features(model, loader, device)
    classes = model.fc.out_features
    hits = dict.fromkeys(PENALTIES, 0)
    for train, held in folds(y):
        tr, va = torch.tensor(train), torch.tensor(held)
        mean = x[tr].mean(0)  # and one scale for all dimensions
        sd = x[tr].var(0, unbiased=False).mean().sqrt()
        sd = sd.clamp_min(1e-6)
        start = None
        for l2 in PENALTIES:  # largest first, each the next's start
            z = (x[tr] - mean) / sd
            start = solve(z, y[tr], classes, l2, start)
            logits = (x[va] - mean) / sd @ start[0].T + start[1]
            hits[l2] += (logits.argmax(1) == y[va]).sum().item()
    most = max(hits.values())
    l2 = next(p for p in PENALTIES if hits[p] == most)
    if not any(hits.values()):  # no folds: a class with one image
        l2 = PENALTIES[len(PENALTIES) // 2]
    mean = x.mean(0)
    sd = x.var(0, unbiased=False).mean().sqrt().clamp_min(1e-6)
    w, b = solve((x - mean) / sd, y, classes, l2)
    with torch.no_grad():  # for raw features: nn.Linear's weights
        model.fc.weight.copy_(w / sd)
        model.fc.bias.copy_(b - (w / sd) @ mean)
    print(f"head fitted first (a linear probe, L2 {l2:g})")'''.strip()
"""The generated script's LP-FT first stage: engine/probe.py's ``fit_cv`` in plain torch (it cross-validates
on every training image: tltui caps that at ``probe.CV_MAX_IMAGES``)."""


def image_size(config: RunConfig, pre: Preprocessing | None = None) -> int:
    """The side the script's images are cropped to: the run's, else the model's own (the tiny one's, a timm
    model's in ``pre``, or ResNet-50's on a GPU)."""
    if backbones.is_timm(config.model) and pre is not None:
        return config.image_size or pre.image_size
    return config.image_size or (_tiny_constant("IMAGE_SIZE") if config.model == "tiny" else RESNET50_SIZE)


def data_folder(config: RunConfig, data: str = "") -> str:
    """The folder the script reads when no DATA is given: the run's own; for a generated set ``data`` (the
    folder ``tltui export`` writes beside the script), else ``<name>_data``; for a named set, where tltui
    downloads it."""
    if config.data in datasets.BUILTIN:
        return data or f"{config.data}_data"
    if config.data in datasets.DOWNLOADED:
        return str(paths.datasets_dir())
    return config.data


def lr_expression(config: RunConfig, group: str) -> str:
    """``group``'s LR as the script writes it, e.g. ``HEAD_LR * DECAY**2``: exactly ``group_lr``."""
    if group in config.group_lrs:
        return repr(config.group_lrs[group])
    depth = depth_from_top(group)
    if config.lr_decay == 1 or depth == 0:
        return "HEAD_LR"
    return "HEAD_LR * DECAY" + (f"**{depth}" if depth > 1 else "")


def joining(config: RunConfig) -> dict[int, list[str]]:
    """Epoch -> the groups that join training then, bottom to top (the engine's order)."""
    plan: dict[int, list[str]] = {}
    for group in GROUPS:
        if group in config.frozen and group in config.unfreeze:
            plan.setdefault(config.unfreeze[group], []).append(group)
    return dict(sorted(plan.items()))


def describe(config: RunConfig) -> str:
    """What trains when, in one sentence."""
    if config.preset == PROBE:
        return ("a linear probe: the head alone, fitted once to convergence on the frozen features (its L2 penalty "
                "by cross-validation on the training images), with no epoch of SGD after it")
    start = config.trainable_at(1)
    words = "every group trains" if len(start) == len(GROUPS) else f"{span(start)} {_verb(start)} from the start"
    for epoch, groups in joining(config).items():
        words += f"; {', '.join(groups)} {_verb(groups, 'join')} at epoch {epoch}"
    never = [g for g in GROUPS if g not in config.trainable_at(config.epochs)]
    if never:
        words += f"; {span(never)} frozen throughout"
    if config.head_first:
        words = "the head is fitted alone first (a linear probe on the frozen features); then " + words
    return words


def command_line(config: RunConfig) -> str:
    """The same run with ``tltui train``: the flags that differ from the defaults."""
    return " ".join(command_words(config))


def command_words(config: RunConfig) -> list[str]:
    """``tltui train DATA``, then each flag with its value (a probe: ``--preset probe``, then the flags that
    differ from it)."""
    probe = config.preset == PROBE
    default = apply_preset(RunConfig(), PROBE) if probe else RunConfig()
    flags = [f"tltui train {shlex.quote(config.data)}", *([f"--preset {PROBE}"] if probe else [])]
    if config.frozen != default.frozen:
        flags.append(f"--freeze {','.join(g for g in GROUPS if g in config.frozen)}")
    if config.unfreeze:
        flags.append("--unfreeze " + ",".join(f"{e}:{g}" for e, gs in joining(config).items() for g in gs))
    for field in ("model", "lr", "lr_decay", "epochs", "optimizer", "schedule", "warmup_epochs", "weights", "bn",
                  "image_size", "batch_size", "limit_per_class", "label_smoothing", "seed"):
        value = getattr(config, field)
        if value != getattr(default, field):
            text = f"{value:g}" if isinstance(value, float) else shlex.quote(str(value))
            flags.append(f"--{field.replace('_', '-')} {text}")
    if config.augment != default.augment:
        flags.append(f"--augment {','.join(config.augment)}" if config.augment else "--no-augment")
    if config.head_first and not default.head_first:
        flags.append("--head-first")
    if config.shuffle_labels:
        flags.append("--shuffle-labels")
    if config.nproc != 1:
        flags.append(f"--nproc {config.nproc or 'all'}")
    if config.sync_bn:
        flags.append("--sync-bn")
    if config.deterministic:
        flags.append("--deterministic")
    return flags


def _verb(groups: Sequence[str], verb: str = "train") -> str:
    return verb + "s" if len(groups) == 1 else verb


def span(groups: Sequence[str]) -> str:
    """``stem..layer3`` for three or more neighbours, else a comma list."""
    indices = [GROUPS.index(g) for g in groups]
    if len(groups) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{groups[0]}..{groups[-1]}"
    return ", ".join(groups)


def _str(text: str) -> str:
    """A Python string literal in double quotes."""
    return json.dumps(text, ensure_ascii=False)


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"


def _imagenet(config: RunConfig) -> bool:
    """Whether the script's weights are ImageNet's (a download the first time)."""
    return config.model == "resnet50" and config.weights in WEIGHTS


def _splits(config: RunConfig) -> bool:
    """Whether the script may split one set into train and val itself (a folder, a generated set, EuroSAT)."""
    return not (config.data in datasets.DOWNLOADED and datasets.TORCHVISION[config.data][1])


def _header(config: RunConfig, data: str) -> str:
    model = "tltui's tiny ResNet" if config.model == "tiny" else \
        f"timm's {backbones.timm_name(config.model)}" if backbones.is_timm(config.model) else "ResNet-50"
    lines = [f"Fine-tune {model} the way tltui does.", ""]
    lines += textwrap.wrap(describe(config) + ".", WIDTH)
    lines += ["", "The same run in tltui:"]
    command = ["    "]
    for flag in command_words(config):
        if len(command[-1]) + len(flag) > WIDTH - 2 and command[-1].strip():
            command[-1] += "\\"
            command.append("        ")
        command[-1] += flag + " "
    lines += [line.rstrip() for line in command]
    lines += ["", *data_lines(config, data), "",
              "Run: python this_script.py [DATA] [--epochs N] [--weights FILE|none]",
              *textwrap.wrap("It keeps the best epoch's weights in best.pt and the last in last.pt: "
                             + checkpoint_words(config) + ".", WIDTH)]
    text = "\n".join(lines).replace('"""', '" " "')
    return f'r"""{text}\n"""'  # raw: the command's line continuations stay single backslashes


def checkpoint_words(config: RunConfig) -> str:
    """What ``best.pt`` and ``last.pt`` load into."""
    if config.model == "tiny":
        return "state_dicts for TinyResNet(num_classes=N) below, which is tltui.engine.tiny.TinyResNet"
    if backbones.is_timm(config.model):
        return "plain state_dicts for create(num_classes=N) below: timm's MODEL at IMAGE_SIZE"
    return "plain state_dicts for torchvision's resnet50(num_classes=N)"


def data_lines(config: RunConfig, data: str) -> list[str]:
    """The header's words on DATA: what it must hold, how a single folder is split, where a generated or a
    named set comes from, and what the script leaves to tltui."""
    words = []
    if config.data in datasets.DOWNLOADED:
        words.append(f"DATA: where torchvision downloads {config.data} the first time (that needs internet) "
                     "and reads it from; the script trains and validates on the splits tltui uses.")
    else:
        words.append("DATA: a folder with train/ and val/, each with a folder of images per class; or one "
                     "folder of class folders (or a train/ of them).")
    if config.data in datasets.BUILTIN:
        words.append(f"Here DATA is {config.data}, rendered by tltui with seed {config.seed} and written beside "
                     "this script by tltui export." if data else
                     f"{config.data} is generated by tltui: tltui export {config.data} -o FILE writes its images "
                     "beside FILE for the script of FILE.")
    if _splits(config):
        words.append(f"One set is split as tltui splits it: VAL_FRACTION ({config.val_fraction:g}) of each "
                     "class (one image at least) held out for validation, drawn by numpy's generator seeded 0 "
                     "whatever SEED (the same images every run) from the same files (images by extension, "
                     "hidden ones left out); a file no image library reads stops the script, where tltui "
                     "skips it.")
    if config.limit_per_class:
        words.append(f"--limit-per-class {config.limit_per_class} is tltui's alone: this script trains on "
                     "every image.")
    return [line for text in words for line in textwrap.wrap(text, WIDTH)]


def imports(config: RunConfig, distributed: bool = False) -> str:
    """The import lines of a generated script; ``distributed``: the DDP script's."""
    stdlib = ["argparse", *(["copy"] if config.head_first else []),
              *(["math"] if config.schedule != "constant" else []), "os",
              *(["random"] if config.head_first else []), *(["re"] if backbones.is_timm(config.model) else []),
              *(["socket"] if _imagenet(config) else []), "sys"]
    lines = [f"import {m}" for m in stdlib] + [""]
    lines += ["import numpy as np"] if _splits(config) else []
    lines += [
        "import torch",
        *(["import torch.distributed as dist"] if distributed else []),
        "from torch import nn",
        *(["from torch.nn.parallel import DistributedDataParallel as DDP"] if distributed else []),
        "from torch.utils.data import DataLoader" + (", Subset" if distributed else ""),
        *(["from torch.utils.data.distributed import DistributedSampler"] if distributed else []),
        "from torchvision import datasets, transforms",
    ]
    if config.model == "tiny":
        lines.append("from torchvision.models.resnet import BasicBlock, ResNet")
    elif backbones.is_timm(config.model):
        lines.insert(lines.index("import torch"), "import timm")
    elif _imagenet(config):
        lines.append("from torchvision.models import ResNet50_Weights, resnet50")
    else:
        lines.append("from torchvision.models import resnet50")
    return "\n".join(lines)


def constants(config: RunConfig, distributed: bool = False, data: str = "", pre: Preprocessing | None = None) -> str:
    """The settings at the top of a generated script; ``distributed``: the DDP script's (its batch is the
    global one, and it may sync BatchNorm); ``data`` and ``pre`` as ``generate`` takes them."""
    sizes = (codegen_timm.constants(config, pre) if backbones.is_timm(config.model) else
             [f"IMAGE_SIZE = {image_size(config)}"])
    lines = [*_data_constant(config, data), f"EPOCHS = {config.epochs}",
             f"BATCH_SIZE = {config.batch_size}" + ("  # global: over all processes" if distributed else ""),
             *sizes, f"HEAD_LR = {config.lr!r}"]
    if config.lr_decay != 1:
        lines.append(f"DECAY = {config.lr_decay!r}  # each group's LR: the one above's times DECAY")
    if config.warmup_epochs:
        lines.append(f"WARMUP_EPOCHS = {config.warmup_epochs!r}  # the LR rises linearly over them")
    lines.append(f"SEED = {config.seed}")
    if _splits(config):
        lines.append(f"VAL_FRACTION = {config.val_fraction!r}  # of one set, held out (see above)")
    lines += _weights_constant(config)
    if distributed:
        lines.append(f"SYNC_BN = {config.sync_bn}  # BatchNorm over the global batch (GPUs)")
    if config.shuffle_labels:
        lines.append("SHUFFLE_LABELS = True  # a control: labels no image can predict")
    if config.head_first:
        penalties = ", ".join(f"{p:g}" for p in sorted(linear_probe.L2_GRID, reverse=True))
        lines.append(f"PENALTIES = ({penalties})  # the head's L2s")
        lines.append("REFRESH = lambda bn: True  # bn=train: all BatchNorm trains" if config.bn == "train" else
                     "REFRESH = lambda bn: bn.weight.requires_grad  # the BN that trains")
    return "\n".join(lines)


def _data_constant(config: RunConfig, data: str) -> list[str]:
    folder = _str(data_folder(config, data))
    if config.data in datasets.BUILTIN and data:
        return [f"# {config.data} as tltui renders it, written beside this script",
                "DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),",
                f"                    {folder})"]
    if config.data in datasets.BUILTIN:
        return [f"# {config.data} is generated: tltui export {config.data} -o FILE", f"DATA = {folder}"]
    if config.data in datasets.DOWNLOADED:
        return [f"# where torchvision downloads {config.data} (internet, once)", f"DATA = {folder}"]
    return [f"DATA = {folder}"]


def _weights_constant(config: RunConfig) -> list[str]:
    if config.weights == "none":
        return ["WEIGHTS = None  # random initialisation; or a state_dict file"]
    if _imagenet(config):
        return [f'WEIGHTS = "{WEIGHTS[config.weights]}"  # ImageNet\'s (torchvision); or a file']
    if config.model == "tiny" and config.weights == "pretrained":
        return ["# tltui's tiny weights, pretrained on generated fractals", f"WEIGHTS = {_str(TINY_WEIGHTS)}"]
    if backbones.is_timm(config.model) and config.weights == "pretrained":
        return codegen_timm.weights_constant(config)
    return ["# a state_dict file or a tltui run folder (its best.pt)", f"WEIGHTS = {_str(config.weights)}"]


def groups_table(config: RunConfig | None = None) -> str:
    """``params(model, group)``: by the module names of each group, or for a timm model by ``six_groups``."""
    if config is not None and backbones.is_timm(config.model):
        return codegen_timm.groups_table()
    rows = "\n".join(f"    {_str(g)}: {_list(MODULES[g])}," for g in GROUPS)
    return (
        "# tltui's six groups of ResNet-50, bottom to top: module names.\n"
        f"GROUPS = {{\n{rows}\n}}\n\n\n"
        "def params(model, group):\n"
        "    modules = [getattr(model, name) for name in GROUPS[group]]\n"
        "    return [p for m in modules for p in m.parameters()]"
    )


def _param_groups(config: RunConfig) -> str:
    lrs = '"name": group, "lr": lr' + (', "base_lr": lr' if stepped(config) else "")
    return (
        "def opt_groups(model, group, lr):\n"
        '    """A layer group\'s two optimizer param groups at its lr: weight\n'
        "    decay on its weights, none on norm weights and biases (1-d)."
        + ("\n    The schedule sets lr from base_lr at every step." if stepped(config) else "")
        + '"""\n'
        "    ps = params(model, group)\n"
        f"    same = {{{lrs}}}\n"
        "    return [\n"
        '        {"params": [p for p in ps if p.ndim > 1], **same},\n'
        '        {"params": [p for p in ps if p.ndim <= 1], **same,\n'
        '         "weight_decay": 0.0},\n'
        "    ]"
    )


def _weights_defs(config: RunConfig) -> list[str]:
    """``imagenet`` (ImageNet's weights through torchvision, one line where it cannot get them) where the
    script's weights are ImageNet's, and ``backbone``, which reads the weights ``build`` is given."""
    imagenet = (
        "def imagenet(name):\n"
        '    """ImageNet\'s weights `name` from torch\'s hub cache, downloaded\n'
        '    there the first time; one line where they cannot be."""\n'
        "    weights = ResNet50_Weights[name]\n"
        "    socket.setdefaulttimeout(20)  # offline: fail, never hang\n"
        "    try:\n"
        "        return weights.get_state_dict(progress=False)\n"
        "    except Exception as error:  # DNS, socket, HTTP, disk: not there\n"
        '        cache = os.path.join(torch.hub.get_dir(), "checkpoints")\n'
        "        file = os.path.basename(weights.url)\n"
        '        sys.exit(f"ResNet-50 ImageNet weights are not in {cache} "\n'
        '                 "and could not be downloaded "\n'
        '                 f"({type(error).__name__}): put {file} there, or "\n'
        '                 "use --weights FILE (a state_dict) or "\n'
        '                 "--weights none")\n'
        "    finally:\n"
        "        socket.setdefaulttimeout(None)"
    )
    lines = [
        "def backbone(weights):",
        '    """The state_dict of `weights` less its head: ' + ("ImageNet\'s by\n"
        '    name (IMAGENET1K_V2), or a file or tltui run folder."""' if _imagenet(config) else
        'a state_dict\n    file, or a tltui run folder (its best.pt)."""'),
    ]
    if _imagenet(config):
        lines += ["    if weights in ResNet50_Weights.__members__:", "        return headless(imagenet(weights))"]
    lines += [
        "    if os.path.isdir(weights):  # a tltui run folder",
        '        weights = os.path.join(weights, "best.pt")',
        "    if not os.path.isfile(weights):",
        '        sys.exit(f"--weights {weights}: no such file")',
        '    return headless(torch.load(weights, map_location="cpu"))',
        "",
        "",
        "def headless(state):",
        '    """`state` without the head: the new one stays."""',
        "    return {k: v for k, v in state.items()",
        '            if not k.startswith("fc.")}',
    ]
    return [imagenet if _imagenet(config) else "", "\n".join(lines)]


def _build(config: RunConfig) -> str:
    """``build``: the run's backbone, with the weights ``backbone`` reads (the file tltui ships for a tiny
    run's pretrained ones), a new head, the frozen groups and the optimizer."""
    start = config.trainable_at(1)
    frozen = [g for g in GROUPS if g not in start]
    if config.model == "tiny":
        lines = [
            'def build(num_classes, device="cpu", weights=WEIGHTS):',
            '    """tltui\'s tiny backbone with `weights` (None: random), a new',
            '    head, frozen groups, optimizer."""',
            "    model = TinyResNet(num_classes)  # its head drawn as tltui's",
            "    if weights is not None:",
            "        model.load_state_dict(backbone(weights), strict=False)",
        ]
    elif backbones.is_timm(config.model):
        lines = [
            'def build(num_classes, device="cpu", weights=WEIGHTS):',
            '    """timm\'s MODEL with `weights` (None: random), a new head,',
            '    frozen groups, optimizer."""',
            "    model = network(num_classes, weights)",
        ]
    else:
        lines = [
            'def build(num_classes, device="cpu", weights=WEIGHTS):',
            '    """ResNet-50 with `weights` (None: random), a new head, frozen',
            '    groups, optimizer."""',
            "    model = resnet50()",
            "    if weights is not None:",
            "        model.load_state_dict(backbone(weights), strict=False)",
            "    model.fc = nn.Linear(model.fc.in_features, num_classes)",
        ]
    lines.append("    model.to(device)")
    if frozen:
        lines += [
            f"    for group in {_list(frozen)}:",
            "        for p in params(model, group):  # frozen at the start",
            "            p.requires_grad = False",
        ]
    calls = [f"*opt_groups(model, {_str(g)}, {lr_expression(config, g)})," for g in start]
    width = max(map(len, calls))
    lines.append(f"    optimizer = torch.optim.{ {'sgd': 'SGD', 'adamw': 'AdamW'}[config.optimizer] }([")
    lines += [f"        {call:<{width}}  # {config.group_lr(g):.1e}" for call, g in zip(calls, start, strict=True)]
    options = (f"momentum={config.momentum!r}, " if config.optimizer == "sgd" else "") + \
        f"weight_decay={config.weight_decay!r}"
    lines += [f"    ], {options})", "    return model, optimizer"]
    return "\n".join(lines)


def _unfreeze(config: RunConfig) -> str:
    if not config.unfreeze:
        return ""
    return (
        "def unfreeze(model, optimizer, group, lr):\n"
        '    """The group joins: gradients on, and param groups of its own\n'
        '    (the groups already there keep their state)."""\n'
        "    for p in params(model, group):\n"
        "        p.requires_grad = True\n"
        "    for pg in opt_groups(model, group, lr):\n"
        "        optimizer.add_param_group(pg)"
    )


def _train_mode(config: RunConfig) -> str:
    if not config.frozen or config.bn == "train":
        return ""
    return (
        "def train_mode(model, optimizer):\n"
        '    """model.train(), then frozen groups\' BatchNorm back in eval\n'
        '    mode: its running statistics keep their pretrained values."""\n'
        "    model.train()\n"
        '    training = {pg["name"] for pg in optimizer.param_groups}\n'
        "    for group, names in GROUPS.items():\n"
        "        if group not in training:\n"
        "            for name in names:\n"
        "                for m in getattr(model, name).modules():\n"
        "                    if isinstance(m, nn.BatchNorm2d):\n"
        "                        m.eval()"
    )


def _schedule(config: RunConfig) -> str:
    """The engine's own schedule function, and its warm-up's when it has one, as source (tltui/core/schedule.py)."""
    functions = (schedule.source(config.schedule), schedule.source("warmup", "warmup") if config.warmup_epochs else "")
    return "\n\n\n".join(f for f in functions if f)


def stepped(config: RunConfig) -> bool:
    """Whether the script sets each group's LR at every step: a schedule or a warm-up."""
    return config.schedule != "constant" or config.warmup_epochs > 0


def _loaders(config: RunConfig) -> str:
    return (
        "def loaders():\n"
        '    """The sets image_sets gives, normalised as ImageNet was for\n'
        '    the weights."""\n'
        + image_folders(config) +
        "    return (DataLoader(train_set, BATCH_SIZE, shuffle=True,\n"
        "                       drop_last=True),\n"
        "            DataLoader(val_set, BATCH_SIZE * 2)"
        + (",\n            DataLoader(probe_set, BATCH_SIZE))" if config.head_first else ")")
    )


def image_folders(config: RunConfig, distributed: bool = False) -> str:
    """The body lines of a generated ``loaders`` that build ``train_set`` and ``val_set`` as the engine
    prepares images (engine/data.py, engine/augment.py): the shorter side resized to size / 0.875 (a timm
    model's validation images: size / its crop_pct, as timm's eval transform) and centre-cropped, or a random
    crop; flips and colour jitter as asked; ImageNet's normalisation (a timm model's own).
    ``distributed``: in the DDP script, where rank 0 downloads a named set before the others read it."""
    train = (["transforms.RandomResizedCrop(IMAGE_SIZE, scale=(0.25, 1.0))"] if "crop" in config.augment
             else ["transforms.Resize(round(IMAGE_SIZE / 0.875))", "transforms.CenterCrop(IMAGE_SIZE)"])
    if "flip" in config.augment:
        train.append("transforms.RandomHorizontalFlip()")
    if "color" in config.augment:
        train.append("transforms.ColorJitter(0.2, 0.2, 0.2, 0.05)")
    timm = backbones.is_timm(config.model)
    norm, mode = ("normalise", ",\n            interpolation=mode") if timm else ("imagenet", "")
    if timm:  # the model's own resize filter
        train = [t[:-1] + mode + ")" if t.startswith(("transforms.Resize", "transforms.RandomResizedCrop")) else t
                 for t in train]
    steps = "".join(f"        {t},\n" for t in [*train, "transforms.ToTensor()", norm])
    return (
        (codegen_timm.normalise_lines() if timm else
         "    imagenet = transforms.Normalize(mean=[0.485, 0.456, 0.406],\n"
         "                                    std=[0.229, 0.224, 0.225])\n")
        + f"    train_tf = transforms.Compose([\n{steps}    ])\n"
        "    val_tf = transforms.Compose([\n"
        f"        transforms.Resize({'int(IMAGE_SIZE / CROP_PCT)' if timm else 'round(IMAGE_SIZE / 0.875)'}{mode}),\n"
        "        transforms.CenterCrop(IMAGE_SIZE),\n"
        "        transforms.ToTensor(),\n"
        f"        {norm},\n"
        "    ])\n"
        + (_FIRST if distributed and config.data in datasets.DOWNLOADED else _SETS)
        + (_SHUFFLE if config.shuffle_labels else "")
        + (_PROBE_SET if config.head_first else "")
    )


_PROBE_SET = (
    "    probe_set = copy.copy(train_set)  # the training images as\n"
    "    probe_set.transform = val_tf  # validated: the head's first fit\n"
)


_SETS = "    train_set, val_set = image_sets(train_tf, val_tf)\n"
_FIRST = (
    "    if rank:  # rank 0 downloads first, then the others read\n"
    "        dist.barrier()\n"
    f"{_SETS}"
    "    if not rank:\n"
    "        dist.barrier()\n"
)


def data_defs(config: RunConfig, data: str = "") -> list[str]:
    """``image_sets``, which the loaders call for the training and validation sets, and what it needs:
    for a folder (or a generated set) ``Folder`` and ``split``; for a named set torchvision's class."""
    if config.data in datasets.DOWNLOADED:
        return [_named_sets(config), _split() if _splits(config) else ""]
    missing = ('        sys.exit(f"no such folder: {DATA} (tltui export "\n'
               f'                 "{config.data} -o FILE writes it beside FILE)")\n'
               if config.data in datasets.BUILTIN and not data else
               '        sys.exit(f"no such folder: {DATA}")\n')
    sets = (
        "def image_sets(train_tf, val_tf):\n"
        '    """DATA\'s train/ and val/; or its class folders (its train/\'s\n'
        '    where there is no val/), split as tltui splits them."""\n'
        '    train = os.path.join(DATA, "train")\n'
        '    val = os.path.join(DATA, "val")\n'
        "    if os.path.isdir(train) and os.path.isdir(val):\n"
        "        train_set = Folder(train, train_tf)\n"
        "        val_set = Folder(val, val_tf)\n"
        "        if val_set.classes != train_set.classes:\n"
        '            sys.exit(f"{val} needs the class folders of {train}")\n'
        "        return train_set, val_set\n"
        "    if not os.path.isdir(DATA):\n"
        f"{missing}"
        "    folder = train if os.path.isdir(train) else DATA\n"
        "    return split(Folder(folder, train_tf), Folder(folder, val_tf))"
    )
    folder = (
        "\n".join(textwrap.wrap(f"IMAGE_TYPES = ({', '.join(map(_str, datasets.IMAGE_EXTENSIONS))})", WIDTH,
                                 subsequent_indent=" " * 15)) + "\n"
        "\n\n"
        "class Folder(datasets.ImageFolder):\n"
        '    """An ImageFolder of the files tltui reads: images by their\n'
        '    extension; hidden files and folders left out."""\n'
        "\n"
        "    def __init__(self, root, transform):\n"
        "        super().__init__(root, transform, is_valid_file=image_file)\n"
        "\n"
        "    def find_classes(self, directory):\n"
        "        names = sorted(e.name for e in os.scandir(directory)\n"
        '                       if e.is_dir() and not e.name.startswith("."))\n'
        "        return names, {name: i for i, name in enumerate(names)}\n"
        "\n\n"
        "def image_file(path):\n"
        "    name = os.path.basename(path)\n"
        '    return name.lower().endswith(IMAGE_TYPES) and name[0] != "."'
    )
    return [sets, folder, _split()]


def _split() -> str:
    """``split``: the engine's stratified hold-out (engine/data.py ``_split``), numpy draw for numpy draw."""
    return (
        "def split(train_set, val_set):\n"
        '    """Hold out VAL_FRACTION of each class (one image at least) for\n'
        "    validation as tltui does: numpy's generator seeded 0 whatever\n"
        '    SEED, so every run of one set holds out the same images."""\n'
        "    rng = np.random.default_rng(0)\n"
        "    train, val = [], []\n"
        "    for label in range(len(train_set.classes)):\n"
        "        mine = [s for s in train_set.samples if s[1] == label]\n"
        "        order = rng.permutation(len(mine))\n"
        "        n = max(1, round(len(mine) * VAL_FRACTION))\n"
        "        n = n if len(mine) > 1 else 0\n"
        "        val += [mine[i] for i in sorted(order[:n])]\n"
        "        train += [mine[i] for i in sorted(order[n:])]\n"
        "    for ds, samples in ((train_set, train), (val_set, val)):\n"
        "        ds.samples = ds.imgs = samples\n"
        "        ds.targets = [y for _, y in samples]\n"
        "    return train_set, val_set"
    )


def _named_sets(config: RunConfig) -> str:
    """``image_sets`` of a named set: torchvision's class, the splits the engine uses (engine/data.py),
    downloaded into DATA the first time; one line where that cannot be."""
    kind, splits = datasets.TORCHVISION[config.data]
    train, val = (f'"{split}", ' for split in splits) if splits else ("", "")
    how = f"its {splits[0]} and {splits[1]} splits" if splits else "split as tltui splits it"
    return (
        "def image_sets(train_tf, val_tf):\n"
        f'    """{config.data}, {how}; torchvision downloads\n'
        '    it into DATA the first time (that needs internet)."""\n'
        "    try:\n"
        f"        train_set = datasets.{kind}(\n"
        f"            DATA, {train}train_tf, download=True)\n"
        f"        val_set = datasets.{kind}(\n"
        f"            DATA, {val}val_tf, download=True)\n"
        "    except (OSError, RuntimeError) as error:  # offline, or damaged\n"
        f'        sys.exit(f"cannot download {config.data} into {{DATA}} "\n'
        '                 f"({type(error).__name__}; offline?): download it "\n'
        '                 "there on a connected machine, or give a folder")\n'
        + ("    return train_set, val_set" if splits else "    return split(train_set, val_set)")
    )


OPTIONS = (  # the script's command line: DATA, --epochs, --weights over the settings at its top
    "def options():\n"
    '    """DATA, --epochs and --weights from the command line, else the\n'
    '    settings above."""\n'
    "    parser = argparse.ArgumentParser()\n"
    '    parser.add_argument("data", nargs="?", default=DATA,\n'
    '                        help="default: DATA above")\n'
    '    parser.add_argument("--epochs", type=int, default=EPOCHS)\n'
    "    parser.add_argument(\n"
    '        "--weights", default=WEIGHTS,\n'
    '        help="a state_dict file or tltui run folder, or none")\n'
    "    args = parser.parse_args()\n"
    "    if args.epochs < 1:\n"
    '        parser.error("--epochs must be at least 1")\n'
    '    if args.weights == "none":\n'
    "        args.weights = None\n"
    "    return args"
)


ARGUMENTS = [
    "    global DATA, EPOCHS  # the command line may set them",
    "    args = options()",
    "    DATA, EPOCHS = args.data, args.epochs",
]
"""The first lines of a generated ``main``: the command line read."""


_SHUFFLE = (
    "    if SHUFFLE_LABELS:  # permute labels once, train and val alike\n"
    "        g = torch.Generator().manual_seed(SEED)\n"
    "        for ds in (train_set, val_set):\n"
    "            order = torch.randperm(len(ds.targets), generator=g)\n"
    "            ds.targets = [ds.targets[i] for i in order.tolist()]\n"
    "            ds.samples = [(path, y) for (path, _), y\n"
    "                          in zip(ds.samples, ds.targets)]\n"
)


def _evaluate() -> str:
    return (
        "def evaluate(model, loader, device):\n"
        "    model.eval()\n"
        "    correct = 0\n"
        "    with torch.no_grad():\n"
        "        for images, labels in loader:\n"
        "            predicted = model(images.to(device)).argmax(1)\n"
        "            correct += (predicted == labels.to(device)).sum().item()\n"
        "    return correct / len(loader.dataset)"
    )


def deterministic_lines(config: RunConfig) -> list[str]:
    """A deterministic run's settings (torchvision's reference ``--use-deterministic-algorithms``), before any
    CUDA work: cuBLAS needs its fixed workspace, cuDNN its deterministic kernels and no autotuning."""
    if not config.deterministic:
        return []
    return [
        "    # --deterministic: the same run again, the same weights",
        '    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")',
        "    torch.use_deterministic_algorithms(True)",
        "    torch.backends.cudnn.benchmark = False",
        "    torch.backends.cudnn.deterministic = True",
    ]


def _main(config: RunConfig) -> str:
    start = [
        "def main():",
        *ARGUMENTS,
        *deterministic_lines(config),
        "    torch.manual_seed(SEED)",
        '    device = "cuda" if torch.cuda.is_available() else "cpu"',
        "    train_loader, val_loader" + (", probe_loader" if config.head_first else "") + " = loaders()",
        "    classes = train_loader.dataset.classes",
        "    model, optimizer = build(len(classes), device=device,",
        "                             weights=args.weights)",
        *(["    fit_head(model, probe_loader, device)"] if config.head_first else []),
    ]
    if config.preset == PROBE:
        return "\n".join(start + _PROBE_END)
    return "\n".join(start + [
        *loop_start(config),
        *epoch_loop(config),
        '        print(f"epoch {epoch}: val accuracy {accuracy:.1%}")',
        "        if accuracy > best:  # keep the best epoch, not the last",
        "            best = accuracy",
        '            torch.save(model.state_dict(), "best.pt")',
        '    torch.save(model.state_dict(), "last.pt")',
        '    print(f"best val accuracy {best:.1%}: best.pt; last.pt")',
    ])


_PROBE_END = [
    "    # the probe: no epoch after the fit (--epochs is not read)",
    "    accuracy = evaluate(model, val_loader, device)",
    '    print(f"the probe: val accuracy {accuracy:.1%}")',
    '    torch.save(model.state_dict(), "best.pt")',
    '    torch.save(model.state_dict(), "last.pt")',
]
"""The end of a probe's ``main``: the fitted head validated once and saved, as ``tltui train --preset probe``
saves its one epoch."""


def loop_start(config: RunConfig) -> list[str]:
    """The lines before a generated training loop, and its first: the loss, the schedule's step count, the
    best accuracy so far, the loop over epochs."""
    smoothing = f"label_smoothing={config.label_smoothing!r}" if config.label_smoothing else ""
    return [
        f"    loss_fn = nn.CrossEntropyLoss({smoothing})",
        *(["    total, step = EPOCHS * len(train_loader), 0"] if stepped(config) else []),
        *(["    warm = max(1, round(WARMUP_EPOCHS * len(train_loader)))"] if config.warmup_epochs else []),
        "    best = -1.0",
        "    for epoch in range(1, EPOCHS + 1):  # from 1, as in tltui",
    ]


def epoch_loop(config: RunConfig, forward: str = "model", rejoin: str = "", backward_note: str = "") -> list[str]:
    """An epoch of a generated training loop, down to its validation accuracy: the groups that join now
    (then ``rejoin``, a line such as DDP's wrapping again), the train mode, each batch's LR and step (through
    ``forward``, the model or its DDP wrapper), then ``accuracy``."""
    lines = []
    for epoch, groups in joining(config).items():
        lines.append(f"        if epoch == {epoch}:")
        lines += [f"            unfreeze(model, optimizer, {_str(g)}, {lr_expression(config, g)})" for g in groups]
        lines += [f"            {rejoin}"] if rejoin else []
    if config.frozen and config.bn == "freeze":
        lines.append("        train_mode(model, optimizer)")
    elif config.frozen:
        lines += ["        # bn=train: the frozen groups' BatchNorm statistics drift", "        model.train()"]
    else:
        lines.append("        model.train()")
    lines += [
        "        for images, labels in train_loader:",
        "            images, labels = images.to(device), labels.to(device)",
    ]
    if stepped(config):
        factors = [*(["warmup(step, warm)"] if config.warmup_epochs else []),
                   *(["lr_factor(step, total)"] if config.schedule != "constant" else [])]
        lines += [
            *([f"            scale = {' * '.join(factors)}"] if len(factors) > 1 else []),
            "            for pg in optimizer.param_groups:",
            '                pg["lr"] = pg["base_lr"] * ' + ("scale" if len(factors) > 1 else factors[0]),
        ]
    return lines + [
        f"            loss = loss_fn({forward}(images), labels)",
        "            optimizer.zero_grad()",
        f"            loss.backward(){backward_note}",
        "            optimizer.step()",
        *(["            step += 1"] if stepped(config) else []),
        "        accuracy = evaluate(model, val_loader, device)",
    ]


def tiny_source() -> str:
    """engine/tiny.py's ``WIDTHS`` and ``TinyResNet`` as text, so the script builds the very network the
    worker trains (the file is read, not imported: core does not import the engine)."""
    source = TINY_FILE.read_text(encoding="utf-8")
    wanted = [node for node in ast.parse(source).body
              if isinstance(node, ast.ClassDef) and node.name == "TinyResNet"
              or isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["WIDTHS"]]
    return "\n\n\n".join(ast.get_source_segment(source, node) or "" for node in wanted)


def _tiny_constant(name: str) -> Any:
    """A constant of engine/tiny.py (``IMAGE_SIZE``), read from its source as ``tiny_source`` reads it."""
    for node in ast.parse(TINY_FILE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise LookupError(f"{TINY_FILE} has no {name}")
