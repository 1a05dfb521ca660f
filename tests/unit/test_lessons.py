"""The lessons as content: order, titles, widgets, code, and the parser that splits them."""

from __future__ import annotations

import ast
import re
import shlex

import msgspec
import pytest

from tltui.core.groups import BACKBONE
from tltui.ui.lesson.registry import REGISTRY
from tltui.ui.lessons import (
    LessonNotFound,
    MarkdownPart,
    WidgetPart,
    find_lesson,
    lessons_dir,
    load_lessons,
    split_parts,
)

LESSONS = load_lessons()
CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def test_lessons_are_found_in_order():
    assert len(LESSONS) >= 10
    assert [lesson.number for lesson in LESSONS] == list(range(1, len(LESSONS) + 1))
    assert len({lesson.name for lesson in LESSONS}) == len(LESSONS)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_lesson_has_title_and_parses(lesson):
    assert lesson.text.startswith("# ")
    assert lesson.title and len(lesson.title) <= 60
    assert lesson.parts
    assert sum(isinstance(part, MarkdownPart) for part in lesson.parts) >= 1


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_lesson_names_only_registered_widgets(lesson):
    for part in lesson.parts:
        if isinstance(part, WidgetPart):
            assert part.name in REGISTRY, f"{lesson.name} embeds unknown widget {part.name!r}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_python_snippets_are_valid_python(lesson):
    for code in CODE_BLOCK.findall(lesson.text):
        ast.parse(code)


def test_the_source_lessons_topics_are_all_taught():
    text = "\n".join(lesson.text for lesson in LESSONS).lower()
    for topic in (
        "zeiler", "2048", "feature extraction", "fine-tun", "quadrant", "discriminative",
        "gradual unfreezing", "augmentation", "0.485", "bert", "gpt", "wav2vec", "sim-to-real",
        "batchnorm", "add_param_group", "best.pt",
        # what the best courses teach (issue 12)
        "lp-ft", "kornblith", "kumar", "bitfit", "range test", "lr_find", "one-cycle", "warm-up", "clip",
        "timm", "convnext", "self-supervised", "in_chans", "--shuffle-labels", "most_confused",
        "plot_top_losses", "imbalance", "confidence interval", "tltui export",
    ):
        assert topic in text, topic


def prose_lines(path):
    """(number, line) of a markdown file's prose: outside fenced blocks, not table rows, not the
    ``key: value`` field lines of the quiz and check files."""
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        marker = re.match(r"^(`{3,}|~{3,})", line)
        if marker:
            fence = None if fence and line.strip() == fence else (fence or marker.group(1))
            continue
        if fence is None and not line.startswith("|") and not re.match(r"^[a-z]+: \S", line):
            yield number, line


def test_every_prose_line_fits_80_columns():
    files = [*lessons_dir().glob("*.md"), *lessons_dir().glob("*/*.md")]
    assert len(files) >= 2 * len(LESSONS)
    long = [f"{path.name}:{n}" for path in files for n, line in prose_lines(path) if len(line) > 80]
    assert not long


def test_code_lines_fit_80_columns_too():
    long = [f"{lesson.name}: {line[:40]}" for lesson in LESSONS
            for code in re.findall(r"^```\w*\n(.*?)^```", lesson.text, re.M | re.S)
            for line in code.splitlines() if len(line) > 80]
    assert not long


def test_no_lesson_reads_a_probes_training_accuracy_as_feature_fit():
    """The error issue 12 fixed, in the words it was written in: it must not come back."""
    files = [*lessons_dir().glob("*.md"), *lessons_dir().glob("*/*.md")]
    text = " ".join(" ".join(path.read_text(encoding="utf-8").split()) for path in files).lower()
    for wrong in ("too few weights to memorise", "training accuracy itself", "even *training* accuracy",
                  "stays low even on its own training images", "restarts bn statistics", "restart bn",
                  "two real resnet-50s"):
        assert wrong not in text, wrong


def test_no_lesson_teaches_the_errors_issue_20_found():
    """The capacity rule counts the feature dimension, not the head's weights; and the other claims the
    review of issue 20 found false, in the words they were written in."""
    files = [*lessons_dir().glob("*.md"), *lessons_dir().glob("*/*.md")]
    text = " ".join(" ".join(path.read_text(encoding="utf-8").split()) for path in files).lower()
    for wrong in ("than the head has weights", "more classes only add weights", "outnumber the head's weights",
                  "until its version 2.5", "lesson 8's batchnorm", "adds a small output layer",
                  "(48 steps)", "beats starting from scratch even with plenty of data"):
        assert wrong not in text, wrong


