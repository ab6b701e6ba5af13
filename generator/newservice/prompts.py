"""Interactive answers: each copier question becomes one questionary prompt.

The prompt shows the question's help, its choices (each with its one-line help from copier.yml) and
its rendered default. A typed answer is checked as it is typed with copier's validator (the same
sentence the non-interactive CLI prints); a picked choice that the validator rejects (e.g. database
'none' for a worker) is re-asked with the reason.
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import BadAnswerError, CancelledError
from .questions import validate, validator_message


def ask(question: Any) -> Any:
    """Ask `question` (copier's Question) until the answer is valid, and return it."""
    from questionary import unsafe_prompt

    while True:
        structure = question.get_questionary_structure()
        structure["qmark"] = "?"
        structure["message"] = f"{question.var_name}: {structure['message'].strip()}"
        if "validate" in structure:
            structure["validate"] = lambda text, q=question: validator_message(q, text)
        try:
            answer = unsafe_prompt([structure])[question.var_name]
        except (KeyboardInterrupt, EOFError):
            raise CancelledError("cancelled; nothing was written") from None
        try:
            return validate(question, answer)
        except BadAnswerError as error:
            print(f"  {error.message} Please answer again.", file=sys.stderr, flush=True)
