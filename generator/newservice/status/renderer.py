"""copier, made fast for many trial updates in one process, without changing what it renders.

Three narrow hooks on copier's classes, installed by `rendering_from` and removed on exit:

- `Template.local_abspath` (the cached property that clones the source) answers with the shared
  checkout of (source, tag) when there is one: copier would clone the same tag (see predict.py).
- `Worker.jinja_env` gets newservice's compiled-code cache (jinja_cache.py) in memory, shared by
  the process: an update renders the template four times, and a fleet repeats that per repo;
  Jinja's compiled code depends only on the source text, its name and file name, and the
  environment's settings (the cache's key), so it is compiled once per process.
- `copier._template.load_template_config` (copier.yml parsed with its !include files, five times
  per update) is memoized by path, size and mtime, and hands out a deep copy.
- `Worker._sync_git_index_executable_bit` (one `git config` per rendered file) is skipped: it only
  rewrites index modes when core.fileMode is false, which never changes file contents, and
  contents are all a conflict prediction looks at.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import CodeType
from typing import Any

from .. import jinja_cache

# Per process, by environment fingerprint: shared by every environment it creates.
_COMPILED: dict[str, dict[bytes, CodeType]] = {}


@contextmanager
def rendering_from(checkouts: Mapping[tuple[str, str], Path]) -> Iterator[None]:
    """While inside, copier renders (source, tag) pairs found in `checkouts` from those folders."""
    from copier import _template
    from copier._main import Worker
    from copier._template import Template
    from copier._vcs import get_latest_tag

    originals = {
        (Template, "local_abspath"): Template.__dict__["local_abspath"],
        (Worker, "jinja_env"): Worker.__dict__["jinja_env"],
        (Worker, "_sync_git_index_executable_bit"): Worker.__dict__[
            "_sync_git_index_executable_bit"
        ],
    }
    load_config = _template.load_template_config
    clone = originals[(Template, "local_abspath")].func
    make_env = originals[(Worker, "jinja_env")].func

    def local_abspath(self: Any) -> Path:
        if self.vcs == "git":
            ref = self.ref or get_latest_tag(self.url_expanded, self.use_prereleases)
            found = checkouts.get((str(self.url), str(ref)))
            if found is not None:
                return found
        return Path(clone(self))

    def jinja_env(self: Any) -> Any:
        env = make_env(self)
        jinja_cache.share(env, _COMPILED)
        return env

    def skip_sync(self: Any, dst_relpath: Path, src_mode: int) -> None:
        return None

    configs: dict[tuple[str, int, int], Any] = {}

    def load_template_config(conf_path: Path, quiet: bool = False) -> Any:
        stat = Path(conf_path).stat()
        key = (str(conf_path), stat.st_size, stat.st_mtime_ns)
        if key not in configs:
            configs[key] = load_config(conf_path, quiet)
        return copy.deepcopy(configs[key])

    _set(Template, "local_abspath", cached_property(local_abspath))
    _template.load_template_config = load_template_config
    _set(Worker, "jinja_env", cached_property(jinja_env))
    _set(Worker, "_sync_git_index_executable_bit", skip_sync)
    try:
        yield
    finally:
        for (owner, name), value in originals.items():
            setattr(owner, name, value)
        _template.load_template_config = load_config


def _set(owner: type, name: str, value: Any) -> None:
    if isinstance(value, cached_property):
        value.__set_name__(owner, name)
    setattr(owner, name, value)
