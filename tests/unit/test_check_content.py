"""The checks of understanding as content: every lesson has 3 to 5 questions, each parses, has its
reasoning, and every measurement names its command and is the experiment that ``e`` runs; predictions are
asked before the lesson shows their answer; option lengths do not give the answer away; the experiments
the lessons quote are the ones the checks run; the parser refuses what the widget could not show."""

from __future__ import annotations

import re
import shlex

import msgspec
import pytest

from tltui.cli.flags import config_from_args
from tltui.cli.main import build_parser
from tltui.ui.content.check_runs import EXPERIMENTS, check_runs
from tltui.ui.content.checks import checks_path, load_checks, question_ids, select_questions
from tltui.ui.lessons import MarkdownPart, WidgetPart, lessons_dir, load_lessons

LESSONS = load_lessons()
CHECKS = {lesson.name: load_checks(checks_path(lesson.path)) for lesson in LESSONS}


def blocks(lesson) -> list[tuple[str, list[str]]]:
    """(the lesson's markdown above it, the ids it asks) of each check block of ``lesson``, in order."""
    checks = CHECKS[lesson.name]
    elsewhere = {qid for part in lesson.parts if isinstance(part, WidgetPart) and part.name == "check"
                 for qid in question_ids(part.options.get("questions", ""))}
    found, above = [], ""
    for part in lesson.parts:
        if isinstance(part, MarkdownPart):
            above += part.text
        elif part.name == "check":
            named = question_ids(part.options.get("questions", ""))
            found.append((above, [q.id for q in select_questions(checks, named, elsewhere, lesson.path.name)]))
    return found


def test_every_lesson_has_its_checks_file_and_asks_each_question_once():
    files = sorted(p.name for p in (lessons_dir() / "checks").glob("*.md"))
    assert files == sorted(lesson.path.name for lesson in LESSONS)
    for lesson in LESSONS:
        checks = [part for part in lesson.parts if isinstance(part, WidgetPart) and part.name == "check"]
        assert sum("questions" not in part.options for part in checks) == 1, lesson.name
        asked = [qid for _, ids in blocks(lesson) for qid in ids]
        assert sorted(asked) == sorted(q.id for q in CHECKS[lesson.name].questions), lesson.name
        assert CHECKS[lesson.name].name == lesson.name


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_three_to_five_questions_each_with_its_reasoning(lesson):
    questions = CHECKS[lesson.name].questions
    assert 3 <= len(questions) <= 5
    for q in questions:
        assert q.text.endswith(("?", "...", ".", ":")), q.id
        assert 2 <= len(q.options) <= 9 and 1 <= q.answer <= len(q.options), q.id
        assert len(set(q.options)) == len(q.options), q.id
        assert len(q.why) >= 60, q.id
        assert q.run == "" or q.run in EXPERIMENTS, q.id


def test_at_least_36_questions_and_a_real_measurement_behind_the_predictions():
    questions = [q for check in CHECKS.values() for q in check.questions]
    assert len(questions) >= 36
    assert sum(q.predict for q in questions) >= 10
    assert {q.run for q in questions if q.run} >= {"shuffled-probe", "bn-small-batch", "same-lr"}


def test_every_measurement_names_the_command_that_made_it():
    for check in CHECKS.values():
        for q in check.questions:
            if q.measured:
                assert re.search(r"`(tltui|python) [^`]+`", q.measured), (check.name, q.id)


def test_the_answers_are_not_always_the_same_option():
    answers = [q.answer for check in CHECKS.values() for q in check.questions]
    assert len(set(answers)) >= 3 and max(answers.count(a) for a in set(answers)) < 0.6 * len(answers)


def shown_length(option: str) -> int:
    """An option's length as drawn: inline code and emphasis marks take no room."""
    return len(re.sub(r"[`*]", "", option))


def strictly(pick, q) -> bool:
    """Whether the right option is strictly the longest (``pick`` max) or shortest (``pick`` min)."""
    lengths = [shown_length(o) for o in q.options]
    extreme = pick(lengths)
    return lengths[q.answer - 1] == extreme and lengths.count(extreme) == 1


#: With three options of random lengths the right one is strictly the longest a third of the time, and a
#: file has 3 to 5 questions: 40 % allows one in three or four and two in five, a little above chance and
#: far below files where the right option was nearly always the longest, which taught "pick the longest".
MOST = 0.4


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_the_right_option_is_not_usually_the_longest_nor_the_shortest(lesson):
    """Shortening every right option would only turn the tell around."""
    questions = CHECKS[lesson.name].questions
    longest = [q.id for q in questions if strictly(max, q)]
    shortest = [q.id for q in questions if strictly(min, q)]
    assert len(longest) <= MOST * len(questions), longest
    assert len(shortest) <= MOST * len(questions), shortest


def test_yet_sometimes_the_longest():
    """Never the longest would be a tell too: across all the checks, at least one question in ten."""
    questions = [q for check in CHECKS.values() for q in check.questions]
    assert sum(strictly(max, q) for q in questions) >= 0.1 * len(questions)


def measured_configs(measured: str) -> list:
    """The runs a Measured paragraph quotes: each ``tltui train`` command, and its first one again with each
    "then `--flag value`" added or "then without `--flag`" removed."""
    text = " ".join(measured.split())
    commands = re.findall(r"`(tltui train [^`]+)`", text)
    configs = [config_of(command) for command in commands]
    for without, variant in re.findall(r"(without )?`(--[^`]+)`", text):
        words = shlex.split(commands[0])
        if without:
            words.remove(variant)
        else:
            words += shlex.split(variant)
        configs.append(config_of(shlex.join(words)))
    return configs


