"""The output folder of a run: built under a temporary sibling name and moved into place at the end.

Guarantees (each has a test in tests/test_reliability.py):
- an interrupted or failed run leaves nothing (no half project, no temporary folder, no parent folder it created);
- a later run removes the temporaries of runs that were killed (SIGKILL) — only those whose process is gone;
- an existing output is replaced only with --force, and only if it is a synth output folder, an empty folder or a
  file: --force never deletes the current directory, one of its parents, or a folder synth did not write;
- the destination is checked again when the run ends: if something appeared there meanwhile and --force was not
  given, nothing is replaced and this run's output is kept beside it under another name;
- with --force the previous output is moved aside, the new one moved in, then the previous one removed; a failure or
  an interrupt between the two moves puts the previous output back;
- two runs on one output folder at a time are refused (an flock on a lock file beside it).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)$")
MARKERS = ("report.json", "hls4ml_config.yml")  # a folder written by synth has both


class OutputError(Exception):
    """The output location cannot be used (exit 2); the message says why and what was kept."""


def is_synth_output(path: Path) -> bool:
    return path.is_dir() and all((path / m).is_file() for m in MARKERS)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path) -> list[Path]:
    """Remove `.NAME.tmp-PID` / `.NAME.old-PID` leftovers in `parent` whose process no longer exists."""
    removed = []
    if not parent.is_dir():
        return removed
    for p in parent.iterdir():
        m = _TEMP.match(p.name)
        if m and not _pid_alive(int(m["pid"])):
            _remove(p)
            removed.append(p)
    return removed


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def check_destination(dest: Path, force: bool) -> None:
    """Refuse (OutputError) before anything is written if `dest` cannot or must not be replaced."""
    dest = Path(dest)
    resolved = dest.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents or resolved == Path(resolved.anchor) or resolved == Path.home():
        raise OutputError(f"--out {dest}: refusing to write into the current directory, one of its parents or the home "
                          "folder; give a new folder name")
    for parent in resolved.parents:  # a parent that exists must be a folder
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"--out {dest}: {parent} is a file, not a folder")
        if parent.exists():
            break
    if not (dest.exists() or dest.is_symlink()):
        return
    if not force:
        raise OutputError(f"output folder {dest} exists; pass --force to replace it (nothing was changed)")
    if dest.is_dir() and not dest.is_symlink() and not is_synth_output(dest) and any(dest.iterdir()):
        raise OutputError(f"--out {dest}: exists and is not a synth output folder (no {' and '.join(MARKERS)}); "
                          "--force only replaces folders synth wrote (nothing was changed)")


class Output:
    """Context manager: `work` is the temporary folder to build in; `commit()` moves it to `dest`."""

    def __init__(self, dest: Path, force: bool):
        self.dest, self.force = Path(dest), force
        self.parent = self.dest.parent
        self.work = self.parent / f".{self.dest.name}.tmp-{os.getpid()}"
        self._created: list[Path] = []
        self._lock_fd: int | None = None
        self._lock_path = self.parent / f".{self.dest.name}.lock"
        self.kept_as: Path | None = None

    def __enter__(self) -> Output:
        check_destination(self.dest, self.force)
        missing = []
        for p in [self.parent, *self.parent.parents]:
            if p.exists():
                break
            missing.append(p)
        try:
            for p in reversed(missing):
                p.mkdir()
                self._created.append(p)
            self._lock()
            clean_stale(self.parent)
            self.work.mkdir()
        except BaseException:
            self._cleanup()
            raise
        return self

    def _lock(self) -> None:
        while True:
            fd = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(f"another synth run is writing {self.dest} right now; wait for it or use another "
                                  "--out (nothing was changed)") from None
            # the run that held it may have removed the file between our open and flock: then this lock guards
            # nothing (a third run would create a new file and lock that), so take the lock again on the new file
            try:
                same = os.stat(self._lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return
            os.close(fd)

    def commit(self) -> None:
        """Move the finished work folder into place (checked again: the destination may have appeared)."""
        exists = self.dest.exists() or self.dest.is_symlink()
        if exists and not self.force:
            keep = self.parent / f"{self.dest.name}.new-{os.getpid()}"
            os.replace(self.work, keep)
            self.kept_as = keep
            raise OutputError(f"{self.dest} appeared while this run was working and --force was not given: it was "
                              f"left as it is, and this run's output is in {keep}")
        if exists:
            check_destination(self.dest, True)  # it may have changed since the start
            old = self.parent / f".{self.dest.name}.old-{os.getpid()}"
            os.replace(self.dest, old)
            try:
                os.replace(self.work, self.dest)
            except BaseException:  # interrupted (or failed) between the two renames: the previous output goes back
                os.replace(old, self.dest)
                raise
            _remove(old)
        else:
            os.replace(self.work, self.dest)

    def __exit__(self, *exc) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self.work.exists():
            _remove(self.work)
        if self._lock_fd is not None:
            try:
                self._lock_path.unlink(missing_ok=True)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None
        if not (self.dest.exists() or self.kept_as):  # nothing delivered: remove the parents this run created
            for p in reversed(self._created):
                try:
                    p.rmdir()
                except OSError:  # something else was put there meanwhile
                    break
        self._created = []
