"""trigformer's on-disk, content-addressed caches (TRIGFORMER_CACHE, default ~/.cache/trigformer): one folder per
kind (`yosys/`, the test suite's `gxx/`), one file per key.

A cache entry is trusted only after it is verified: it is a JSON envelope {"format", "key", "tool", "digest",
"payload"} whose `digest` is the sha256 of the canonical JSON of the payload, whose `key` is the file's own key and
whose `tool` is the tool version the caller runs now. Anything else (an edited number, garbled bytes, another JSON
shape, another tool version) is a miss: the caller recomputes the entry and rewrites it, and one warning on stderr
names the file. Entries are written atomically (temporary sibling, rename), so a killed run never leaves half a file.

The location is checked before any work (`check_location`): TRIGFORMER_CACHE set to a file, or to a folder that
cannot be created or written, is an error naming TRIGFORMER_CACHE (exit 2). When it is unset and the default
~/.cache/trigformer is unusable (HOME read-only or unset), the run uses a fresh temporary folder instead (nothing
is reused across runs) and says so once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ENV = "TRIGFORMER_CACHE"
FORMAT = 1
_lock = threading.Lock()
_fallback: Path | None = None


class CacheError(Exception):
    """The cache location is unusable (exit 2); `str()` names TRIGFORMER_CACHE and why."""


def _usable(d: Path) -> str | None:
    """Why folder `d` cannot hold the cache (None when it can): created if missing, then written to."""
    if d.exists() and not d.is_dir():
        return "is a file, not a folder"
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot be written ({e.strerror or e})"
    return None


def check_location() -> Path:
    """The cache root, checked: CacheError for an unusable TRIGFORMER_CACHE; a temporary folder (with a note on
    stderr) when the default location is unusable."""
    global _fallback
    given = os.environ.get(ENV)
    if given:
        why = _usable(Path(given))
        if why:
            raise CacheError(f"{ENV}={given}: {why}; point it at a writable folder, or unset it to use "
                             "~/.cache/trigformer")
        return Path(given)
    try:
        default = Path(os.path.expanduser("~")) / ".cache" / "trigformer"
        why = _usable(default) if str(default).startswith("/") else "HOME is not set"
    except (OSError, RuntimeError) as e:
        why = str(e)
        default = Path("~/.cache/trigformer")
    if why is None:
        return default
    with _lock:
        if _fallback is None:
            _fallback = Path(tempfile.mkdtemp(prefix="trigformer-cache-"))
            print(f"trigformer: warning: the cache folder {default} {why}; using {_fallback} for this run (set "
                  f"{ENV} to keep results between runs)", file=sys.stderr)
    return _fallback


def folder(kind: str) -> Path:
    """The checked folder of one kind of entry (created)."""
    d = check_location() / kind
    d.mkdir(parents=True, exist_ok=True)
    return d


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read(path: Path, tool: str, valid=None) -> Any | None:
    """The verified payload of the entry at `path` (its key is the file name's stem), or None for a miss. A bad
    entry is a miss with one warning naming the file; the caller's rewrite replaces it. `valid(payload)`: the
    caller's check of the payload's shape."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        return bad(path, f"unreadable ({e.strerror or e})")
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return bad(path, "not JSON")
    if not isinstance(entry, dict) or set(entry) != {"format", "key", "tool", "digest", "payload"}:
        return bad(path, "not a cache entry")
    if entry["format"] != FORMAT or entry["key"] != path.stem:
        return bad(path, "written for another key or format")
    if entry["tool"] != tool:
        return bad(path, f"written by {entry['tool']!r}, not {tool!r}")
    if entry["digest"] != digest(entry["payload"]):
        return bad(path, "its content does not match its digest (edited or damaged)")
    if valid is not None and not valid(entry["payload"]):
        return bad(path, "not the content this cache holds")
    return entry["payload"]


def write(path: Path, tool: str, payload: Any) -> None:
    """Write the entry atomically (a temporary sibling renamed over it)."""
    entry = {"format": FORMAT, "key": path.stem, "tool": tool, "digest": digest(payload), "payload": payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def bad(path: Path, why: str) -> None:
    print(f"trigformer: warning: cache entry {path}: {why}; recomputing it", file=sys.stderr)
    return None
