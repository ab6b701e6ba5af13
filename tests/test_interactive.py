"""The interactive path, driven for real in an 80-column pseudo-terminal (pexpect), per type.

Each run picks the type with the arrow keys, accepts defaults with Enter, gives one invalid answer
and checks that the prompt re-asks with the validator's reason, in full on the screen a person
sees (pyte, a terminal emulator, renders the bytes the program wrote), and that the essentials come
first and the advanced settings only after a yes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pyte
import pytest
import yaml

from tests.support.render import REPO_ROOT

# A questionary prompt line: "? name: help", with colour codes between the parts.
PROMPT = re.compile(r"\?(?:\x1b\[[0-9;]*m)*\s(\w+): ")
DOWN, ENTER, CLEAR_LINE = "\x1b[B", "\r", "\x15"
COLUMNS, ROWS = 80, 200  # tall, so that nothing scrolls off the emulated screen
SPEC = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
ADVANCED = [
    n for n, spec in SPEC.items() if isinstance(spec, dict) and "advanced" in str(spec.get("ask"))
]


class Session:
    """`newservice create ARGS` in a real pseudo-terminal, read prompt by prompt."""

    def __init__(self, cwd: Path, *args: str) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        # The console script next to this interpreter (not a PATH shim that may pick another).
        beside = Path(sys.executable).parent / "newservice"
        exe = str(beside) if beside.exists() else shutil.which("newservice")
        assert exe, "the newservice console script is not installed"
        # A pty answers no cursor-position requests; without this prompt_toolkit waits for one.
        env = {**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
        self.child = pexpect.spawn(
            exe,
            ["create", *args],
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            timeout=90,
            dimensions=(ROWS, COLUMNS),
        )
        self.screen = pyte.Screen(COLUMNS, ROWS)
        stream = pyte.Stream(self.screen)
        self.child.logfile_read = _Feed(stream)
        self.current: str | None = None

    def _next_prompt(self, *others: str) -> str | None:
        """The name of the next NEW prompt (a redraw of the current one is skipped), or None
        when one of `others` came first."""
        while True:
            index = self.child.expect([PROMPT, *others])
            if index:
                return None
            name = self.child.match.group(1)
            if name != self.current:
                self.current = name
                return name

    def prompt(self, name: str) -> None:
        got = self._next_prompt()
        assert got == name, f"expected the {name} prompt, got {got}"

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def expect(self, text: str) -> None:
        self.child.expect(text)

    def expect_reask(self, reason: str) -> None:
        """The reason is printed and the same question comes again."""
        self.child.expect(reason)
        self.current = None

    def screen_text(self) -> str:
        """What the emulated 80-column screen shows, its lines joined by single spaces."""
        return " ".join(" ".join(line.split()) for line in self.screen.display if line.strip())

    def accept_the_rest(self) -> list[str]:
        """Press Enter at every remaining prompt; return their names once the summary shows."""
        asked = []
        while (name := self._next_prompt("Created the")) is not None:
            asked.append(name)
            self.child.send(ENTER)
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0, self.child.before
        return asked


class _Feed:
    """A pexpect logfile that feeds what the child writes into the terminal emulator."""

    def __init__(self, stream: pyte.Stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        self.stream.feed(text)

    def flush(self) -> None:
        return None


def recorded(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


def files(service: Path) -> dict[str, bytes]:
    """Every file of a generated repo outside .git, by relative path."""
    return {
        str(path.relative_to(service)): path.read_bytes()
        for path in sorted(service.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(service).parts
    }


class TestInteractiveCreate:
    def test_api_reasks_an_invalid_name_with_the_full_reason(self, tmp_path: Path) -> None:
        """api: Enter picks the default type; a bad name is re-asked with the whole DNS-1123 rule
        and what was typed, readable at 80 columns; then the essentials and `advanced` only."""
        session = Session(tmp_path)
        session.prompt("service_type")
        session.expect("api: a synchronous HTTP service")  # each choice carries its one-line help
        session.send(ENTER)
        session.prompt("service_name")
        session.send(CLEAR_LINE + "Bad_Name" + ENTER)
        session.expect_reask("Please answer again")
        session.prompt("service_name")
        reason = (
            "service_name must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', "
            "starting with a letter and ending with a letter or digit; got 'Bad_Name'. "
            "Please answer again."
        )
        assert reason in session.screen_text(), session.screen_text()
        # What was typed is offered again to edit: the new prompt line holds it.
        session.expect("Bad_Name")
        session.send(CLEAR_LINE + "shop-api" + ENTER)
        asked = session.accept_the_rest()
        assert asked == ["description", "owner", "database", "events", "cache", "advanced"]
        screen = session.screen_text()
        # A long path wraps wherever the terminal cuts it: compare it without the spaces.
        assert f"Creating{tmp_path / 'shop-api'}" in screen.replace(" ", "")
        assert "changed from the defaults: service_name shop-api Created the" in screen
        answers = recorded(tmp_path / "shop-api")
        assert answers["service_type"] == "api"
        assert answers["service_name"] == "shop-api"
        assert answers["description"] == "Orders API: create, get and list orders."  # the default
        assert (answers["advanced"], answers["port"], answers["lifecycle"]) == (
            False,
            8000,
            "experimental",
        )  # not asked, and recorded all the same: an update keeps them

    def test_worker_reasks_an_unsupported_database_and_asks_the_broker(
        self, tmp_path: Path
    ) -> None:
        """worker: six answers, then `advanced`; database 'none' (api only: a worker needs a
        store) is refused with the reason."""
        session = Session(tmp_path)
        session.prompt("service_type")
        session.send(DOWN + ENTER)
        session.prompt("service_name")
        session.expect("notifications")  # the default rendered for a worker
        session.send(ENTER)
        session.prompt("description")
        session.send(ENTER)
        session.prompt("owner")
        session.send(ENTER)
        session.prompt("database")
        session.send(DOWN * 4 + ENTER)  # none
        session.expect_reask("database 'none' is only offered for an api")
        session.prompt("database")
        assert (
            "database 'none' is only offered for an api: a worker needs a store to be idempotent; "
            "choose postgresql. Please answer again."
        ) in session.screen_text()
        session.send(ENTER)  # postgresql
        session.prompt("broker")
        session.send(DOWN + ENTER)  # kafka
        assert session.accept_the_rest() == ["advanced"]
        assert "changed from the defaults: service_type worker broker kafka" in (
            session.screen_text()
        )
        answers = recorded(tmp_path / "notifications")
        assert (answers["service_type"], answers["database"], answers["broker"]) == (
            "worker",
            "postgresql",
            "kafka",
        )

    def test_cronjob_reasks_a_bad_schedule_and_skips_http_questions(self, tmp_path: Path) -> None:
        """cronjob: arrow down twice; a bad cron expression is re-asked; no port/replicas/broker."""
        session = Session(tmp_path, "nightly")
        session.prompt("service_type")
        session.send(DOWN + DOWN + ENTER)
        session.prompt("description")  # NAME was given on the command line: not asked
        session.send(ENTER)
        session.prompt("owner")
        session.send(ENTER)
        session.prompt("database")
        session.send(ENTER)
        session.prompt("schedule")
        session.send(CLEAR_LINE + "61 2 * * *" + ENTER)
        session.expect_reask("is not a valid cron expression")
        session.prompt("schedule")
        session.send(CLEAR_LINE + "30 1 * * *" + ENTER)
        assert session.accept_the_rest() == ["timezone", "advanced"]
        answers = recorded(tmp_path / "nightly")
        assert answers["service_type"] == "cronjob"
        assert answers["schedule"] == "30 1 * * *"
        assert "port" not in answers

    def test_yes_to_advanced_asks_each_advanced_setting_and_renders_as_the_flags_do(
        self, tmp_path: Path
    ) -> None:
        """Yes reaches every advanced question that applies; a bad number is re-asked; the repo
        equals the non-interactive render of the same answers, file for file."""
        session = Session(tmp_path / "asked", "--type", "worker")
        for name in ("service_name", "description", "owner", "database", "broker"):
            session.prompt(name)
            session.send(ENTER)
        session.prompt("advanced")
        session.send("y")
        session.prompt("repository_url")
        session.send(ENTER)
        for name in ("lifecycle", "database_version", "database_storage", "database_ha"):
            session.prompt(name)
            session.send(ENTER)
        session.prompt("port")
        session.send(CLEAR_LINE + "eighty" + ENTER)
        session.expect_reask("port must be a whole number; got 'eighty'")
        session.prompt("port")
        session.send(CLEAR_LINE + "9000" + ENTER)
        asked = session.accept_the_rest()
        # After port: every advanced setting but the API's own deadline.
        after_port = ADVANCED[ADVANCED.index("port") + 1 :]
        assert asked == [name for name in after_port if name != "request_timeout"]
        flags = Session(tmp_path / "given", "--type", "worker", "--defaults", "-d", "advanced=true")
        flags.child.expect(pexpect.EOF)
        # The interactive render used the same defaults, except the port typed.
        assert recorded(tmp_path / "asked" / "notifications") == {
            **recorded(tmp_path / "given" / "notifications"),
            "port": 9000,
        }
        again = Session(
            tmp_path / "port", "--type", "worker", "--defaults", "-d", "advanced=true",
            "-d", "port=9000",
        )  # fmt: skip
        again.child.expect(pexpect.EOF)
        assert files(tmp_path / "asked" / "notifications") == files(
            tmp_path / "port" / "notifications"
        )

    def test_defaults_in_a_terminal_ask_nothing(self, tmp_path: Path) -> None:
        """--defaults wins over the terminal: no prompt, straight to the summary."""
        session = Session(tmp_path, "quiet-one", "--type", "worker", "--defaults")
        assert session.accept_the_rest() == []
        assert recorded(tmp_path / "quiet-one")["broker"] == "rabbitmq"

    def test_ctrl_c_cancels_without_writing(self, tmp_path: Path) -> None:
        """Ctrl-C at a prompt: a one-line message, exit 130, nothing written."""
        session = Session(tmp_path)
        session.prompt("service_type")
        session.child.sendintr()
        session.expect("cancelled; nothing was written")
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 130
        assert list(tmp_path.iterdir()) == []


@pytest.fixture(autouse=True)
def _no_ci_tty_surprises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompts must appear even when CI is set: they depend on the terminal, not on CI."""
    monkeypatch.setenv("CI", "true")
