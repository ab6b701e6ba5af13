"""The interactive path, driven for real in a pseudo-terminal (pexpect), once per service type.

Each run picks the type with the arrow keys, accepts defaults with Enter, gives one invalid answer
and checks that the prompt re-asks with the validator's reason.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

# A questionary prompt line: "? name: help", with colour codes between the parts.
PROMPT = re.compile(r"\?(?:\x1b\[[0-9;]*m)*\s(\w+): ")
DOWN, ENTER, CLEAR_LINE = "\x1b[B", "\r", "\x15"


class Session:
    """`newservice create ARGS` in a real pseudo-terminal, read prompt by prompt."""

    def __init__(self, cwd: Path, *args: str) -> None:
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
            dimensions=(50, 200),
        )
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


def recorded(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


class TestInteractiveCreate:
    def test_api_reasks_an_invalid_name_with_the_reason(self, tmp_path: Path) -> None:
        """api: Enter picks the default type; a bad name shows the DNS-1123 rule until fixed."""
        session = Session(tmp_path)
        session.prompt("service_type")
        session.expect("api: a synchronous HTTP service")  # each choice carries its one-line help
        session.send(ENTER)
        session.prompt("service_name")
        session.send(CLEAR_LINE + "Bad_Name" + ENTER)
        session.expect("service_name must be a DNS-1123 label")
        session.send(CLEAR_LINE + "shop-api" + ENTER)
        asked = session.accept_the_rest()
        assert asked[:5] == ["description", "owner", "repository_url", "lifecycle", "database"]
        assert "port" in asked and "broker" not in asked and "schedule" not in asked
        answers = recorded(tmp_path / "shop-api")
        assert answers["service_type"] == "api"
        assert answers["service_name"] == "shop-api"
        assert answers["description"] == "Orders API: create, get and list orders."  # the default
        assert answers["port"] == 8000

    def test_worker_reasks_an_unsupported_database_and_asks_the_broker(
        self, tmp_path: Path
    ) -> None:
        """worker: arrow down once; database 'mysql' (api only so far) is refused with the reason;
        broker is asked."""
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
        session.prompt("repository_url")
        session.send(ENTER)
        session.prompt("lifecycle")
        session.send(ENTER)
        session.prompt("database")
        session.send(DOWN + ENTER)  # mysql
        session.expect_reask("database 'mysql' is only offered for an api so far")
        session.prompt("database")
        session.send(ENTER)  # postgresql
        session.prompt("broker")
        session.send(DOWN + ENTER)  # kafka
        asked = session.accept_the_rest()
        assert "port" in asked and "schedule" not in asked
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
        session.prompt("repository_url")
        session.send(ENTER)
        session.prompt("lifecycle")
        session.send(ENTER)
        session.prompt("database")
        session.send(ENTER)
        session.prompt("schedule")
        session.send(CLEAR_LINE + "61 2 * * *" + ENTER)
        session.expect("is not a valid cron expression")
        session.send(CLEAR_LINE + "30 1 * * *" + ENTER)
        asked = session.accept_the_rest()
        assert asked[0] == "timezone"
        assert not {"port", "replicas", "broker"} & set(asked)
        answers = recorded(tmp_path / "nightly")
        assert answers["service_type"] == "cronjob"
        assert answers["schedule"] == "30 1 * * *"
        assert "port" not in answers

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
