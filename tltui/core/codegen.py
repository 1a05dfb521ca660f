"""A RunConfig as the plain PyTorch script that trains the same way (pure text: no torch here).

The script does what the engine does: torchvision's ResNet-50 with a new ``fc``, ``requires_grad`` per
group, the BatchNorm of frozen groups back in eval mode after every ``model.train()``, two optimizer
param groups per trainable group at its own LR (bottom to top; weight decay on its weights, none on its
norm weights and biases), ``add_param_group`` when a frozen group joins, and the schedule as a factor of each group's ``base_lr`` set before every step; it keeps the epoch
with the best validation accuracy in ``best.pt`` and the last in ``last.pt``, plain state_dicts. Importing it
runs nothing: ``build(num_classes, weights=...)`` returns the model and optimizer, ``main()`` trains (``python
script.py [DATA]``). Lines stay within 68 columns where they can, the width of a code view in an 80-column
lesson.
"""

from __future__ import annotations

import ast
import json
import shlex
import textwrap
from pathlib import Path

from tltui.core import datasets, schedule
from tltui.core.groups import GROUPS, MODULES, depth_from_top
from tltui.core.protocol import RunConfig

#: Data sets tltui names itself; the script reads an ImageFolder instead.
#: tltui's named ImageNet weights as torchvision's ``ResNet50_Weights``.
WEIGHTS = {"pretrained": "IMAGENET1K_V2", "imagenet": "IMAGENET1K_V2", "imagenet-v1": "IMAGENET1K_V1"}
WIDTH = 68
TINY_WEIGHTS = str(Path(__file__).resolve().parents[1] / "engine" / "weights" / "tiny.pt")
"""The tiny backbone's pretrained weights, as tltui ships them (the DDP script of a tiny run reads them)."""


def generate(config: RunConfig) -> str:
    """The script for ``config`` (one that passes ``check()`` and trains something in epoch 1)."""
    top = "\n\n".join((_header(config), _imports(config), constants(config), groups_table()))
    defs = (*model_defs(config), _loaders(config), _evaluate(), _main(config), ENTRY)
    return "\n\n\n".join([top, *(d for d in defs if d)]) + "\n"


ENTRY = 'if __name__ == "__main__":\n    main()'


def model_defs(config: RunConfig, tiny: bool = False) -> list[str]:
    """The definitions every generated script shares, in order (an empty string where ``config`` needs none):
    the optimizer's param groups, with ``tiny`` the tiny network's class, ``build``, ``unfreeze``,
    ``train_mode`` and the LR schedule."""
    return [_param_groups(config), tiny_source() if tiny else "", _build(config, tiny=tiny), _unfreeze(config),
            _train_mode(config), _schedule(config)]


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
    start = config.trainable_at(1)
    words = "every group trains" if len(start) == len(GROUPS) else f"{span(start)} {_verb(start)} from the start"
    for epoch, groups in joining(config).items():
        words += f"; {', '.join(groups)} {_verb(groups, 'join')} at epoch {epoch}"
    never = [g for g in GROUPS if g not in config.trainable_at(config.epochs)]
    if never:
        words += f"; {span(never)} frozen throughout"
    return words


def command_line(config: RunConfig) -> str:
    """The same run with ``tltui train``: the flags that differ from the defaults."""
    return " ".join(command_words(config))


def command_words(config: RunConfig) -> list[str]:
    """``tltui train DATA``, then each flag with its value."""
    default = RunConfig()
    flags = [f"tltui train {shlex.quote(config.data)}"]
    if config.frozen:
        flags.append(f"--freeze {','.join(g for g in GROUPS if g in config.frozen)}")
    if config.unfreeze:
        flags.append("--unfreeze " + ",".join(f"{e}:{g}" for e, gs in joining(config).items() for g in gs))
    for field in ("model", "lr", "lr_decay", "epochs", "optimizer", "schedule", "weights", "bn", "image_size",
                  "batch_size", "limit_per_class", "label_smoothing", "seed"):
        value = getattr(config, field)
        if value != getattr(default, field):
            text = f"{value:g}" if isinstance(value, float) else shlex.quote(str(value))
            flags.append(f"--{field.replace('_', '-')} {text}")
    if config.augment != default.augment:
        flags.append(f"--augment {','.join(config.augment)}" if config.augment else "--no-augment")
    if config.head_first:
        flags.append("--head-first")
    if config.shuffle_labels:
        flags.append("--shuffle-labels")
    if config.nproc != 1:
        flags.append(f"--nproc {config.nproc or 'all'}")
    if config.sync_bn:
        flags.append("--sync-bn")
    return flags


