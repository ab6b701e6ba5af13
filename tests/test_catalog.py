"""The Backstage catalog entry and TechDocs of every template, checked with Backstage's own tools.

- @backstage/catalog-model (npm) ingests each generated catalog-info.yaml with the catalog's
  policies and the Component schema, and reads its source location;
- the links trace to the answers: source location and project slug from `repository_url` (GitHub,
  GitLab, any other host), `lifecycle` from its answer (`experimental` by default: a service made a
  minute ago is not in production);
- `backstage.io/techdocs-ref: dir:.` points at docs that build: `mkdocs build` with TechDocs' own
  plugin (mkdocs-techdocs-core), as Backstage's TechDocs builder runs it, gives the README.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.backstage import validate_catalog
from tests.support.render import render

# (service type, answers, expected source location, expected slug annotation or None)
CASES = {
    "api-defaults": (
        "api",
        {},
        "https://github.com/platform-team/orders/tree/main/",
        ("github.com/project-slug", "platform-team/orders"),
    ),
    "worker-gitlab-subgroup": (
        "worker",
        {
            "broker": "kafka",
            "repository_url": "https://gitlab.com/acme/payments/notifier",
            "service_name": "notifier",
            "lifecycle": "production",
        },
        "https://gitlab.com/acme/payments/notifier/-/tree/main/",
        ("gitlab.com/project-slug", "acme/payments/notifier"),
    ),
    "cronjob-other-host": (
        "cronjob",
        {"repository_url": "https://git.example.com:8443/data/daily-report"},
        "https://git.example.com:8443/data/daily-report/",
        None,
    ),
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("catalog")
    return {
        case: render(root / case, service_type, **answers)
        for case, (service_type, answers, _, _) in CASES.items()
    }


def _entry(repo: Path) -> dict:
    return yaml.safe_load((repo / "catalog-info.yaml").read_text())


def test_backstage_accepts_every_entry_and_reads_its_source_location(
    repos: dict[str, Path],
) -> None:
    verdicts = validate_catalog(*(repo / "catalog-info.yaml" for repo in repos.values()))
    for case, verdict in zip(repos, verdicts, strict=True):
        assert verdict["ok"], f"{case}: {verdict['error']}"
        assert verdict["sourceLocation"] == {"type": "url", "target": CASES[case][2]}, case


@pytest.mark.parametrize("case", CASES)
def test_annotations_and_lifecycle_trace_to_the_answers(case: str, repos: dict[str, Path]) -> None:
    service_type, answers, _, slug = CASES[case]
    entry = _entry(repos[case])
    annotations = entry["metadata"]["annotations"]
    slugs = {k: v for k, v in annotations.items() if k.endswith("/project-slug")}
    assert slugs == (dict([slug]) if slug else {})
    assert annotations["backstage.io/techdocs-ref"] == "dir:."
    assert entry["spec"]["lifecycle"] == answers.get("lifecycle", "experimental")
    url = answers.get("repository_url", "https://github.com/platform-team/orders")
    assert entry["metadata"]["links"] == [{"url": url, "title": "Source"}]
    assert yaml.safe_load((repos[case] / "mkdocs.yml").read_text())["repo_url"] == url
    assert entry["metadata"]["labels"]["service-type"] == service_type


def test_an_entry_backstage_would_refuse_is_refused(repos: dict[str, Path], tmp_path: Path) -> None:
    """The check can fail: a lifecycle left out and an annotation key Backstage rejects."""
    entry = _entry(repos["api-defaults"])
    del entry["spec"]["lifecycle"]
    no_lifecycle = tmp_path / "no-lifecycle.yaml"
    no_lifecycle.write_text(yaml.safe_dump(entry))
    entry = _entry(repos["api-defaults"])
    entry["metadata"]["annotations"]["not a key!"] = "x"
    bad_key = tmp_path / "bad-annotation.yaml"
    bad_key.write_text(yaml.safe_dump(entry))
    verdicts = validate_catalog(no_lifecycle, bad_key)
    assert [v["ok"] for v in verdicts] == [False, False]
    assert "lifecycle" in verdicts[0]["error"]
    assert "not a key!" in verdicts[1]["error"]


@pytest.mark.parametrize("case", CASES)
def test_techdocs_build_the_readme(case: str, repos: dict[str, Path], tmp_path: Path) -> None:
    repo = repos[case]
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "site" / "index.html").read_text()
    title = (repo / "README.md").read_text().splitlines()[0].removeprefix("# ")
    assert f">{title}<" in page or f">{title}</h1>" in page, page[:2000]
    assert "Develop and test" in page
    assert "--8&lt;--" not in page and "--8<--" not in page  # the include was resolved
    assert not (repo / "site").exists()  # built outside the repo: nothing to commit by mistake
