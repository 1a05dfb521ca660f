"""Any timm image model as the backbone (``--model timm:NAME``): building it with its weights, its own
preprocessing, and its six groups (engine/timm_groups.py) as engine/model.py uses them.

timm is optional (``pip install -e ".[timm]"``) and imported on first use. Nothing downloads:
``HF_HUB_OFFLINE=1`` is set before timm is imported, and pretrained weights are read only from the file
found here, in the Hugging Face cache (``hf_hub_id``'s ``model.safetensors``, else its pickle), or torch's
hub cache for a model that has only a URL; or from ``--weights PATH`` (safetensors or a state_dict).

The boundary cache cuts a timm model at the head alone: its input is ``forward_head(pre_logits=True)``,
the pooled features, and the head is the classifier (``get_classifier()``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from tltui.core import backbones
from tltui.core.backbones import Preprocessing
from tltui.core.errors import BadInput

PRETRAINED = "pretrained"
_groups: weakref.WeakKeyDictionary[nn.Module, dict[str, str]] = weakref.WeakKeyDictionary()


def _timm() -> Any:
    """The timm module, imported with the Hugging Face hub offline; BadInput in one line where it is missing."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import timm
    except ImportError:
        raise BadInput(f"timm models need timm, which this worker's Python lacks: {backbones.INSTALL}") from None
    return timm


# ----------------------------------------------------------------------------------------------
# Building


def create(model: str, num_classes: int, image_size: int = 0, **kwargs: Any) -> Any:
    """timm's ``model`` (``timm:NAME``) with ``num_classes`` outputs, randomly initialised unless ``kwargs``
    say otherwise, for ``image_size`` px inputs where the model is built for one size (a ViT's position
    embedding); BadInput in one line where timm has no such model."""
    timm = _timm()
    name = backbones.timm_name(model)
    _meta(name)  # BadInput where timm has no such model
    sized = {"img_size": image_size} if image_size and image_size != own_size(name) else {}
    try:
        try:
            net = timm.create_model(name, num_classes=num_classes, **sized, **kwargs)
        except TypeError as error:  # a convolutional network takes any size, and no img_size
            if not sized or "img_size" not in str(error):
                raise
            net = timm.create_model(name, num_classes=num_classes, **kwargs)
    except RuntimeError as error:  # an unknown tag; a weights file that does not fit
        raise BadInput(f"--model {model}: {_first_line(error)}") from None
    if num_classes and not isinstance(net.get_classifier(), (nn.Linear, nn.Conv2d)):
        raise BadInput(f"--model {model}: its classifier is a {type(net.get_classifier()).__name__}; tltui's head "
                       "is one linear layer")
    return net


def build(model: str, num_classes: int, weights: str, image_size: int = 0) -> tuple[nn.Module, str, list[str]]:
    """(the model, a description of its weights, notes). ``weights``: ``pretrained`` (the Hugging Face
    cache's file of its default tag), ``none``, or a file (safetensors or a state_dict) or a run folder."""
    if weights == "none":
        return create(model, num_classes, image_size), "none (random initialisation)", []
    path, described = _source(model, weights)
    if weights != PRETRAINED:
        state = _read(path, weights)
        net = create(model, num_classes, image_size)
        if _fits(net.state_dict(), state):  # a run's own weights, head and all
            net.load_state_dict(state)
            return net, described, []
    net = _pretrained(model, path, weights, image_size)
    classes = net.num_classes
    net.reset_classifier(num_classes)
    notes = [f"the weights' head ({classes} outputs) replaced by a new {num_classes}-class head"] if classes else []
    return net, described, notes


def check(model: str, weights: str, image_size: int) -> None:
    """BadInput (one line) unless timm has ``model``, it takes ``image_size`` px images, and ``weights`` are
    there; builds it on the meta device, so it costs no memory and reads no file."""
    with torch.device("meta"):
        net = create(model, 2, image_size)
        try:
            net.eval().forward_features(torch.zeros(1, 3, image_size, image_size))
        except NotImplementedError:  # an operation the meta device lacks: the run will tell
            pass
        except Exception as error:  # a size the patches or windows do not tile
            raise BadInput(f"--image-size {image_size} does not suit {model}: {_first_line(error)}") from None
    if weights != "none":
        _source(model, weights)


def _pretrained(model: str, path: Path, weights: str, image_size: int) -> Any:
    """The model with its pretrained head, the file loaded by timm (its checkpoint filter, strictly)."""
    try:
        return create(model, _own_classes(model), image_size, pretrained=True,
                      pretrained_cfg_overlay={"file": str(path)})
    except BadInput as error:  # timm's strict load: missing, unexpected or misshapen keys
        raise BadInput(f"--weights {weights}: not weights of {model} ({str(error).split(': ', 1)[-1]})") from None
    except Exception as error:  # the model's checkpoint filter meets keys it does not know
        raise BadInput(f"--weights {weights}: not weights of {model} ({type(error).__name__}: "
                       f"{_first_line(error)})") from None