def _verb(groups, verb: str = "train") -> str:
    return verb + "s" if len(groups) == 1 else verb


def span(groups) -> str:
    """``stem..layer3`` for three or more neighbours, else a comma list."""
    indices = [GROUPS.index(g) for g in groups]
    if len(groups) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{groups[0]}..{groups[-1]}"
    return ", ".join(groups)


def _str(text: str) -> str:
    """A Python string literal in double quotes."""
    return json.dumps(text, ensure_ascii=False)


def _list(items) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"


def _weights_file(config: RunConfig) -> bool:
    return config.weights not in WEIGHTS and config.weights != "none"


def _header(config: RunConfig) -> str:
    lines = ["Fine-tune ResNet-50 the way tltui does.", ""]
    lines += textwrap.wrap(describe(config) + ".", WIDTH)
    lines += ["", "The same run in tltui:"]
    command = ["    "]
    for flag in command_words(config):
        if len(command[-1]) + len(flag) > WIDTH - 2 and command[-1].strip():
            command[-1] += "\\"
            command.append("        ")
        command[-1] += flag + " "
    lines += [line.rstrip() for line in command]
    if config.model != "resnet50":
        lines.append(f"(tltui ran it with its {config.model} model; this script uses ResNet-50.)")
    lines += ["", "DATA: a folder with train/ and val/, each with one folder of",
              "images per class. Run: python this_script.py DATA", "It keeps the best epoch's weights in best.pt and the last",
              "in last.pt: plain state_dicts for torchvision's resnet50."]
    text = "\n".join(lines).replace('"""', '" " "')
    return f'r"""{text}\n"""'  # raw: the command's line continuations stay single backslashes


def _imports(config: RunConfig) -> str:
    stdlib = [m for m, used in (("math", config.schedule != "constant"), ("os", _weights_file(config)),
                                ("sys", True)) if used]
    lines = [f"import {m}" for m in stdlib] + ([""] if stdlib else [])
    lines += [
        "import torch",
        "from torch import nn",
        "from torch.utils.data import DataLoader",
        "from torchvision import datasets, transforms",
        "from torchvision.models import ResNet50_Weights, resnet50"
        if config.weights in WEIGHTS else "from torchvision.models import resnet50",
    ]
    return "\n".join(lines)


def constants(config: RunConfig, distributed: bool = False) -> str:
    """The settings at the top of a generated script; ``distributed``: the DDP script's (its batch is the
    global one, it may sync BatchNorm, and it builds the tiny backbone for a tiny run)."""
    data = (f'DATA = "path/to/images"  # {config.data} is made by tltui' if config.data in datasets.NAMES
            else f"DATA = {_str(config.data)}")
    data += "\nDATA = sys.argv[1] if len(sys.argv) > 1 else DATA"
    size = config.image_size or (32 if distributed and config.model == "tiny" else 224)
    lines = [data, f"EPOCHS = {config.epochs}",
             f"BATCH_SIZE = {config.batch_size}" + ("  # global: over all processes" if distributed else ""),
             f"IMAGE_SIZE = {size}", f"HEAD_LR = {config.lr!r}"]
    if config.lr_decay != 1:
        lines.append(f"DECAY = {config.lr_decay!r}  # each group's LR: the one above's times DECAY")
    lines.append(f"SEED = {config.seed}")
    if distributed:
        lines.append(f"SYNC_BN = {config.sync_bn}  # BatchNorm over the global batch (GPUs)")
    if config.shuffle_labels:
        lines.append("SHUFFLE_LABELS = True  # a control: labels no image can predict")
    return "\n".join(lines)