@pytest.mark.parametrize("name", ["feature-extraction", "how-much-to-freeze", "playground", "summary"])
def test_lessons_on_a_probes_training_accuracy_state_the_d_plus_1_rule(name):
    text = " ".join(find_lesson(LESSONS, name).text.split())
    assert "d + 1" in text


def bash_commands(text: str, start: str) -> list[str]:
    """The commands in ``text``'s bash blocks that start with ``start``, continuation lines joined and
    comments dropped."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():
            if line.startswith(start):
                found.append(line.split("#")[0].strip())
    return found


def test_lesson_one_quotes_the_race_its_widget_runs():
    from tltui.cli.flags import config_from_args
    from tltui.cli.main import build_parser
    from tltui.ui.lesson.race import RACE

    after_race = find_lesson(LESSONS, "why-transfer").text.split("```tltui race")[1]
    assert f"{RACE.limit_per_class} training images per class for {RACE.epochs} epochs" in " ".join(
        after_race.split())
    commands = bash_commands(after_race, "tltui train builtin")
    assert len(commands) == 4  # tiny and ResNet-50, from scratch and pretrained
    for command in commands:
        config = config_from_args(build_parser().parse_args(shlex.split(command)[1:]))
        quoted = (config.data, config.limit_per_class, config.epochs, config.optimizer, config.lr, config.augment)
        assert quoted == (RACE.data, RACE.limit_per_class, RACE.epochs, RACE.optimizer, RACE.lr, RACE.augment), command


def test_lesson_ones_question_on_the_race_quotes_the_race_and_e_runs_it():
    """The check asked just above the race widget states the race's settings, and its experiment is the
    race: the widget's recipe from random and from pretrained weights, nothing else different."""
    from tltui.ui.content.check_runs import check_runs
    from tltui.ui.content.checks import checks_path, load_checks
    from tltui.ui.lesson.race import RACE

    lesson = find_lesson(LESSONS, "why-transfer")
    parts = lesson.parts
    at_race = next(i for i, part in enumerate(parts) if isinstance(part, WidgetPart) and part.name == "race")
    block = next(part for part in reversed(parts[:at_race]) if isinstance(part, WidgetPart))
    assert block.name == "check", "a check asks its prediction just before the race"
    checks = {q.id: q for q in load_checks(checks_path(lesson.path)).questions}
    for qid in block.options["questions"].split(","):
        question = checks[qid.strip()]
        text = " ".join(question.text.split())
        assert f"{RACE.limit_per_class} training images per class, {RACE.epochs} epochs" in text, text
        assert f"{RACE.optimizer.upper()} at {RACE.lr:.0e}".replace("e-0", "e-") in text, text
        arms = check_runs(question.run, "tiny")
        assert {config.weights for _, config in arms} == {"none", "pretrained"}
        for _, config in arms:
            assert msgspec.structs.replace(RACE, model="tiny", weights=config.weights) == config, config


def test_a_file_only_the_source_repository_has_is_named_as_such():
    """A pip install has neither ``benchmarks/`` nor the README: a lesson, check or quiz paragraph (or list
    item) that sends the learner to one says that it is in tltui's source repository, and names the README
    by its file name."""
    files = [*lessons_dir().glob("*.md"), *lessons_dir().glob("*/*.md")]
    unsaid = []
    for path in files:
        for unit in re.split(r"\n\s*\n|\n(?=\s*(?:[-*]|\d+\.) )", path.read_text(encoding="utf-8")):
            text = " ".join(unit.split())
            if "benchmarks/" in text or "README" in text:
                if "tltui's source repository" not in text or re.search(r"README(?!\.md)", text):
                    unsaid.append(f"{path.name}: {text[:90]}")
    assert not unsaid, "\n".join(unsaid)


def test_lesson_references_point_at_lessons_that_exist():
    for lesson in LESSONS:
        for number in re.findall(r"[Ll]essons? (\d+)", lesson.text):
            assert 1 <= int(number) <= len(LESSONS), (lesson.name, number)


