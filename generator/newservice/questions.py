"""The question spec (copier.yml) exactly as copier reads it, for prompts, flags and validation.

copier's own `Question` model does the work: its defaults are rendered with copier's Jinja
environment and its validators with copier's rendering, so each rule is declared once in
copier.yml and behaves the same in `newservice create`, `copier copy` and `copier update`.
(`Question` and `Worker` are copier internals; pyproject.toml pins copier < 10 for that reason.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from copier._user_data import AnswersMap, Question
from copier.errors import UserMessageError

from .errors import BadAnswerError, TemplateSourceError

if TYPE_CHECKING:
    from copier._main import Worker

_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "yes or no (true/false)",
    "json": "valid JSON",
    "yaml": "valid YAML",
}
_VALIDATION_PREFIX = re.compile(r"^Validation error for question '[^']*':\s*", re.DOTALL)
# The answers this generator relies on; a --template source must declare them.
REQUIRED = ("service_type", "service_name")


def running_python(spec: Mapping[str, Any], running: str | None = None) -> Any:
    """The running interpreter's X.Y when it is a choice of `spec`, else the newest choice.

    A new user's first command is `newservice create --defaults` and then the generated README
    with the same `python3`: the default must be a Python they have, not one they must install.
    """
    choices = spec.get("choices")
    values = list(choices.values()) if isinstance(choices, Mapping) else list(choices or [])
    running = running or f"{sys.version_info.major}.{sys.version_info.minor}"
    if not values:
        return spec.get("default")
    if running in values:
        return running
    return max(values, key=lambda v: tuple(int(part) for part in re.findall(r"\d+", str(v))))


# Defaults that only the running generator can know; copier.yml keeps a static fallback for plain
# `copier copy`. Each takes the question's declaration and returns the default to offer.
RUNTIME_DEFAULTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "python_version": running_python,
}


class Questionnaire:
    """The questions of one template source, in declaration order."""

    def __init__(self, worker: Worker, shown_source: str) -> None:
        self._worker = worker
        self.data: Mapping[str, Mapping[str, Any]] = worker.template.questions_data
        missing = [name for name in REQUIRED if name not in self.data]
        if missing:
            raise TemplateSourceError(
                f"the template source {shown_source} does not declare the question(s) "
                f"{', '.join(missing)} in copier.yml; it needs the layout of newservice's templates"
            )

    @property
    def names(self) -> list[str]:
        return list(self.data)

    def is_computed(self, name: str) -> bool:
        """A question with a literal `when: false` is never asked: copier computes it."""
        return self.data[name].get("when", True) is False

    def question(self, name: str, answers: Mapping[str, Any]) -> Question:
        """copier's Question for `name`, rendered against the answers given so far."""
        spec = dict(self.data[name])
        if name in RUNTIME_DEFAULTS:
            spec["default"] = RUNTIME_DEFAULTS[name](spec)
        return Question(
            var_name=name,
            answers=AnswersMap(),
            context=dict(answers),
            jinja_env=self._worker.jinja_env,
            settings=self._worker.settings,
            **spec,
        )

    def when_text(self, name: str) -> str:
        """The `when` condition as a reader would write it (without the Jinja braces)."""
        when = str(self.data[name].get("when", ""))
        return when.replace("{{", "").replace("}}", "").strip()


def choice_values(question: Question) -> list[Any]:
    return [choice.value for choice in question._formatted_choices if not choice.disabled]


def validate(question: Question, raw: Any) -> Any:
    """Cast and validate `raw` with copier's own rules; raise BadAnswerError with one sentence."""
    name = question.var_name
    shown = raw if isinstance(raw, str) else repr(raw)
    try:
        question.cast_answer(raw)
    except (ValueError, TypeError):
        kind = _TYPE_WORDS.get(question.get_type_name(), question.get_type_name())
        raise BadAnswerError(name, f"{name} must be {kind}; got '{shown}'") from None
    try:
        value = question.parse_answer(raw)
    except (ValueError, TypeError):
        allowed = ", ".join(str(v) for v in choice_values(question))
        raise BadAnswerError(name, f"{name} must be one of {allowed}; got '{shown}'") from None
    try:
        question.validate_answer(value)
    except (ValueError, UserMessageError) as error:
        message = _VALIDATION_PREFIX.sub("", str(error)).strip()
        if "got " not in message and f"'{shown}'" not in message:
            message += f"; got '{shown}'"
        raise BadAnswerError(name, message) from None
    return value


def validator_message(question: Question, text: str) -> str | bool:
    """questionary's `validate` hook: True, or the same sentence the CLI would print."""
    try:
        validate(question, text)
    except BadAnswerError as error:
        return error.message
    return True