def groups_table() -> str:
    rows = "\n".join(f"    {_str(g)}: {_list(MODULES[g])}," for g in GROUPS)
    return (
        "# tltui's six groups of ResNet-50, bottom to top: module names.\n"
        f"GROUPS = {{\n{rows}\n}}\n\n\n"
        "def params(model, group):\n"
        "    modules = [getattr(model, name) for name in GROUPS[group]]\n"
        "    return [p for m in modules for p in m.parameters()]"
    )


def _param_groups(config: RunConfig) -> str:
    lrs = '"name": group, "lr": lr' + (', "base_lr": lr' if config.schedule != "constant" else "")
    return (
        "def opt_groups(model, group, lr):\n"
        '    """A layer group\'s two optimizer param groups at its lr: weight\n'
        "    decay on its weights, none on norm weights and biases (1-d)."
        + ("\n    The schedule sets lr from base_lr at every step." if config.schedule != "constant" else "")
        + '"""\n'
        "    ps = params(model, group)\n"
        f"    same = {{{lrs}}}\n"
        "    return [\n"
        '        {"params": [p for p in ps if p.ndim > 1], **same},\n'
        '        {"params": [p for p in ps if p.ndim <= 1], **same,\n'
        '         "weight_decay": 0.0},\n'
        "    ]"
    )


def _build(config: RunConfig, tiny: bool = False) -> str:
    """``build``: the plain script's ResNet-50, or with ``tiny`` (the DDP script of a tiny run) tltui's tiny
    backbone, its pretrained weights read from the file tltui ships."""
    start = config.trainable_at(1)
    frozen = [g for g in GROUPS if g not in start]
    if tiny:
        weights = None if config.weights == "none" else TINY_WEIGHTS if config.weights == "pretrained" else config.weights
        lines = [
            'def build(num_classes, device="cpu",',
            f"          weights={_str(weights) if weights else None}):",
            '    """tltui\'s tiny backbone and its weights, a new head, frozen',
            '    groups, optimizer."""',
            "    model = TinyResNet(num_classes)  # its head drawn as tltui's",
            "    if weights is not None:",
            "        if os.path.isdir(weights):  # a tltui run folder",
            '            weights = os.path.join(weights, "best.pt")',
            '        state = torch.load(weights, map_location="cpu")',
            '        for key in ("fc.weight", "fc.bias"):  # the new head stays',
            "            state.pop(key, None)",
            "        model.load_state_dict(state, strict=False)",
        ]
    elif config.weights in WEIGHTS:
        lines = [
            'def build(num_classes, device="cpu",',
            f"          weights=ResNet50_Weights.{WEIGHTS[config.weights]}):",
            '    """ImageNet weights, a new head, frozen groups, optimizer."""',
            "    model = resnet50(weights=weights)",
        ]
    elif config.weights == "none":
        lines = [
            'def build(num_classes, device="cpu", weights=None):',
            '    """Random weights, a new head, frozen groups, optimizer."""',
            "    model = resnet50(weights=weights)",
        ]
    else:
        lines = [
            'def build(num_classes, device="cpu",',
            f"          weights={_str(config.weights)}):",
            '    """A saved backbone, a new head, frozen groups, optimizer."""',
            "    model = resnet50()",
            "    if weights is not None:",
            "        if os.path.isdir(weights):  # a tltui run folder",
            '            weights = os.path.join(weights, "best.pt")',
            '        state = torch.load(weights, map_location="cpu")',
            '        for key in ("fc.weight", "fc.bias"):  # replaced below',
            "            state.pop(key, None)",
            "        model.load_state_dict(state, strict=False)",
        ]
    if not tiny:
        lines.append("    model.fc = nn.Linear(model.fc.in_features, num_classes)")
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
    lines += [f"        {call:<{width}}  # {config.group_lr(g):.1e}" for call, g in zip(calls, start)]
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
    """The engine's own schedule function, as source (tltui/core/schedule.py)."""
    return schedule.source(config.schedule)


def _loaders(config: RunConfig) -> str:
    return (
        "def loaders():\n"
        '    """ImageFolders, normalised as ImageNet was for the weights."""\n'
        + image_folders(config) +
        "    return (DataLoader(train_set, BATCH_SIZE, shuffle=True,\n"
        "                       drop_last=True),\n"
        "            DataLoader(val_set, BATCH_SIZE * 2))"
    )


