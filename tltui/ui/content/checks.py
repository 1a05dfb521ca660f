"""The checks of understanding: each lesson's questions, read from ``lessons/checks/<lesson file>.md``.

The file's header describes its format. Parsing is strict: a question with no right answer, an answer
out of range, no reasoning or an unknown experiment raises ``ValueError`` naming the question, so a
typo fails the tests rather than the learner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tltui.ui.content.check_runs import EXPERIMENTS

_FIELDS = {"answer", "run"}
_SECTION = re.compile(r"^## +(\S+) *$", re.M)
_OPTION = re.compile(r"^(\d)\. +(.*)$")
_NUMBER = re.compile(r"^\d+-")
#: Digits answer, so at most nine options.
MAX_OPTIONS = 9


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    options: tuple[str, ...]
    answer: int
    """The right option, counted from 1."""
    why: str
    """The reasoning, shown after any answer."""
    measured: str = ""
    """A measurement that shows the answer, with its command, shown after the answer."""
    run: str = ""
    """The name of a real experiment (``quiz_check.EXPERIMENTS``) the learner can run to see it."""

    @property
    def predict(self) -> bool:
        """A predict-then-see question: a measurement or a run shows the answer."""
        return bool(self.measured or self.run)


@dataclass(frozen=True)
class CheckSet:
    name: str
    """The lesson's name (its file name without the number): the key of its scores."""
    title: str
    questions: list[Question]


def checks_path(lesson_path: Path) -> Path:
    """The checks of the lesson in ``lesson_path``: ``checks/`` beside it, the same file name."""
    return lesson_path.parent / "checks" / lesson_path.name


def question_ids(option: str) -> tuple[str, ...]:
    """The ids of a block's ``questions`` option: ``a, b`` or ``a,b``."""
    return tuple(qid for qid in (word.strip() for word in option.split(",")) if qid)


def select_questions(checks: CheckSet, named: tuple[str, ...], elsewhere: set[str], source: str) -> list[Question]:
    """The questions a block asks: those ``named``, in that order, else those no other block names
    (``elsewhere``). ``ValueError`` for a name the file lacks, or nothing left to ask."""
    ids = {q.id: q for q in checks.questions}
    if named:
        if missing := [qid for qid in named if qid not in ids]:
            raise ValueError(f"{source} has no question {missing[0]!r}")
        return [ids[qid] for qid in named]
    rest = [q for q in checks.questions if q.id not in elsewhere]
    if not rest:
        raise ValueError(f"every question of {source} is asked by another block of the lesson")
    return rest


def valid_answers(saved: Mapping[str, object] | None, questions: list[Question]) -> dict[str, int]:
    """The saved answers (question id -> option) that still fit one of ``questions``."""
    ids = {q.id: q for q in questions}
    return {qid: int(str(choice)) for qid, choice in dict(saved or {}).items()
            if qid in ids and str(choice).isdigit() and 1 <= int(str(choice)) <= len(ids[qid].options)}


def set_name(path: Path) -> str:
    return _NUMBER.sub("", path.stem)


def load_checks(path: Path) -> CheckSet:
    """Parse one checks file."""
    text = path.read_text(encoding="utf-8")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if not first.startswith("# "):
        raise ValueError(f"{path.name}: the first line is '# Title'")
    pieces = _SECTION.split(text)[1:]
    ids, bodies = pieces[::2], pieces[1::2]
    if not ids:
        raise ValueError(f"{path.name}: no '## id' question")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path.name}: two questions share an id: {sorted(i for i in ids if ids.count(i) > 1)[0]}")
    return CheckSet(set_name(path), first[2:].strip(),
                    [_question(qid, body) for qid, body in zip(ids, bodies, strict=True)])


def _question(qid: str, body: str) -> Question:
    raw = [p.strip("\n") for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    if len(raw) < 4:
        raise ValueError(f"{qid}: needs fields, the question, its numbered options and a 'Why:' paragraph")
    fields = {}
    for line in raw[0].splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip() not in _FIELDS or not value.strip():
            raise ValueError(f"{qid}: expected 'answer: N' or 'run: NAME', got {line!r}")
        fields[key.strip()] = value.strip()
    question = " ".join(raw[1].split())
    options = _options(qid, raw[2])
    if not fields.get("answer", "").isdigit() or not 1 <= int(fields["answer"]) <= len(options):
        raise ValueError(f"{qid}: answer must be the number of one of its {len(options)} options")
    reasons: dict[str, str] = {}
    for paragraph in raw[3:]:
        label, sep, reason = " ".join(paragraph.split()).partition(":")
        if not sep or label not in ("Why", "Measured") or label in reasons or not reason.strip():
            raise ValueError(f"{qid}: after the options come one 'Why:' and at most one 'Measured:' paragraph, "
                             f"not {paragraph[:40]!r}")
        reasons[label] = reason.strip()
    if "Why" not in reasons:
        raise ValueError(f"{qid}: missing the 'Why:' paragraph")
    run = fields.get("run", "")
    if run and run not in EXPERIMENTS:
        raise ValueError(f"{qid}: unknown experiment {run!r}: choose from {', '.join(EXPERIMENTS)}")
    return Question(qid, question, options, int(fields["answer"]), reasons["Why"], reasons.get("Measured", ""), run)


def _options(qid: str, paragraph: str) -> tuple[str, ...]:
    """``1. text`` lines, a line that does not start with a number continuing the option above."""
    options: list[str] = []
    for line in paragraph.splitlines():
        match = _OPTION.match(line.strip())
        if match:
            if int(match.group(1)) != len(options) + 1:
                raise ValueError(f"{qid}: options are numbered 1, 2, 3... in order")
            options.append(match.group(2).strip())
        elif options and line.strip():
            options[-1] += " " + line.strip()
        else:
            raise ValueError(f"{qid}: the options are a numbered list (1. ..., 2. ...)")
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise ValueError(f"{qid}: between 2 and {MAX_OPTIONS} options")
    return tuple(options)
