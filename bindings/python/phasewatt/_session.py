"""Recording sessions: `with session(...)` records this process and finishes the trace
however the program ends (return, exception, sys.exit, SIGINT/SIGTERM/SIGHUP, interpreter
exit); under `phasewatt record` the same code attaches to the recorder instead."""
from __future__ import annotations

import atexit
import ctypes
import functools
import os
import re
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, TypeVar, Union

from . import _tags
from ._lib import Options, Stats, channel_active, lib, strerror
from ._tags import PhasewattError

if TYPE_CHECKING:
    from .results import Result

F = TypeVar("F", bound=Callable[..., Any])
_UNITS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
_lock = threading.RLock()
_current: Optional["Session"] = None
_pending_meta: Dict[str, str] = {}


def _interval_ns(interval: Union[float, str, None]) -> int:
    """Seconds as a number, or "10ms", "500us", "1s"; None: the library's default."""
    if interval is None:
        return 0
    if isinstance(interval, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|ms|us|ns)\s*", interval)
        if not m:
            raise ValueError("phasewatt.session: interval %r is not a duration like '10ms', "
                             "'500us' or 0.01 (seconds)" % interval[:40])
        ns = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(interval, (int, float)) and not isinstance(interval, bool):
        ns = float(interval) * 1e9
    else:
        raise TypeError("phasewatt.session: interval must be seconds or a string like '10ms'")
    if not 1e3 <= ns <= 60e9:
        raise ValueError("phasewatt.session: interval must lie between 1us and 60s")
    return int(ns)


def is_recording() -> bool:
    """True while this process's phases are recorded: a session of its own is open, or it
    runs under `phasewatt record`."""
    if _current is not None and not _current.attached:
        return True
    return _under_record()


def _under_record() -> bool:
    active = channel_active()
    return bool(os.environ.get("PHASEWATT_CHANNEL")) if active is None else active


def set_meta(key: str, value: Any) -> None:
    """Labels the trace (model name, batch size; `compare` labels runs by model.arch).

    Inside this process's own session it is written at once. Under `phasewatt record` the
    library has no way yet to pass metadata to the recorder: the pair is kept (see
    pending_meta()) and said once, never raised."""
    key = _tags.check_name(key, "set_meta")
    text = str(value)
    with _lock:
        if _current is not None and not _current.attached:
            rc = lib.pw_set_meta(key.encode(), text.encode())
            if rc:
                raise PhasewattError("phasewatt.set_meta(%r): %s" % (key[:60], strerror(rc)))
            return
        _pending_meta[key] = text
    if _under_record():
        _tags._note("meta_not_sent", 1, "set_meta() under `phasewatt record` is kept in this "
                    "process only (phasewatt.pending_meta()): the recorder's channel carries "
                    "no metadata yet")


def pending_meta() -> Dict[str, str]:
    """Metadata set while no session of this process's own was open (it is written into the
    next one that opens); under `phasewatt record`, what the recorder could not be given."""
    with _lock:
        return dict(_pending_meta)


def _stats() -> Stats:
    st = Stats(size=ctypes.sizeof(Stats))
    lib.pw_get_stats(ctypes.byref(st))
    return st


_CATCH = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]