def _own_classes(model: str) -> int:
    return int(_meta(backbones.timm_name(model)).pretrained_cfg.get("num_classes") or 0)


def _source(model: str, weights: str) -> tuple[Path, str]:
    """The file of ``weights`` and a description of it; BadInput in one line where it is not there."""
    if weights == PRETRAINED:
        name = backbones.timm_name(model)
        found = pretrained_file(name)
        if found is None:
            raise BadInput(missing(name))
        return found, f"{PRETRAINED} ({_hub_id(name) or name}, {found.name})"
    path = backbones.weights_path(
        weights, "pretrained, none, or a path to a safetensors or state_dict file or a run folder")
    return path, str(path)


def _read(path: Path, weights: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors or torch file (timm's reader: wrappers and ``module.`` prefixes undone)."""
    from timm.models import load_state_dict

    try:
        state = load_state_dict(str(path))
    except Exception as exc:
        raise BadInput(f"--weights {weights}: not a loadable state_dict or safetensors file "
                       f"({type(exc).__name__})") from None
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInput(f"--weights {weights}: not a state_dict (a dict of tensors)")
    return state


def _fits(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> bool:
    return own.keys() == state.keys() and all(own[k].shape == state[k].shape for k in own)


def mismatch(model: str, num_classes: int, state: dict[str, torch.Tensor], image_size: int = 0) -> str:
    """What keeps ``state`` from loading exactly into ``model`` ('' if nothing)."""
    with torch.device("meta"):
        own = create(model, num_classes, image_size).state_dict()
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    missing_keys = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    problems = wrong or missing_keys or unexpected
    if not problems:
        return ""
    what = "wrong shapes" if wrong else "missing" if missing_keys else "unexpected keys"
    return f"{what}: {', '.join(problems[:2])}" + (f" and {len(problems) - 2} more" if len(problems) > 2 else "")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return " ".join(text[:2])[:300] if text else type(error).__name__


# ----------------------------------------------------------------------------------------------
# Weights on this host


def _hub_id(name: str) -> str:
    return str(_meta(name).pretrained_cfg.get("hf_hub_id") or "")


def hub_cache() -> Path:
    """The Hugging Face hub cache, found as huggingface_hub finds it (``HF_HUB_CACHE``, else ``HF_HOME``/hub,
    else ``$XDG_CACHE_HOME``/huggingface/hub, ``~/.cache`` by default), but from the environment now: the
    hub reads it once, when first imported."""
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    found = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(found).expanduser()


def _candidates(name: str) -> list[str]:
    """The files timm would read from the hub for ``name``: the safetensors first, then the pickle."""
    file = _meta(name).pretrained_cfg.get("hf_hub_filename") or "pytorch_model.bin"
    safe = {"pytorch_model.bin": "model.safetensors", "open_clip_pytorch_model.bin": "open_clip_model.safetensors"}
    first = safe.get(file, file[:-4] + ".safetensors" if file.endswith(".bin") else "")
    return [f for f in (first, file) if f]


def pretrained_file(name: str) -> Path | None:
    """The file of ``name``'s default pretrained weights on this host, or None."""
    cfg = _meta(name).pretrained_cfg
    hub_id = str(cfg.get("hf_hub_id") or "")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = hub_id.partition("@")
        for file in _candidates(name):
            found = try_to_load_from_cache(repo, file, cache_dir=hub_cache(), revision=revision or None)
            if isinstance(found, str):
                return Path(found)
        return None
    url = str(cfg.get("url") or "")
    if url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
        return path if path.is_file() else None
    return None


def looked(name: str) -> str:
    """Where ``pretrained_file`` looks for ``name``'s weights."""
    hub_id = _hub_id(name)
    if hub_id:
        return str(hub_cache() / f"models--{hub_id.partition('@')[0].replace('/', '--')}")
    url = str(_meta(name).pretrained_cfg.get("url") or "")
    return str(Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name) if url else ""


def missing(name: str) -> str:
    """One line: which pretrained weights are not here, where tltui looked, and how to bring them."""
    hub_id = _hub_id(name)
    if hub_id:
        repo = hub_id.partition("@")[0]
        folder = looked(name)
        return (f"timm:{name}: its pretrained weights ({repo}) are not in the Hugging Face cache (looked in "
                f"{folder}); on a machine with internet run `huggingface-cli download {repo} "
                f"{_candidates(name)[0]}` and copy its {Path(folder).name} from that machine's cache into "
                f"{hub_cache()}, or pass the file as --weights PATH; or use --weights none")
    where = looked(name)
    if where:
        url = str(_meta(name).pretrained_cfg.get("url"))
        return (f"timm:{name}: its pretrained weights are not in {where}; download {url} on a machine with "
                "internet and put it there, or pass it as --weights PATH; or use --weights none")
    return f"timm:{name} has no pretrained weights in timm: use --weights none, or --weights PATH"


def cached() -> list[str]:
    """``timm:NAME`` of each timm model whose weights are in the Hugging Face cache (its ``models--timm--``
    folders holding a weights file), without importing timm; none where timm is not installed."""
    if importlib.util.find_spec("timm") is None:
        return []
    found = []
    root = hub_cache()
    for folder in sorted(root.glob("models--timm--*")) if root.is_dir() else []:
        if any(folder.glob("snapshots/*/*.safetensors")) or any(folder.glob("snapshots/*/*.bin")):
            found.append(backbones.TIMM + folder.name.removeprefix("models--timm--"))
    return found


# ----------------------------------------------------------------------------------------------
# Preprocessing


@functools.lru_cache(maxsize=32)
def _meta(name: str) -> Any:
    """``name`` built on the meta device (no memory, no weights): its pretrained config and data config."""
    timm = _timm()
    if not timm.is_model(name):
        raise BadInput(f"--model timm:{name}: timm {timm.__version__} has no such model "
                       "(python -c \"import timm; print(timm.list_models('*convnext*'))\" lists names)")
    with torch.device("meta"):
        try:
            return timm.create_model(name)
        except RuntimeError as error:  # an unknown tag
            raise BadInput(f"--model timm:{name}: {_first_line(error)}") from None


def own_size(name: str) -> int:
    """The input side ``name`` was pretrained at (timm's data config)."""
    return int(_data_config(name)["input_size"][-1])


def _data_config(name: str) -> dict[str, Any]:
    return _timm().data.resolve_model_data_config(_meta(name))


def preprocessing(model: str, image_size: int) -> Preprocessing:
    """``model``'s own mean, std, interpolation and input size (timm's data config); a given ``image_size``
    wins over its size, and the note says so."""
    name = backbones.timm_name(model)
    config = _data_config(name)
    own = int(config["input_size"][-1])
    note = (f"--image-size {image_size} given: it wins over {name}'s own {own} px" if image_size and image_size != own
            else "")
    return Preprocessing(mean=tuple(config["mean"]), std=tuple(config["std"]), image_size=image_size or own,
                         interpolation=str(config.get("interpolation", "bilinear")), model_size=own,
                         crop_pct=float(config.get("crop_pct", 0.875)), note=note,
                         source=f"timm's data config of {name}")


# ----------------------------------------------------------------------------------------------
# The six groups and the forward pass in parts


def groups(model: nn.Module) -> dict[str, str]:
    """Each parameter and buffer name of ``model`` -> its group (engine/timm_groups.py), computed once."""
    found = _groups.get(model)
    if found is None:
        from tltui.engine.timm_groups import six_groups

        found = _groups[model] = six_groups(model)
    return found


def group_parameters(model: nn.Module, group: str) -> list[nn.Parameter]:
    mapping = groups(model)
    return [p for name, p in model.named_parameters() if mapping[name] == group]


def batchnorms(model: nn.Module, wanted: Iterable[str]) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of the ``wanted`` groups: each where its running mean is."""
    mapping, wanted = groups(model), set(wanted)
    return [m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and mapping.get(f"{name}.running_mean", mapping.get(f"{name}.weight")) in wanted]


def head(model: Any) -> nn.Linear | nn.Conv2d:
    """The classifier: a linear layer (a 1x1 convolution in a few families, BiT's)."""
    classifier = model.get_classifier()
    assert isinstance(classifier, (nn.Linear, nn.Conv2d)), "create refuses other classifiers"
    return classifier


def feature_dim(model: nn.Module) -> int:
    """The head's input: the pooled pre-logits features' width."""
    classifier = head(model)
    return classifier.in_features if isinstance(classifier, nn.Linear) else classifier.in_channels


def forward_until(model: Any, group: str, x: torch.Tensor) -> torch.Tensor:
    """The input of ``group``: the image for the stem, the pooled features for the head (the only two a
    timm model is cut at)."""
    if group == "stem":
        return x
    if group != "head":
        raise ValueError(f"a timm model is cut only below the stem or the head, not {group}")
    return model.forward_head(model.forward_features(x), pre_logits=True)


def forward_from(model: nn.Module, group: str, x: torch.Tensor) -> torch.Tensor:
    if group == "stem":
        return model(x)
    if group != "head":
        raise ValueError(f"a timm model is cut only below the stem or the head, not {group}")
    classifier = head(model)
    if isinstance(classifier, nn.Conv2d):  # pre-logits are flat: a 1x1 image of them
        return classifier(x[:, :, None, None]).flatten(1)
    return classifier(x)


def input_shape(model: nn.Module, group: str, image_size: int) -> tuple[int, ...]:
    if group == "head":
        return (feature_dim(model),)
    if group == "stem":
        return (3, image_size, image_size)
    raise ValueError(f"a timm model is cut only below the stem or the head, not {group}")


def convolutional(model: nn.Module) -> bool:
    """Whether convolutions run above the stem (ConvNeXt, EfficientNet, ResNet): channels-last pays there;
    a ViT's one convolution is its patch embedding."""
    mapping = groups(model)
    return any(isinstance(m, nn.Conv2d) and mapping.get(f"{name}.weight") != "stem"
               for name, m in model.named_modules())