def test_every_registered_widget_is_used_by_a_lesson():
    used = {part.name for lesson in LESSONS for part in lesson.parts if isinstance(part, WidgetPart)}
    assert used == set(REGISTRY)


def test_find_lesson_by_number_name_and_prefix():
    first, second = LESSONS[0], LESSONS[1]
    assert find_lesson(LESSONS, "1") is first
    assert find_lesson(LESSONS, second.name) is second
    assert find_lesson(LESSONS, second.name[:6].upper()) is second
    for bad in ("0", str(len(LESSONS) + 1), "no-such-lesson", ""):
        with pytest.raises(LessonNotFound, match="give a number from 1 to"):
            find_lesson(LESSONS, bad)


def test_split_parts_sections_widgets_and_code():
    text = (
        "# Title\n\nIntro.\n\n```python\n## not a heading\n```\n\n"
        "## Section\n\nBody.\n\n```tltui race\nepochs: 3\n```\n\nAfter.\n\n"
        "````markdown\n```tltui not-a-widget\n```\n````\n"
    )
    parts = split_parts(text)
    assert parts[0] == MarkdownPart("# Title\n\nIntro.\n\n```python\n## not a heading\n```\n")
    assert parts[1] == MarkdownPart("## Section\n\nBody.\n")
    assert parts[2] == WidgetPart("race", {"epochs": "3"})
    assert isinstance(parts[3], MarkdownPart) and "not-a-widget" in parts[3].text
    assert len(parts) == 4


def test_widget_block_without_name_is_kept_as_unnamed_widget():
    assert split_parts("```tltui\n```\n") == [WidgetPart("")]


def test_markdown_is_mounted_in_short_chunks_that_never_split_a_fence():
    from tltui.ui.lesson.view import chunks

    text = "\n".join(["# Title", "", *[f"{i}. item {i}" for i in range(1, 25)], "", "```python",
                      *[f"x = {i}" for i in range(30)], "```", "", "After."])
    pieces = chunks(text, max_lines=10)
    assert "\n".join(t for t, _ in pieces) == text  # nothing lost, nothing added
    assert all(t.count("```") % 2 == 0 for t, _ in pieces)  # a code block stays whole
    assert len(pieces) >= 3 and max(len(t.splitlines()) for t, _ in pieces if "```" not in t) <= 12
    assert pieces[0][1] and pieces[1][0].startswith(tuple("0123456789"))  # the list goes on in the next
    for lesson in load_lessons():
        for part in lesson.parts:
            if hasattr(part, "text"):
                assert "\n".join(t for t, _ in chunks(part.text)) == part.text.rstrip("\n")


def test_lesson_fours_presets_table_names_each_presets_recipe():
    """The table of the presets measured (lesson 4) says what each preset sets now: its optimizer and LR,
    whether the head is fitted first, and one LR for every group; the probe, that it is one fit."""
    from tltui.core.presets import PRESETS, PROBE

    text = find_lesson(LESSONS, "fine-tuning").text
    rows = {m[0]: m[1] for m in re.findall(r"^\| (\S+) +\| ([^|]+?) +\| [\d.]+ % \|$", text, re.M)}
    assert set(rows) == set(PRESETS)
    assert rows[PROBE] == "one fit, L2 by cross-validation" and PRESETS[PROBE][1]["epochs"] == 1
    for name, (_, fields) in PRESETS.items():
        if name == PROBE:
            continue
        recipe = rows[name]
        assert f"{'AdamW' if fields['optimizer'] == 'adamw' else 'SGD'} {fields['lr']:.0e}".replace("e-0", "e-") \
            in recipe, name
        assert ("head fitted" in recipe) == fields.get("head_first", False), name
        assert ("one LR" in recipe) == (fields.get("lr_decay", 1.0) == 1.0 and fields.get("frozen") != BACKBONE), name


def test_lesson_fours_spelled_out_preset_is_the_preset():
    from tltui.cli.flags import config_from_args
    from tltui.cli.main import build_parser

    text = find_lesson(LESSONS, "fine-tuning").text
    after = text.split("## In tltui")[1]
    preset, spelled = bash_commands(after, "tltui train builtin-shifted")[:2]
    configs = [config_from_args(build_parser().parse_args(shlex.split(c)[1:])) for c in (preset, spelled)]
    assert "--preset" in preset and "--preset" not in spelled
    assert msgspec.structs.replace(configs[0], preset="") == configs[1]
