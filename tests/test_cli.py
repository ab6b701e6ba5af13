"""The `newservice` command line: flags, help, and the promise that --help never imports copier."""

from __future__ import annotations

import subprocess
import sys
from contextlib import chdir
from pathlib import Path

import yaml
from newservice.cli import app
from newservice.git import git
from typer.testing import CliRunner


def invoke(*args: str, cwd: Path | None = None):
    if cwd is None:
        return CliRunner().invoke(app, list(args))
    with chdir(cwd):
        return CliRunner().invoke(app, list(args))


def recorded(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


class TestHelp:
    def test_lists_both_commands(self) -> None:
        """`newservice --help` names create and update."""
        result = invoke("--help")
        assert result.exit_code == 0
        assert "create" in result.stdout and "update" in result.stdout

    def test_each_command_has_examples(self) -> None:
        """Every command's help ends with runnable examples."""
        for command in ("create", "update"):
            result = invoke(command, "--help")
            assert result.exit_code == 0
            assert "Examples:" in result.stdout
            assert f"newservice {command}" in result.stdout.split("Examples:")[1]

    def test_create_help_names_every_choice_of_the_flagged_answers(self) -> None:
        """--database and --broker list every value copier.yml offers (no stale help)."""
        questions = yaml.safe_load((Path(__file__).parents[1] / "copier.yml").read_text())
        help_text = " ".join(invoke("create", "--help").stdout.split())
        for answer in ("database", "broker"):
            for value in questions[answer]["choices"].values():
                assert value in help_text.split(f"--{answer}")[1].split("(answer")[0], value

    def test_help_does_not_import_copier(self) -> None:
        """--help (top level and per command) stays fast: copier is imported only to render."""
        code = (
            "import sys\n"
            "from newservice.cli import main\n"
            "for argv in (['--help'], ['create', '--help'], ['update', '--help']):\n"
            "    sys.argv = ['newservice', *argv]\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit:\n"
            "        pass\n"
            "loaded = any(m.split('.')[0] == 'copier' for m in sys.modules)\n"
            "print('COPIER_IMPORTED' if loaded else 'NO_COPIER')\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("NO_COPIER")

    def test_version(self) -> None:
        result = invoke("--version")
        assert result.exit_code == 0
        assert result.stdout.startswith("newservice ")


class TestCreateFlags:
    def test_worker_flags_land_in_the_answers(self, tmp_path: Path) -> None:
        """NAME, --type, --database, --broker, --defaults, --output map to the answers."""
        out = tmp_path / "svc"
        result = invoke(
            "create",
            "notifications",
            "--type",
            "worker",
            "--database",
            "postgresql",
            "--broker",
            "kafka",
            "--defaults",
            "--output",
            str(out),
        )
        assert result.exit_code == 0, result.output
        answers = recorded(out)
        assert answers["service_name"] == "notifications"
        assert (answers["service_type"], answers["database"], answers["broker"]) == (
            "worker",
            "postgresql",
            "kafka",
        )
        assert "Created the worker service notifications" in result.stdout
        assert f"cd {out}" in result.stdout

    def test_data_file_then_data_then_flags(self, tmp_path: Path) -> None:
        """--data-file < --data < named flags, and any answer can be given by name."""
        (tmp_path / "answers.yml").write_text(
            "port: 9000\nowner: payments\nreplicas: 2\n_commit: ignored\n"
        )
        result = invoke(
            "create",
            "pay",
            "--data-file",
            "answers.yml",
            "--data",
            "port=9100",
            "--data",
            "description=Takes payments: cards = money.",
            "--defaults",
            cwd=tmp_path,
        )
        assert result.exit_code == 0, result.output
        answers = recorded(tmp_path / "pay")
        assert answers["port"] == 9100
        assert answers["owner"] == "payments"
        assert answers["replicas"] == 2
        assert answers["description"] == "Takes payments: cards = money."

    def test_output_defaults_to_the_name(self, tmp_path: Path) -> None:
        """Without --output the service lands in ./NAME, and the summary says what to run next."""
        result = invoke("create", "billing", "--defaults", cwd=tmp_path)
        assert result.exit_code == 0, result.output
        assert recorded(tmp_path / "billing")["service_name"] == "billing"
        assert "cd billing" in result.stdout
        assert sorted(p.name for p in tmp_path.iterdir()) == ["billing"]  # no staging left behind

    def test_existing_empty_output_and_missing_parents(self, tmp_path: Path) -> None:
        """An empty output folder is filled; missing parent folders are created."""
        (tmp_path / "empty").mkdir()
        assert (
            invoke("create", "a", "--defaults", "--output", str(tmp_path / "empty")).exit_code == 0
        )
        assert (tmp_path / "empty" / ".copier-answers.yml").is_file()
        nested = tmp_path / "x" / "y" / "b"
        assert invoke("create", "b", "--defaults", "--output", str(nested)).exit_code == 0
        assert (nested / ".copier-answers.yml").is_file()

    def test_pretend_lists_files_and_writes_nothing(self, tmp_path: Path) -> None:
        """--pretend shows what would be written and leaves the folder empty."""
        result = invoke(
            "create", "ghost", "--type", "cronjob", "--defaults", "--pretend", cwd=tmp_path
        )
        assert result.exit_code == 0, result.output
        assert ".copier-answers.yml" in result.output
        assert "wrote nothing" in result.stdout
        assert list(tmp_path.iterdir()) == []

    def test_created_repo_has_one_commit_and_a_clean_tree(self, tmp_path: Path) -> None:
        """The result is a git repository: one commit, nothing uncommitted."""
        assert invoke("create", "orders", "--defaults", cwd=tmp_path).exit_code == 0
        repo = tmp_path / "orders"
        assert git("rev-list", "--count", "HEAD", cwd=repo).strip() == "1"
        assert git("status", "--porcelain", "--untracked-files=all", cwd=repo) == ""