@pytest.mark.parametrize("question", [q for check in CHECKS.values() for q in check.questions if q.measured],
                         ids=lambda q: q.id)
def test_a_measurement_is_what_its_experiment_runs(question):
    """Every question that quotes a measurement has ``run:``, and ``e`` runs the commands it quotes (seed 0,
    or the seeds the paragraph names), no more and no fewer."""
    assert question.run in EXPERIMENTS, question.id
    quoted = measured_configs(question.measured)
    runs = [config for _, config in check_runs(question.run, "tiny")]
    assert quoted, question.id
    for config in runs:
        assert any(msgspec.structs.replace(q, seed=config.seed) == config for q in quoted), (question.id, config)
    for q in quoted:
        assert any(msgspec.structs.replace(q, seed=config.seed) == config for config in runs), (question.id, q)
    assert "seeds" in question.measured or {config.seed for config in runs} == {0}, question.id


def measured_numbers(measured: str) -> set[str]:
    """The numbers a measurement reports: decimals, and whole numbers of percent."""
    return set(re.findall(r"\d+\.\d+|\d+(?= ?%)", measured))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_a_prediction_is_asked_before_the_lesson_states_its_measurement(lesson):
    """A question with a measurement is a prediction: the lesson's text above its block may quote some of
    the numbers (a table with one of the arms), never all of them."""
    measured = {q.id: q.measured for q in CHECKS[lesson.name].questions if q.measured}
    for above, ids in blocks(lesson):
        text = re.sub(r"(\d) %", r"\1%", above)
        for qid in ids:
            if qid in measured:
                numbers = measured_numbers(measured[qid])
                assert numbers, qid
                stated = {n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?!\d|\.\d)", text)}
                assert stated != numbers, (qid, sorted(stated))


def lesson_command(lesson: str, start: str) -> str:
    """The first ``tltui train`` command in a lesson's bash blocks that starts with ``start``."""
    text = next(les for les in LESSONS if les.name == lesson).text
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            if line.startswith(start):
                return line.split("#")[0].strip()
    raise AssertionError(f"no command starting {start!r} in {lesson}")


def config_of(command: str, **extra: str):
    words = shlex.split(command)[1:]
    for flag, value in extra.items():
        words += [flag, value]
    return config_from_args(build_parser().parse_args(words))


@pytest.mark.parametrize("lesson, start, experiment, arms", [
    ("feature-extraction", "tltui train builtin --model tiny --preset feature-extraction", "shuffled-probe",
     [{}]),
    ("playground", "tltui train builtin --model tiny --limit-per-class 20", "bn-small-batch",
     [{"--bn": "freeze"}, {"--bn": "train"}]),
    ("finding-the-learning-rate", "tltui train builtin --model tiny --limit-per-class 20", "same-lr",
     [{"--optimizer": "sgd", "--lr": "1e-3"}, {"--optimizer": "adamw", "--lr": "1e-3"}]),
])
def test_a_checks_live_experiment_is_the_command_its_lesson_measured(lesson, start, experiment, arms):
    command = lesson_command(lesson, start)
    for (label, config), extra in zip(check_runs(experiment, "tiny"), arms, strict=True):
        quoted = config_of(command, **extra)
        assert msgspec.structs.replace(quoted, seed=0) == config, (experiment, label)


def test_the_shuffled_probe_is_lesson_3s_command_word_for_word():
    command = lesson_command("feature-extraction", "tltui train builtin --model tiny --preset feature-extraction")
    assert "--shuffle-labels" in command and "--limit-per-class 10" in command


@pytest.mark.parametrize("body, message", [
    ("answer: 4\n\nQ?\n\n1. a\n2. b\n\nWhy: because.", "answer must be the number of one of its 2 options"),
    ("answer: 1\nrun: magic\n\nQ?\n\n1. a\n2. b\n\nWhy: because.", "unknown experiment 'magic'"),
    ("answer: 1\n\nQ?\n\n1. a\n3. b\n\nWhy: because.", "options are numbered 1, 2, 3"),
    ("answer: 1\n\nQ?\n\n1. a\n2. b\n\nMeasured: 3 %.", "missing the 'Why:' paragraph"),
    ("answer: 1\ncolour: red\n\nQ?\n\n1. a\n2. b\n\nWhy: because.", "expected 'answer: N'"),
    ("answer: 1\n\nQ?\n\n1. a\n\nWhy: because.", "between 2 and 9 options"),
    ("answer: 1\n\nQ?\n\n1. a\n2. b\n\nWhy: one.\n\nWhy: two.", "after the options come one 'Why:'"),
])
def test_a_broken_question_names_itself(tmp_path, body, message):
    path = tmp_path / "01-x.md"
    path.write_text(f"# Checks\n\nAbout.\n\n## odd-one\n\n{body}\n")
    with pytest.raises(ValueError, match=f"odd-one: {re.escape(message)}"):
        load_checks(path)


def test_a_file_without_title_or_questions_or_with_a_repeated_id_is_refused(tmp_path):
    path = tmp_path / "01-x.md"
    path.write_text("No title\n")
    with pytest.raises(ValueError, match="first line is '# Title'"):
        load_checks(path)
    path.write_text("# Checks\n\nNothing here.\n")
    with pytest.raises(ValueError, match="no '## id' question"):
        load_checks(path)
    question = "## q\n\nanswer: 1\n\nQ?\n\n1. a\n2. b\n\nWhy: because.\n\n"
    path.write_text("# Checks\n\n" + question * 2)
    with pytest.raises(ValueError, match="share an id: q"):
        load_checks(path)
