"""Interactive answers: each copier question becomes one questionary prompt.

The prompt shows the question's help, its choices (each with its one-line help from copier.yml) and
its rendered default. An answer is checked once it is entered, with copier's validator (the same
sentence the non-interactive CLI prints). A rejected answer is re-asked with that sentence printed
in full above the prompt, wrapped to the terminal, and what was typed offered again to edit:
questionary's as-you-type toolbar is a single line, and cuts a reason off at 80 columns.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import BadAnswerError, CancelledError
from .questions import validate

# Prompt types whose default is the text in the input line (so a re-ask can offer what was typed).
_TYPED = {"input", "path"}


def ask(question: Any) -> Any:
    """Ask `question` (copier's Question) until the answer is valid, and return it."""
    from questionary import unsafe_prompt

    typed: str | None = None
    while True:
        structure = question.get_questionary_structure()
        structure["qmark"] = "?"
        structure["message"] = f"{question.var_name}: {structure['message'].strip()}"
        # Validation and casting happen below, after Enter, so that a reason is shown in full.
        structure.pop("validate", None)
        structure.pop("filter", None)
        if typed is not None and structure["type"] in _TYPED:
            structure["default"] = typed
        try:
            answer = unsafe_prompt([structure])[question.var_name]
        except (KeyboardInterrupt, EOFError):
            raise CancelledError("cancelled; nothing was written") from None
        try:
            return validate(question, answer)
        except BadAnswerError as error:
            typed = answer if isinstance(answer, str) else None
            print(wrapped(f"{error.message} Please answer again."), file=sys.stderr, flush=True)


def wrapped(text: str, indent: str = "  ") -> str:
    """`text` as lines that fit the terminal (at most 100 columns, to stay readable)."""
    width = min(shutil.get_terminal_size((80, 24)).columns, 100) - 1
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def announce_plan(
    answers: Mapping[str, Any], offered: Mapping[str, Any], destination: Path
) -> None:
    """Before anything is written: the answers that differ from their defaults, and where to."""
    rows = [(name, value) for name, value in answers.items() if offered.get(name) != value]
    lines = [f"Creating {destination}"]
    if rows:
        lines.append("with these answers changed from the defaults:")
        width = max(len(name) for name, _ in rows)
        lines += [f"  {name.ljust(width)}  {_shown(value)}" for name, value in rows]
    else:
        lines.append("with the default answers.")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
