"""A persistent cache of Jinja's compiled code for copier's environment, across processes.

Every create makes copier compile ~620 Jinja templates from scratch: each file, each part of each
path, each question's default, `when` and validator. Compiling (parse + generate Python + Python's
`compile`) is most of the render time, and the sources hardly ever change between runs. This keeps
the compiled code objects in ONE marshal file in newservice's cache folder and hands them back to
Jinja on the next run, the way Jinja's own bytecode caches (and Python's .pyc files) do.

Why not `jinja2.FileSystemBytecodeCache`: it only covers templates loaded through the loader
(~50 files), not `Environment.from_string` (~570 path parts and question strings), and it keys on
the file name, which for a copier clone is a new temporary folder every time.

The hook is narrow: `Environment.compile` of ONE environment object (copier's Worker.jinja_env) is
wrapped; the result is the same code object Jinja would have compiled, so rendering, and the
generated files, are unchanged. The cache is keyed by everything that changes compiled code: the
source, the template name and file name, Python, Jinja and copier versions, and the environment's
syntax settings, extensions, filters and tests. An unreadable cache file is ignored and rewritten.
Like .pyc files, the cache is trusted: it lives in the user's own cache folder.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
import uuid
from pathlib import Path
from types import CodeType
from typing import Any

# Beyond this many entries (~2 kB each; one release of the three service types needs ~300; forks
# cloned to new temporary paths add entries on each run) the file is rewritten with only what the
# last run used, so loading it stays a few milliseconds.
_MAX_ENTRIES = 1500
_SYNTAX_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
)


class CompiledCodeCache:
    """Wraps `env.compile` with a memo of compiled code, kept on disk or in memory.

    With a `folder`, `save()` writes the memo there for the next process (one file per
    environment fingerprint). With `shared` instead, the memo is that dict's entry for the
    environment's fingerprint: every environment given the same dict in one process shares it
    (`newservice status` renders four times per repo, for many repos), and nothing is written.
    """

    def __init__(
        self,
        env: Any,
        folder: Path | None = None,
        shared: dict[str, dict[bytes, CodeType]] | None = None,
    ) -> None:
        if (folder is None) == (shared is None):
            raise ValueError("give a folder (on disk) or a shared dict (in memory), not both")
        self._env = env
        self._folder = folder
        self._shared = shared
        self._compile = env.compile  # the bound method of Jinja's Environment
        self._path: Path | None = None
        self._entries: dict[bytes, CodeType] = {}
        self._used: set[bytes] = set()
        self._added = False
        self._loaded = False
        self._enabled = True

    def install(self) -> CompiledCodeCache:
        # An instance attribute shadows Environment.compile for this one environment only;
        # from_string() and the loader both call `environment.compile(...)`.
        self._env.compile = self.compile
        return self

    def compile(
        self,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if raw or not isinstance(source, str) or not self._ready():
            return self._compile(source, name, filename, raw, defer_init)
        key = hashlib.blake2b(
            f"{name}\0{filename}\0{defer_init}\0{source}".encode("utf-8", "surrogatepass"),
            digest_size=20,
        ).digest()
        code = self._entries.get(key)
        if code is None:
            code = self._compile(source, name, filename, raw, defer_init)
            self._entries[key] = code
            self._added = True
        self._used.add(key)
        return code

    def save(self) -> None:
        """Write the cache if this run compiled anything new (atomically; last writer wins)."""
        if not self._added or self._path is None or self._folder is None:
            return
        entries = self._entries
        if len(entries) > _MAX_ENTRIES:
            entries = {key: entries[key] for key in self._used}
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex[:8]}")
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(marshal.dumps(entries))
            tmp.replace(self._path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache folder only costs speed

    def _ready(self) -> bool:
        """Load the memo on first use, once copier has finished configuring the env."""
        if not self._loaded:
            self._loaded = True
            fingerprint = environment_fingerprint(self._env)
            if fingerprint is None:
                self._enabled = False
            elif self._shared is not None:
                self._entries = self._shared.setdefault(fingerprint, {})
            elif self._folder is not None:
                self._path = self._folder / f"{fingerprint}.marshal"
                self._entries = _load(self._path)
        return self._enabled


def environment_fingerprint(env: Any) -> str | None:
    """What the compiled code of `env` depends on besides the source; None if not knowable."""
    import jinja2

    try:
        from jinja2.utils import _PassArg  # how the compiler calls a filter (Jinja >= 3.0)
    except ImportError:
        return None
    if callable(env.autoescape) or env.finalize is not None:
        return None  # behaviour hidden in a function: do not cache (copier sets neither)
    from importlib.metadata import version

    parts = [
        sys.implementation.cache_tag or sys.version,
        jinja2.__version__,
        version("copier"),
        f"{type(env).__module__}.{type(env).__qualname__}",
        repr(env.autoescape),
        *(repr(getattr(env, setting)) for setting in _SYNTAX_SETTINGS),
        *sorted(env.extensions),
    ]
    # The compiler looks filters and tests up to decide how to call them.
    for kind, table in (("filter", env.filters), ("test", env.tests)):
        parts += sorted(f"{kind}:{n}:{_PassArg.from_obj(f)}" for n, f in table.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _load(path: Path) -> dict[bytes, CodeType]:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, bytes) and isinstance(v, CodeType) for k, v in data.items()
    ):
        return {}
    return data


def attach(env: Any, folder: Path) -> CompiledCodeCache:
    """Install a compiled-code cache on copier's Jinja environment `env`; call `.save()` after."""
    return CompiledCodeCache(env, folder=folder).install()


def share(env: Any, memo: dict[str, dict[bytes, CodeType]]) -> CompiledCodeCache:
    """Install an in-memory compiled-code cache on `env`, shared by every env given `memo`."""
    return CompiledCodeCache(env, shared=memo).install()