def image_folders(config: RunConfig) -> str:
    """The body lines of a generated ``loaders`` that build ``train_set`` and ``val_set`` as the engine
    prepares images (engine/data.py, engine/augment.py): the shorter side resized to size / 0.875 and
    centre-cropped, or a random crop; flips and colour jitter as asked; ImageNet's normalisation."""
    train = (["transforms.RandomResizedCrop(IMAGE_SIZE, scale=(0.25, 1.0))"] if "crop" in config.augment
             else ["transforms.Resize(round(IMAGE_SIZE / 0.875))", "transforms.CenterCrop(IMAGE_SIZE)"])
    if "flip" in config.augment:
        train.append("transforms.RandomHorizontalFlip()")
    if "color" in config.augment:
        train.append("transforms.ColorJitter(0.2, 0.2, 0.2, 0.05)")
    steps = "".join(f"        {t},\n" for t in [*train, "transforms.ToTensor()", "imagenet"])
    return (
        "    imagenet = transforms.Normalize(mean=[0.485, 0.456, 0.406],\n"
        "                                    std=[0.229, 0.224, 0.225])\n"
        f"    train_tf = transforms.Compose([\n{steps}    ])\n"
        "    val_tf = transforms.Compose([\n"
        "        transforms.Resize(round(IMAGE_SIZE / 0.875)),\n"
        "        transforms.CenterCrop(IMAGE_SIZE),\n"
        "        transforms.ToTensor(),\n"
        "        imagenet,\n"
        "    ])\n"
        '    train_set = datasets.ImageFolder(f"{DATA}/train", train_tf)\n'
        '    val_set = datasets.ImageFolder(f"{DATA}/val", val_tf)\n'
        + (_SHUFFLE if config.shuffle_labels else "")
    )


_SHUFFLE = (
    "    if SHUFFLE_LABELS:  # permute the labels once, train and val alike\n"
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


def _main(config: RunConfig) -> str:
    lines = [
        "def main():",
        "    torch.manual_seed(SEED)",
        '    device = "cuda" if torch.cuda.is_available() else "cpu"',
        "    train_loader, val_loader = loaders()",
        "    classes = train_loader.dataset.classes",
        "    model, optimizer = build(len(classes), device=device)",
        *loop_start(config),
        *epoch_loop(config),
        '        print(f"epoch {epoch}: val accuracy {accuracy:.1%}")',
        "        if accuracy > best:  # keep the best epoch, not the last",
        "            best = accuracy",
        '            torch.save(model.state_dict(), "best.pt")',
        '    torch.save(model.state_dict(), "last.pt")',
        '    print(f"best val accuracy {best:.1%}: best.pt; last.pt")',
    ]
    return "\n".join(lines)


def loop_start(config: RunConfig) -> list[str]:
    """The lines before a generated training loop, and its first: the loss, the schedule's step count, the
    best accuracy so far, the loop over epochs."""
    smoothing = f"label_smoothing={config.label_smoothing!r}" if config.label_smoothing else ""
    return [
        f"    loss_fn = nn.CrossEntropyLoss({smoothing})",
        *(["    total, step = EPOCHS * len(train_loader), 0"] if config.schedule != "constant" else []),
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
    if config.schedule != "constant":
        lines += [
            "            for pg in optimizer.param_groups:",
            '                pg["lr"] = pg["base_lr"] * lr_factor(step, total)',
        ]
    return lines + [
        f"            loss = loss_fn({forward}(images), labels)",
        "            optimizer.zero_grad()",
        f"            loss.backward(){backward_note}",
        "            optimizer.step()",
        *(["            step += 1"] if config.schedule != "constant" else []),
        "        accuracy = evaluate(model, val_loader, device)",
    ]


def tiny_source() -> str:
    """engine/tiny.py's ``WIDTHS`` and ``TinyResNet`` as text, so the script builds the very network the
    worker trains (the file is read, not imported: core does not import the engine)."""
    source = (Path(__file__).resolve().parents[1] / "engine" / "tiny.py").read_text(encoding="utf-8")
    wanted = [node for node in ast.parse(source).body
              if isinstance(node, ast.ClassDef) and node.name == "TinyResNet"
              or isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["WIDTHS"]]
    return "\n\n\n".join(ast.get_source_segment(source, node) or "" for node in wanted)
