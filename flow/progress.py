"""What a run says while it works: one stage line per long step, the same events for every listener.

A step that can take more than a few seconds runs inside `stage(name, total, unit)`; where its work is countable it
calls `advance()`. The run's Reporter (set by `reporting(...)` for the duration of a synth run) sends every event to
  - the display: rich's progress lines on a terminal; plain timestamped lines in a log (stdout not a TTY), at most
    one progress line per `MIN_GAP_S` and a heartbeat when a step said nothing for `HEARTBEAT_S`;
  - the `logging` logger "trigformer" (start, end, heartbeats and the lines the display prints: INFO; every other
    progress event: DEBUG);
  - a callback (trigformer.synth(progress=callable)), which receives every Event.
Outside a run (or under `-q` without a callback) `stage` costs nothing visible: the logger still gets the events.

Code under sim/ does not import flow/: it takes a plain callable (`on_job`, `on_unit`, ...) and the flow side passes
a stage's `advance`. No scheduler here: one heartbeat thread per run that only reads the active stages.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

LOGGER = logging.getLogger("trigformer")
HEARTBEAT_S = 30.0  # a log shows a line at least this often during a long step (the issue asks for once a minute)
MIN_GAP_S = 10.0  # countable steps: at most one progress line per this many seconds in a log (first/last always)


@dataclass(frozen=True)
class Event:
    """One thing a run says. kind: start | progress | heartbeat | end. `ok` is False on the end of a step that
    raised. `loud`: the display and the log's INFO level show it (every start, end and heartbeat; progress
    events at most every MIN_GAP_S per step)."""

    stage: str
    kind: str
    done: int | None = None
    total: int | None = None
    unit: str = ""
    elapsed_s: float = 0.0
    note: str = ""
    ok: bool = True
    loud: bool = True

    def text(self) -> str:
        """The line without its timestamp, e.g. 'yosys: 12/40 jobs, 3m10s elapsed'."""
        count = ""
        if self.done is not None:
            count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
            count += f" {self.unit}" if self.unit else ""
        if self.kind == "start":
            body = "started" + (f" ({self.total} {self.unit})".replace(" )", ")") if self.total else "")
        elif self.kind == "end":
            body = (f"done in {duration(self.elapsed_s)}" if self.ok else
                    f"FAILED after {duration(self.elapsed_s)}") + (f" ({count})" if count else "")
        else:
            body = ", ".join(p for p in (count, f"{duration(self.elapsed_s)} elapsed") if p)
        return f"{self.stage}: {body}" + (f"; {self.note}" if self.note else "")


def duration(seconds: float) -> str:
    """4.2s, 3m10s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class PlainDisplay:
    """Timestamped lines for a log: every loud event, one line each, flushed at once."""

    def __init__(self, stream=None):
        self.stream = stream

    def __call__(self, ev: Event) -> None:
        if ev.loud:
            stream = self.stream or sys.stdout  # looked up late: pytest's capsys replaces sys.stdout
            stream.write(f"{time.strftime('%H:%M:%S')} {ev.text()}\n")
            stream.flush()

    def close(self) -> None:
        pass


class RichDisplay:
    """rich's progress on a terminal: a live line per step (bar where countable, elapsed time) that stays as
    'name: done in 4.2s' when the step ends."""

    def __init__(self, console=None):
        self.console = console
        self.progress = None
        self.tasks: dict[int, int] = {}

    def _start(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = self.console or Console()
        self.progress = Progress(SpinnerColumn(finished_text=""), TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[count]}"), TimeElapsedColumn(), console=self.console,
                                 redirect_stderr=False)
        self.progress.start()

    @staticmethod
    def _count(ev: Event) -> str:
        if ev.done is None:
            return ""
        return f"{ev.done}/{ev.total if ev.total is not None else '?'} {ev.unit}".strip()

    def __call__(self, ev: Event, key: int = 0) -> None:
        from rich.markup import escape

        if ev.kind == "start":
            if self.progress is None:
                self._start()
            self.tasks[key] = self.progress.add_task(escape(ev.stage + (f"; {ev.note}" if ev.note else "")),
                                                     total=ev.total, count=self._count(ev))
            return
        task = self.tasks.get(key)
        if task is None:
            return
        if ev.kind == "end":
            mark = "[green]✓[/green]" if ev.ok else "[bold red]✗[/bold red]"
            self.progress.update(task, completed=ev.done if ev.done is not None else 1,
                                 total=ev.total if ev.total is not None else 1,
                                 description=f"{mark} {escape(ev.text())}", count=self._count(ev))
            self.progress.stop_task(task)
            del self.tasks[key]
            if not self.tasks:
                self.close()
        elif ev.kind == "progress":
            self.progress.update(task, completed=ev.done, total=ev.total, count=self._count(ev),
                                 description=escape(ev.stage + (f"; {ev.note}" if ev.note else "")))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class Stage:
    """A running step; `advance`/`update` report countable work (with an optional note on what it does now),
    `next` ends this step and starts the following one in its place (a build then a run)."""

    def __init__(self, reporter: "Reporter", name: str, total: int | None, unit: str):
        self.reporter, self.name, self.total, self.unit = reporter, name, total, unit
        self.done: int | None = 0 if total is not None else None
        self.note_text = ""
        self.t0 = self.last_loud = reporter.clock()
        self.lock = threading.Lock()

    def elapsed(self) -> float:
        return self.reporter.clock() - self.t0

    def _event(self, kind: str, loud: bool = True, ok: bool = True) -> Event:
        return Event(self.name, kind, self.done, self.total, self.unit, self.elapsed(), self.note_text, ok, loud)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """n more units done (thread-safe: Yosys jobs finish in pool threads)."""
        with self.lock:
            self.done = (self.done or 0) + n
            self._progress(note)

    def update(self, done: int, total: int | None = None, note: str | None = None) -> None:
        with self.lock:
            self.done, self.total = done, self.total if total is None else total
            self._progress(note)

    def _progress(self, note: str | None) -> None:
        if note is not None:
            self.note_text = note
        now = self.reporter.clock()
        # the last unit is said by the end line that follows
        loud = now - self.last_loud >= self.reporter.min_gap_s and self.done != self.total
        if loud:
            self.last_loud = now
        self.reporter.emit(self, self._event("progress", loud))

    def heartbeat(self, now: float) -> None:
        """A line when the step said nothing for the heartbeat interval (called by the reporter's thread)."""
        with self.lock:
            if now - self.last_loud >= self.reporter.heartbeat_s:
                self.last_loud = now
                self.reporter.emit(self, self._event("heartbeat"))

    def next(self, name: str, total: int | None = None, unit: str = "", note: str = "") -> None:
        self.reporter.end(self, ok=True)
        self.__init__(self.reporter, name, total, unit)
        self.note_text = note
        self.reporter.begin(self)


