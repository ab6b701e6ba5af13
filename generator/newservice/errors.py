"""The one error hierarchy of newservice.

Only `UserError` and its subclasses are meant for the person at the terminal: the CLI prints their
message (ONE sentence) on stderr and exits with their `exit_code`. Anything else is a bug and is
allowed to surface with its traceback, so that tests find it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadAnswerError",
    "CancelledError",
    "DirtyTreeError",
    "GitMissingError",
    "MissingAnswersError",
    "NewserviceError",
    "NotAServiceError",
    "OutputFolderError",
    "ServiceTypeChangeError",
    "TemplateSourceError",
    "UpdateConflictError",
    "UpdateFailedError",
    "UserError",
]


class NewserviceError(Exception):
    """Base class of every error newservice raises on purpose."""


class UserError(NewserviceError):
    """A problem the user can fix; `message` is one sentence, `exit_code` the process status."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, one sentence: collapse whitespace that validators or git may have left.
        text = " ".join(message.split())
        if text and text[-1] not in ".!?":
            text += "."
        super().__init__(text)
        self.message = text


class BadAnswerError(UserError):
    """An answer (flag, --data, --data-file or prompt) that the question spec does not allow."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MissingAnswersError(UserError):
    """No terminal to ask in, no --defaults, and some answers were not given."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            f"missing answers: {', '.join(self.missing)} (there is no terminal to ask in); "
            "give them with --data KEY=VALUE or --data-file, or pass --defaults to accept defaults"
        )


class OutputFolderError(UserError):
    """The output folder cannot receive a new service (exists and is not empty, is a file...)."""


class TemplateSourceError(UserError):
    """--template / --vcs-ref do not name a usable template source."""


class NotAServiceError(UserError):
    """`update` was pointed at a folder that is not a generated, git-tracked service."""


class DirtyTreeError(UserError):
    """`update` refuses to run over uncommitted changes."""


class ServiceTypeChangeError(UserError):
    """`update` refuses to turn a service into another type (copier would delete its files)."""


class UpdateFailedError(UserError):
    """copier refused the update with a message meant for the user (e.g. a downgrade)."""


class GitMissingError(UserError):
    """git is not installed: nothing can be versioned or updated."""


class CancelledError(UserError):
    """The user pressed Ctrl-C at a prompt."""

    exit_code = 130


class UpdateConflictError(UserError):
    """The update ran, but some files need a manual merge (or a decision: `kept`)."""

    exit_code = 1

    def __init__(self, conflicts: Sequence[str], kept: Sequence[str] = ()) -> None:
        self.conflicts = list(conflicts)
        self.kept = list(kept)
        self.notes: list[tuple[object, str]] = []  # the upgrade notes, set by update_service
        parts = []
        if self.conflicts:
            parts.append(
                f"the update left {len(self.conflicts)} conflicting file(s) to resolve by hand: "
                f"{', '.join(self.conflicts)}; fix the conflict markers (or *.rej files)"
            )
        if self.kept:
            parts.append(
                f"the new template version removed {len(self.kept)} file(s) you changed, kept "
                f"as you had them: {', '.join(self.kept)}; delete them if you no longer need them"
            )
        super().__init__("; ".join(parts) + ", then commit")
