"""tltui's six groups of a timm model, from the model's own ``group_matcher``.

timm numbers a model's parts bottom to top (``group_matcher``: the stem, then each stage, or each block; the
final norm goes with the last block). Here the stem is timm's stem, the head is the classifier alone
(``get_classifier()``: the layer a new task replaces, whose input is ``forward_head(pre_logits=True)``), and
the blocks between are dealt into four contiguous quarters, layer1..layer4, as equal in count as they can be
(the larger quarters on top); coarse groups (timm's stages) where there are four or more, else its blocks.
What timm leaves ungrouped besides the classifier (a head's norm, ``fc_norm``, an attention pool) runs after
the last block: layer4's. A model without a ``group_matcher`` is cut at its top-level modules instead.

Exported scripts copy the functions and ``QUARTERS`` (core/codegen_timm.py reads this file), so they are
written as a script's code is: plain PyTorch, lines within 68 columns, timm imported where it is used.
"""

from __future__ import annotations

import re

QUARTERS = ("layer1", "layer2", "layer3", "layer4")


def six_groups(model):
    """Each parameter's and buffer's name -> its group: "stem",
    "layer1".."layer4" or "head" (the classifier)."""
    names = [n for n, _ in model.named_parameters()]
    names += [n for n, _ in model.named_buffers()]
    top = next(n for n, m in model.named_modules()
               if m is model.get_classifier())
    head = [n for n in names if n.startswith(top + ".")]
    rest = [n for n in names if n not in head]
    stem, units, after = matched_units(model, rest)
    if not stem and units:
        stem = units.pop(0)
    groups = dict.fromkeys(stem, "stem")
    n = len(units)  # four quarters, the larger ones on top
    sizes = [n // 4 + (i >= 4 - n % 4) for i in range(4)]
    for i, name in enumerate(QUARTERS):
        start = sum(sizes[:i])
        for unit in units[start:start + sizes[i]]:
            groups.update(dict.fromkeys(unit, name))
    groups.update(dict.fromkeys(after, "layer4"))
    groups.update(dict.fromkeys(head, "head"))
    return groups


def matched_units(model, names):
    """(the stem's names, the blocks bottom to top as lists of
    names, the names timm leaves ungrouped), by the model's
    group_matcher: coarse where that gives four blocks or more."""
    from timm.models._manipulate import group_with_matcher

    for coarse in (True, False):
        try:
            matcher = model.group_matcher(coarse=coarse)
        except (AttributeError, NotImplementedError):
            return top_level_units(names)
        pairs = ((n, None) for n in names)
        ids = group_with_matcher(pairs, matcher, reverse=True)
        if isinstance(matcher, dict):
            specs = matcher.values()
            known = [n for n in names
                     if any(matches(s, n) for s in specs)]
            stem_ids = {ids[n] for n in known
                        if matches(matcher.get("stem"), n)}
        else:  # a function: every name has a group, the lowest stem
            known, stem_ids = names, {min(ids.values())}
        stem = [n for n in known if ids[n] in stem_ids]
        blocks: dict = {}
        for n in known:
            if ids[n] not in stem_ids:
                blocks.setdefault(ids[n], []).append(n)
        units = [blocks[k] for k in sorted(blocks)]
        if len(units) >= 4 or not coarse:
            unmatched = [n for n in names if n not in known]
            return stem, units, unmatched
    raise AssertionError("unreachable: the fine matcher returns")


def matches(spec, name):
    """Whether `name` matches a group_matcher entry: a regex, or a
    list of (regex, suffix) pairs."""
    if spec is None:
        return False
    if isinstance(spec, str):
        return re.match(spec, name) is not None
    return any(re.match(s[0], name) is not None for s in spec)


def top_level_units(names):
    """(stem, units, []) of a model with no group_matcher: its names
    by label, in the model's order; the first label is the stem."""
    units: dict = {}
    for n in names:
        units.setdefault(label(n), []).append(n)
    ordered = list(units.values())
    return (ordered[0] if ordered else []), ordered[1:], []


def label(name):
    """The module `name` belongs to, as far as its first index
    (blocks.3), else at most two levels (head.fc, cls_token)."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[:i + 1])
    return ".".join(parts[:max(1, min(2, len(parts) - 1))])
