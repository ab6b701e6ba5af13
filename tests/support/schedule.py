"""How `pytest -n 2` shares the suite between its workers: by cell, the longest cells first.

xdist's default (`--dist load`) hands out single tests, so the tests of one module-scoped cell
(a rendered repo, its venv, its running services) land on both workers and both set the cell up.
Here each test is grouped with the others of its module that share its module- or session-scoped
parameters (`--dist loadgroup`, one `xdist_group` per cell), so a cell is set up once, and the
groups are queued longest first (a longest-processing-time-first schedule): a long cell started
last would leave the other worker idle at the end. A module not in WEIGHTS counts one second per
test; a wrong weight only costs balance, never a test.
"""

from __future__ import annotations

import pytest

# Seconds per group (a cell, or the whole module where it has none) on the shared 2-core machine.
# Measured (2026-12-07, load 5-10, one module at a time): test_worker (the sqs cell: 165 s),
# test_system (postgresql-redis: 64 s), test_worker_outage (sqs: 61-75 s), test_status (~120 s
# with its fleet set up once). The others are estimates from what each group does (a container
# build, a generated repo's lint and own tests, a live scenario); correct them as you measure.
WEIGHTS: dict[str, float] = {
    "test_status.py": 150,
    "test_worker.py": 150,
    "test_api_container.py": 120,
    "test_cronjob_image.py": 120,
    "test_tooling_container.py": 120,
    "test_update.py": 120,
    "test_check.py": 120,
    "test_api_events.py": 90,
    "test_update_releases.py": 90,
    "test_worker_outage.py": 80,
    "test_system.py": 70,
    "test_api.py": 60,
    "test_api_live.py": 60,
    "test_api_overload.py": 60,
    "test_cronjob.py": 60,
    "test_cronjob_runs.py": 60,
    "test_platform.py": 60,
    "test_update_machines.py": 60,
    "test_update_safety.py": 60,
    "test_update_inbox.py": 60,
    "test_worker_cloudevents.py": 40,
    "test_update_events.py": 40,
    "test_interactive.py": 40,
    "test_prometheus_scrape.py": 40,
    "test_create_caches.py": 40,
    "test_releases.py": 40,
}

_FLAG = "newservice_groups"


def configure(config: pytest.Config) -> None:
    """Under `--dist load` (what `-n N` alone means), group by cell, longest first.

    The controller switches to loadgroup and tells each worker (its `workerinput`); a worker
    then marks its items' groups, which xdist appends to their node ids, and orders them.
    """
    if getattr(config.option, "numprocesses", None) and config.option.dist == "load":
        config.option.dist = "loadgroup"
        config.option.loadscopereorder = False  # keep the queue in the workers' order
        config.pluginmanager.register(_Controller(), "newservice-schedule")
    elif getattr(config, "workerinput", {}).get(_FLAG):
        config.option.loadgroup = True
        config.pluginmanager.register(_Worker(), "newservice-schedule")


class _Controller:
    def pytest_configure_node(self, node: object) -> None:
        node.workerinput[_FLAG] = True  # type: ignore[attr-defined]


class _Worker:
    # pytest only reads hooks from methods named pytest_*; specname names the hook.
    @pytest.hookimpl(specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_mark(self, items: list[pytest.Item]) -> None:
        # Before xdist's own (trylast) hook, which turns the marks into node id suffixes.
        for item in items:
            item.add_marker(pytest.mark.xdist_group(group_of(item)))

    @pytest.hookimpl(specname="pytest_collection_modifyitems", trylast=True)
    def pytest_collection_modifyitems_order(self, items: list[pytest.Item]) -> None:
        # After pytest's own reordering by fixture, which would undo this.
        longest_first(items)


def group_of(item: pytest.Item) -> str:
    """The item's module, plus the ids of its module- and session-scoped parameters."""
    module = item.nodeid.split("::", 1)[0]
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return module
    fixtures = getattr(item, "_fixtureinfo", None)
    wide = []
    for name in sorted(callspec.params):
        definitions = fixtures.name2fixturedefs.get(name) if fixtures is not None else None
        scope = definitions[-1].scope if definitions else "function"
        if scope in ("module", "package", "session"):
            wide.append(f"{name}={callspec.indices[name]}")
    # No "]" or "@" in a group: xdist finds the group after the last "@" that follows every "]".
    return f"{module}:{','.join(wide)}" if wide else module


def longest_first(items: list[pytest.Item]) -> None:
    """Reorder `items` (stably) so that the groups with the largest weight come first."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item), []).append(item)

    def weight(group: str) -> float:
        module = group.split(":", 1)[0].rsplit("/", 1)[-1]
        return WEIGHTS.get(module, float(len(groups[group])))

    items[:] = [i for g in sorted(groups, key=lambda g: -weight(g)) for i in groups[g]]