class Session:
    """One recording: ``with phasewatt.session(output="run.pwt") as s: ...`` then s.result.

    sources: "auto" (default), "rapl,nvml", "synthetic", "estimate"; interval: seconds or
    "10ms"; synthetic: the synthetic source's spec ("prefill=30W,decode=10W"); meta: a dict
    of metadata. Used as a decorator, each call of the function is one session."""

    def __init__(self, output: str = "phasewatt.pwt", sources: Optional[str] = None,
                 interval: Union[float, str, None] = None, synthetic: Optional[str] = None,
                 meta: Optional[Dict[str, Any]] = None, quiet: bool = True,
                 ring_events: int = 0) -> None:
        if not isinstance(output, (str, os.PathLike)):
            raise TypeError("phasewatt.session: output must be a path")
        self.output = os.fspath(output)
        self.sources, self.synthetic = sources, synthetic
        self.interval_ns = _interval_ns(interval)
        self.meta = dict(meta or {})
        self.quiet, self.ring_events = quiet, int(ring_events)
        self.attached = False
        self.closed_phases = 0
        self._open = False
        self._result: Optional["Result"] = None
        self._saved_handlers: Dict[int, Any] = {}
        self._stopping = False
        self._deferred_signal: Optional[int] = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "Session":
        global _current
        with _lock:
            if _current is not None:
                raise PhasewattError("phasewatt.session: a session is already open in this "
                                     "process (writing %s)" % _current.output)
            self.attached = _under_record()
            if not self.attached:
                self._open_c()
            _current, self._open = self, True
            labels = {**_pending_meta, **self.meta}
        for k, v in labels.items():
            set_meta(k, v)
        if not self.attached:
            with _lock:
                _pending_meta.clear()
            self._catch_signals()
        return self

    def _open_c(self) -> None:
        o = Options()
        lib.pw_options_init(ctypes.byref(o))
        o.output_path = self.output.encode()
        o.sources = self.sources.encode() if self.sources else None
        o.synthetic = self.synthetic.encode() if self.synthetic else None
        if self.interval_ns:
            o.interval_ns = self.interval_ns
        if self.ring_events:
            o.ring_events = self.ring_events
        o.command = " ".join([os.path.basename(sys.executable)] + sys.argv).encode(
            errors="replace")[:1024]
        o.quiet = int(self.quiet)
        rc = lib.pw_open(ctypes.byref(o))
        if rc:
            why = lib.pw_open_error().decode(errors="replace")
            raise PhasewattError("phasewatt.session(%r): %s%s" % (
                self.output, strerror(rc), ": " + why if why else ""))

    def stop(self) -> None:
        """Finishes the trace (idempotent): closes the phases this thread left open and
        writes what tagging could not do (python.* metadata)."""
        global _current
        with _lock:
            if not self._open:
                return
            self._open = False
            _current = None
            if self.attached:
                return
            # our handlers stay in place until the trace is closed: a signal that lands
            # while it closes waits for the close, then ends the program as it would have
            self._stopping = True
            try:
                rc = self._close_c()
            finally:
                self._stopping = False
                self._restore_signals()
                deferred, self._deferred_signal = self._deferred_signal, None
        if deferred is not None:
            os.kill(os.getpid(), deferred)
        if rc:
            raise PhasewattError("phasewatt: finishing %s failed: %s" % (self.output, strerror(rc)))

    def _close_c(self) -> int:
        self.closed_phases = _tags.close_thread_phases()
        for key, n in _tags.health().items():
            if n:
                lib.pw_set_meta(("python." + key).encode(), str(n).encode())
        if self.closed_phases:
            lib.pw_set_meta(b"python.closed_at_session_end", str(self.closed_phases).encode())
        return int(lib.pw_close())

    def __enter__(self) -> "Session":
        return self.start()

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        self.stop()
        return False

    def __call__(self, fn: F) -> F:
        args = dict(output=self.output, sources=self.sources, synthetic=self.synthetic,
                    meta=self.meta, quiet=self.quiet, ring_events=self.ring_events)
        interval = self.interval_ns / 1e9 if self.interval_ns else None

        @functools.wraps(fn)
        def recorded(*a: Any, **kw: Any) -> Any:
            with Session(interval=interval, **args):  # type: ignore[arg-type]
                return fn(*a, **kw)
        return recorded  # type: ignore[return-value]

    @property
    def result(self) -> Optional["Result"]:
        """The finished trace as a Result (None while open, and under `phasewatt record`,
        whose recorder writes the trace after this program ends)."""
        if self._open or self.attached:
            return None
        if self._result is None:
            from .results import load
            self._result = load(self.output)
        return self._result

    @property
    def lost_events(self) -> int:
        """Events this session dropped because a thread's ring was full (the report says too)."""
        return 0 if self.attached else int(_stats().lost_events)

    # -- signals --------------------------------------------------------------------------
    def _catch_signals(self) -> None:
        """SIGINT/SIGTERM/SIGHUP left at their default (which kills without unwinding)
        finish the trace first; a handler the program set is left to run, and unwinds."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in _CATCH:
            try:
                if signal.getsignal(sig) is signal.SIG_DFL:
                    self._saved_handlers[sig] = signal.signal(sig, self._on_signal)
            except (OSError, ValueError):
                pass

    def _restore_signals(self) -> None:
        for sig, old in self._saved_handlers.items():
            try:
                if signal.getsignal(sig) == self._on_signal:
                    signal.signal(sig, old)
            except (OSError, ValueError):
                pass
        self._saved_handlers = {}

    def _on_signal(self, sig: int, frame: Any) -> None:
        if self._stopping:              # the trace is being closed: re-raised once it is
            self._deferred_signal = sig
            return
        try:
            self.stop()
        finally:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)


session = Session


def _at_exit() -> None:
    s = _current
    if s is not None:
        try:
            s.stop()
        except PhasewattError as e:
            sys.stderr.write("%s\n" % e)


atexit.register(_at_exit)


# ---- the older open()/close() pair, kept: one session through the same machinery ------------

def open(output: str = "phasewatt.pwt", sources: Optional[str] = None,
         interval_ms: float = 10.0, quiet: bool = False, synthetic: Optional[str] = None) -> Session:
    """Records this process into output until close() or interpreter exit."""
    return Session(output, sources=sources, interval=interval_ms / 1e3, quiet=quiet,
                   synthetic=synthetic).start()


def close() -> None:
    """Finishes the session open() started."""
    s = _current
    if s is None:
        raise PhasewattError("phasewatt.close: no session is open in this process")
    s.stop()


def current() -> Optional[Session]:
    """The open session, if any."""
    return _current
