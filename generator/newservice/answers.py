"""Gather the answers of one `create`: flags, --data, --data-file, then defaults or prompts.

Everything is validated here, before a single file is written, with copier's own rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import BadAnswerError, MissingAnswersError
from .questions import Questionnaire, validate

# Asks one question interactively and returns a validated answer (see prompts.py).
Asker = Callable[[Any], Any]


def parse_data_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings from --data into a dict (the value may itself contain '=')."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadAnswerError(
                "--data", f"--data '{pair}' must be KEY=VALUE (e.g. --data port=8080)"
            )
        result[key.strip()] = value
    return result


def load_data_file(path: Path) -> dict[str, Any]:
    """The YAML mapping of answers in --data-file (the format of .copier-answers.yml)."""
    import yaml

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BadAnswerError("--data-file", f"--data-file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadAnswerError(
            "--data-file", f"--data-file {path} cannot be read ({error})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise BadAnswerError("--data-file", f"--data-file {path} is not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise BadAnswerError(
            "--data-file", f"--data-file {path} must be a YAML mapping of answer names to values"
        )
    # Private keys of an answers file (_src_path, _commit) are not answers.
    return {k: v for k, v in data.items() if not k.startswith("_")}


def collect_answers(
    questions: Questionnaire,
    given: Mapping[str, Any],
    *,
    defaults: bool,
    asker: Asker | None,
    offered: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every answer that applies, validated; raise BadAnswerError / MissingAnswersError.

    A question whose `ask` is false (an advanced setting while `advanced` is no) is not asked: it
    takes its default, or the answer given, and is recorded like any other answer. `offered`, when
    given, receives the default each answer was offered with (to show what was changed).
    """
    _reject_unknown(questions, given)
    answers: dict[str, Any] = {}
    missing: list[str] = []
    for name in questions.names:
        if questions.is_computed(name):
            continue
        question = questions.question(name, answers)
        if not question.get_when():
            if name in given:
                raise BadAnswerError(
                    name,
                    f"{name} does not apply here: it is only used when {questions.when_text(name)} "
                    f"(service_type is '{answers.get('service_type')}')",
                )
            continue
        if offered is not None:
            offered[name] = question.get_default()
        if name in given:
            answers[name] = validate(question, given[name])
        elif defaults or not question.get_ask():
            answers[name] = question.get_default()
        elif asker is not None:
            answers[name] = asker(question)
        else:
            missing.append(name)
            # Later defaults and `when`s may depend on this answer: assume the default.
            answers[name] = question.get_default()
    if missing:
        raise MissingAnswersError(missing)
    return answers


def _reject_unknown(questions: Questionnaire, given: Mapping[str, Any]) -> None:
    for name in given:
        if name not in questions.data:
            allowed = ", ".join(n for n in questions.names if not questions.is_computed(n))
            raise BadAnswerError(name, f"unknown answer '{name}'; the answers are: {allowed}")
        if questions.is_computed(name):
            raise BadAnswerError(
                name, f"{name} is computed by the template and cannot be given; leave it out"
            )