class Reporter:
    """The listeners of one run (display, logger, callback) and its heartbeat thread."""

    def __init__(self, display: Callable | None = None, callback: Callable[[Event], None] | None = None,
                 heartbeat_s: float = HEARTBEAT_S, min_gap_s: float = MIN_GAP_S, clock=time.monotonic,
                 thread: bool = True):
        self.display, self.callback = display, callback
        self.heartbeat_s, self.min_gap_s, self.clock = heartbeat_s, min_gap_s, clock
        self.active: list[Stage] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if thread:
            self._thread = threading.Thread(target=self._beat_loop, name="trigformer-heartbeat", daemon=True)
            self._thread.start()

    def emit(self, st: Stage, ev: Event) -> None:
        LOGGER.log(logging.INFO if ev.loud else logging.DEBUG, ev.text(),
                   extra={"trigformer_event": ev})
        with self.lock:  # one listener call at a time: lines never interleave
            if self.display is not None:
                if isinstance(self.display, RichDisplay):
                    self.display(ev, id(st))
                else:
                    self.display(ev)
            if self.callback is not None:
                try:
                    self.callback(ev)
                except Exception:  # a caller's callback never takes the run down
                    LOGGER.exception("progress callback failed on %s", ev.text())

    def begin(self, st: Stage) -> None:
        with self.lock:
            self.active.append(st)
        self.emit(st, st._event("start"))

    def end(self, st: Stage, ok: bool) -> None:
        with self.lock:
            if st in self.active:
                self.active.remove(st)
        self.emit(st, st._event("end", ok=ok))

    def beat(self, now: float | None = None) -> None:
        """Heartbeat every active step that has been silent too long."""
        now = self.clock() if now is None else now
        with self.lock:
            stages = list(self.active)
        for st in stages:
            st.heartbeat(now)

    def _beat_loop(self) -> None:
        while not self._stop.wait(min(1.0, self.heartbeat_s / 4)):
            self.beat()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.display is not None and hasattr(self.display, "close"):
            self.display.close()


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("trigformer_reporter", default=None)
_QUIET = None  # built on first use: a reporter with no listener but the logger, no thread


def _reporter() -> Reporter:
    global _QUIET
    rep = _current.get()
    if rep is None:
        if _QUIET is None:
            _QUIET = Reporter(thread=False)
        rep = _QUIET
    return rep


@contextlib.contextmanager
def stage(name: str, total: int | None = None, unit: str = "", note: str = ""):
    """Run a step: a start line, progress where countable, heartbeats while it is silent, an end line (FAILED
    when it raised: the exception goes on). `note`: what the step works on, said on each of its lines."""
    rep = _reporter()
    st = Stage(rep, name, total, unit)
    st.note_text = note
    rep.begin(st)
    ok = False
    try:
        yield st
        ok = True
    finally:
        rep.end(st, ok)


def display_for(stream=None):
    """rich on a terminal, plain timestamped lines otherwise (a log, a pipe, a CI job)."""
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return RichDisplay()
    return PlainDisplay(stream if stream is not sys.stdout else None)


@contextlib.contextmanager
def reporting(progress=True, display=None, **reporter):
    """The reporter of one run. progress: True (the display: rich on a terminal, plain lines in a log), False
    (quiet: only the logger), or a callable receiving every Event (no display). `display` overrides the choice;
    `reporter`: Reporter's settings (heartbeat_s, min_gap_s, clock, thread)."""
    callback = progress if callable(progress) else None
    if display is None and progress is True:
        display = display_for()
    rep = Reporter(display, callback, **reporter)
    token = _current.set(rep)
    try:
        yield rep
    finally:
        _current.reset(token)
        rep.close()

