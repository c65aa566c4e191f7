"""Phase tags: each `with phase()` closes exactly the phase it opened, per thread and per
asyncio task, and a tag that cannot be recorded warns once and is counted, never raising
into the program it profiles."""
from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import inspect
import operator
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from ._lib import lib, strerror

PW_MAX_NAME = 4096
_SHOWN = 60                       # characters of a bad name echoed in an error

_begin = lib.pw_begin
_end = lib.pw_end
F = TypeVar("F", bound=Callable[..., Any])

# What went wrong while tagging, for health() and the session's metadata (python.*).
_health: Dict[str, int] = {"closed_on_exception": 0, "closed_unended": 0,
                           "tag_failures": 0, "unbalanced_ends": 0, "task_switches": 0,
                           "meta_not_sent": 0}
_health_lock = threading.Lock()
_said: set = set()


class PhasewattError(RuntimeError):
    """A phasewatt call failed; the message says what and why."""


def _note(key: str, n: int = 1, warning: Optional[str] = None) -> None:
    """Counts a tagging problem; says it once on stderr (not warnings.warn: under -W error
    that would raise into the user's code)."""
    with _health_lock:
        _health[key] += n
        first = warning is not None and key not in _said
        if first:
            _said.add(key)
    if first:
        try:
            sys.stderr.write("phasewatt: %s (said once; phasewatt.health() counts them)\n"
                             % warning)
        except (OSError, ValueError, AttributeError):
            pass


def health() -> Dict[str, int]:
    """Counts of what tagging could not do as asked, since the process started:
    closed_on_exception (phases an exception left open, closed by the enclosing block),
    closed_unended (begin() phases never ended, closed likewise), tag_failures (tags not
    recorded: no ring for the thread, too deep, name table full), unbalanced_ends (end()
    with nothing begin() opened), task_switches (asyncio phases reopened after another
    task tagged on the same thread), meta_not_sent (set_meta() under `phasewatt record`)."""
    with _health_lock:
        return dict(_health)


def _shown(name: str) -> str:
    return repr(name if len(name) <= _SHOWN else name[:_SHOWN] + "...")


def check_name(name: Any, what: str = "phase") -> str:
    if not isinstance(name, str):
        raise TypeError("phasewatt.%s: the name must be a str, not %s"
                        % (what, type(name).__name__))
    if not name:
        raise ValueError("phasewatt.%s: the name is empty" % what)
    if "/" in name:
        raise ValueError("phasewatt.%s: %s contains '/', which separates the levels of a "
                         "phase's path; nest one phase in another instead" % (what, _shown(name)))
    size = len(name.encode("utf-8", "surrogatepass"))
    if size >= PW_MAX_NAME:
        raise ValueError("phasewatt.%s: %s is %d bytes long; names keep at most %d"
                         % (what, _shown(name), size, PW_MAX_NAME - 1))
    return name


_ids: Dict[str, int] = {}


def _id(name: str, what: str = "phase") -> int:
    """The C id of a name, interned once; 0 (tags become no-ops) when the table is full."""
    pid = _ids.get(name)
    if pid is None:
        check_name(name, what)
        pid = lib.pw_phase_id(name.encode("utf-8", "surrogatepass"))
        if not pid:
            _note("tag_failures", 1, "the name table is full: %s is not recorded" % _shown(name))
        _ids[name] = pid
    return pid


_FAILURES = {-2: "this thread has no event ring (every ring of the recorder is taken, the "
                 "thread is exiting, or memory ran out): its phases are not recorded",
             -6: "phases nested deeper than 64 levels are not recorded",
             -1: "a phase whose name could not be interned is not recorded"}


def _failed(rc: int) -> None:
    _note("tag_failures", 1, _FAILURES.get(rc, "a tag failed: " + strerror(rc)))


# ---- the per-thread mirror of the C stack ---------------------------------------------------
# Entries, bottom to top, exactly as this thread's C stack holds them: an int is a `with`
# block's phase id (0: its begin failed, nothing in C), a _Handle a begin() phase, a _Node a
# phase opened inside a running asyncio loop.

_get_running_loop = asyncio.events._get_running_loop


class _LoopStack(list):
    """The stack of a thread while an asyncio loop runs on it: its tags follow the task."""
    __slots__ = ()


class _Thread(threading.local):
    def __init__(self) -> None:
        running = _get_running_loop() is not None
        self.stack: List[Any] = _LoopStack() if running else []


_tls = _Thread()


def _set_running_loop_too(loop: Any, _set: Any = asyncio.events._set_running_loop) -> None:
    """asyncio's own _set_running_loop, and this thread's stack switched to or from loop
    mode: telling tasks apart costs the tags nothing (asking asyncio for the running loop
    calls getpid(), microseconds on some machines)."""
    _set(loop)
    stack = _tls.stack
    if (loop is not None) != (stack.__class__ is _LoopStack):
        _tls.stack = _LoopStack(stack) if loop is not None else list(stack)


asyncio.events._set_running_loop = _set_running_loop_too
_deferred = False     # an end(handle) waits for `with` blocks inside it to close


class _Handle:
    """What begin() returns outside asyncio: end(handle) closes exactly this phase."""
    __slots__ = ("pid", "ok", "deferred", "closed")

    def __init__(self, pid: int) -> None:
        rc = _begin(pid)
        if rc:
            _failed(rc)
        self.pid, self.ok, self.deferred, self.closed = pid, not rc, False, False


class _Node:
    """A phase of an asyncio task: the task's phases form a chain through its context."""
    __slots__ = ("pid", "parent", "raw", "ok", "stack", "deferred", "closed")

    def __init__(self, pid: int, parent: Optional["_Node"], raw: bool, stack: list) -> None:
        self.pid, self.parent, self.raw, self.stack = pid, parent, raw, stack
        self.ok, self.deferred, self.closed = False, False, False

    def open_c(self) -> None:
        rc = _begin(self.pid)
        if rc:
            _failed(rc)
        self.ok = not rc


_task_top: contextvars.ContextVar[Optional[_Node]] = contextvars.ContextVar(
    "phasewatt_task_phase", default=None)


def _pop_c(stack: list) -> Any:
    entry = stack.pop()
    if entry.__class__ is int:
        if entry:
            _end()
    elif entry.ok:
        _end()
    return entry


def _is_raw(entry: Any) -> bool:
    return entry.__class__ is _Handle or (entry.__class__ is _Node and entry.raw)


# ---- asyncio: the C stack follows the task that tags -----------------------------------------

def _chain(stack: list, top: Optional[_Node]) -> List[_Node]:
    out = []
    while top is not None and top.stack is stack:
        if not top.closed:
            out.append(top)
        top = top.parent
    out.reverse()
    return out


def _follow(stack: list, top: Optional[_Node]) -> None:
    """Makes the task phases on this thread's C stack those of the task now tagging: the
    other task's are closed, this one's reopened (each stretch is one call in the report)."""
    base = len(stack)
    while base and stack[base - 1].__class__ is _Node:
        base -= 1
    want = _chain(stack, top)
    same = 0
    while same < len(want) and base + same < len(stack) and stack[base + same] is want[same]:
        same += 1
    while len(stack) > base + same:
        _pop_c(stack)
    for node in want[same:]:
        node.open_c()
        stack.append(node)
        _note("task_switches")


def _task_enter(pid: int, raw: bool) -> _Node:
    stack = _tls.stack
    top = _task_top.get()
    _follow(stack, top)
    node = _Node(pid, top, raw, stack)
    node.open_c()
    stack.append(node)
    _task_top.set(node)
    return node


def _task_close_to(node: _Node, exc: bool) -> None:
    """Closes node and the begin() phases left open above it in this task."""
    top, left = _task_top.get(), 0
    while top is not None and top is not node:
        top.closed, top, left = True, top.parent, left + 1
    if top is None:
        return
    node.closed = True
    parent = node.parent
    while parent is not None and parent.raw and parent.deferred:
        parent.closed, parent = True, parent.parent
    _follow(node.stack, parent)
    _task_top.set(parent)
    if left:
        _left_open(left, exc)


def _task_exit(exc: bool) -> None:
    top = _task_top.get()
    while top is not None and top.raw:
        top = top.parent
    if top is not None:
        _task_close_to(top, exc)


def _left_open(n: int, exc: bool) -> None:
    if exc:
        _note("closed_on_exception", n, "an exception left phases open inside a phase; "
              "they were closed with it")
    else:
        _note("closed_unended", n, "phases opened with begin() were never ended; the "
              "enclosing phase closed them")


# ---- threads: the fast path ------------------------------------------------------------------

def _exit_slow(stack: list, exc: bool) -> None:
    """A `with` block ends with begin() or task phases above its own: closes those too."""
    left = 0
    while stack:
        entry = _pop_c(stack)
        if entry.__class__ is int:
            break
        entry.closed = True
        left += 1
    if left:
        _left_open(left, exc)
    _run_deferred(stack)


def _run_deferred(stack: list) -> None:
    """Closes an end(handle) that waited: once only begin() phases are above it."""
    i, cut = len(stack), -1
    while i and stack[i - 1].__class__ is _Handle:
        i -= 1
        if stack[i].deferred:
            cut = i
    if cut < 0:
        return
    left = 0
    while len(stack) > cut:
        entry = _pop_c(stack)
        entry.closed = True
        left += not entry.deferred
    if left:
        _left_open(left, False)


def _enter_other(tag: Any) -> Any:
    """A `with` block opened while an asyncio loop runs on this thread."""
    _task_enter(tag._pid, False)
    return tag


def _exit_other(tag: Any, exc: bool) -> None:
    """A `with` block that ends in a task, or with other phases above its own."""
    stack = _tls.stack
    if stack.__class__ is not list:
        _task_exit(exc)
    else:
        _exit_slow(stack, exc)


class _PyPhase:
    """The pure-Python fast path; _speedups.Phase is the same in C."""
    __slots__ = ("_pid",)

    def __enter__(self) -> Any:
        stack = _tls.stack
        if stack.__class__ is not list:
            return _enter_other(self)
        rc = _begin(self._pid)
        stack.append(0 if rc else self._pid)
        if rc:
            _failed(rc)
        return self

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        stack = _tls.stack
        if stack.__class__ is list and stack and stack[-1].__class__ is int:
            if stack.pop():
                _end()
            if _deferred:
                _run_deferred(stack)
        else:
            _exit_other(self, et is not None)
        return False


def _compiled() -> Any:
    """The compiled fast path, when pip built it (PHASEWATT_PURE_PYTHON=1: never)."""
    if os.environ.get("PHASEWATT_PURE_PYTHON") == "1":
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None

    def address(fn: Any) -> int:
        return ctypes.cast(fn, ctypes.c_void_p).value or 0
    _speedups.init(address(lib.pw_begin), address(lib.pw_end), _tls, _enter_other,
                   _exit_other, _failed, _run_deferred)
    return _speedups


_speedups = _compiled()
FAST = _speedups is not None      # what bench/hotpath.py reports


class phase(_speedups.Phase if FAST else _PyPhase):  # type: ignore[misc]
    """A phase: ``with phase("prefill"):``, or a decorator (functions and coroutines).

    The name is checked here: a str, not empty, no '/', under 4096 bytes. Each block closes
    exactly the phase it opened, also when an exception leaves inner phases open."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self._pid = _id(name)
        self.name = name

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def tagged_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await fn(*args, **kwargs)
            return tagged_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def tagged(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return tagged  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "phasewatt.phase(%r)" % (self.name,)


Handle = Union[_Handle, _Node]


def begin(name: str) -> Handle:
    """Opens a phase in this thread's (or asyncio task's) current one; returns the handle
    that end() takes to close exactly it."""
    pid = _id(name)
    stack = _tls.stack
    if stack.__class__ is not list:
        return _task_enter(pid, True)
    handle = _Handle(pid)
    stack.append(handle)
    return handle


def _unbalanced(why: str) -> None:
    _note("unbalanced_ends", 1, why)


def end(handle: Optional[Handle] = None) -> None:
    """Closes the phase begin() returned as handle (default: the innermost one begin()
    opened here). Phases begin() opened inside it and left open are closed with it; when a
    `with` block is still open inside it, it closes as soon as that block ends."""
    if handle is not None and handle.__class__ is _Node:
        _end_task(handle)
        return
    stack = _tls.stack
    if handle is not None and stack and stack[-1] is handle:     # the usual, innermost case
        stack.pop()
        handle.closed = True
        if handle.ok:
            _end()
        if _deferred:
            _run_deferred(stack)
        return
    if handle is None and stack.__class__ is not list:
        _end_task(None)
        return
    if handle is None:
        handle = next((e for e in reversed(stack) if e.__class__ is _Handle and not e.deferred),
                      None)
    if handle is None or handle.closed or not any(e is handle for e in stack):
        _unbalanced("end() with no phase open from begin() on this thread")
        return
    where = max(i for i, e in enumerate(stack) if e is handle)
    if any(not _is_raw(e) for e in stack[where + 1:]):
        _defer(handle)
        return
    left = 0
    while True:
        entry = _pop_c(stack)
        entry.closed = True
        if entry is handle:
            break
        left += 1
    if left:
        _left_open(left, False)
    _run_deferred(stack)


def _defer(handle: "_Handle") -> None:
    global _deferred
    handle.deferred = _deferred = True
    if FAST:
        _speedups.set_deferred()


def _end_task(node: Optional[_Node]) -> None:
    top = _task_top.get()
    if node is None:
        node = top
        while node is not None and not (node.raw and not node.deferred):
            node = node.parent
    chain = []
    walk = top
    while walk is not None:
        chain.append(walk)
        walk = walk.parent
    if node is None or node.closed or not any(n is node for n in chain):
        _unbalanced("end() with no phase open from begin() in this asyncio task")
        return
    if any(not n.raw for n in chain[:[n is node for n in chain].index(True)]):
        node.deferred = True
        return
    _task_close_to(node, False)


def _settle() -> list:
    """This thread's stack with the C stack following the asyncio task that asks."""
    stack = _tls.stack
    if stack.__class__ is not list:
        _follow(stack, _task_top.get())
    return stack


def mark(name: str) -> None:
    """An instant event in the current phase."""
    pid = _id(name)
    _settle()
    rc = lib.pw_mark(pid)
    if rc:
        _failed(rc)


def _count_value(n: Any) -> int:
    if isinstance(n, bool):
        raise TypeError("phasewatt.count: n must be an integer, not bool")
    try:
        value = operator.index(n)
    except TypeError:
        raise TypeError("phasewatt.count: n must be an integer, not %s (%r)"
                        % (type(n).__name__, n)) from None
    if value < 0:
        raise ValueError("phasewatt.count: n must not be negative (got %d)" % value)
    if value >= 1 << 63:
        raise ValueError("phasewatt.count: n is too large (got %d)" % value)
    return value


_counter_ids: Dict[str, int] = {}


def count(name: str, n: Any = 1) -> None:
    """Adds n (an integer >= 0) to a counter ("tokens") in the current phase; J/token comes
    from the "tokens" counter."""
    value = _count_value(n)
    cid = _counter_ids.get(name)
    if cid is None:
        check_name(name, "count")
        cid = lib.pw_counter_id(name.encode("utf-8", "surrogatepass"))
        _counter_ids[name] = cid
    _settle()
    rc = lib.pw_count(cid, value)
    if rc:
        _failed(rc)


def track_name(name: str) -> None:
    """Names the calling thread's track in the trace ("worker-3"); 63 bytes are kept."""
    if not isinstance(name, str) or not name:
        raise TypeError("phasewatt.track_name: the name must be a non-empty str")
    rc = lib.pw_track_name(name.encode("utf-8", "surrogatepass"))
    if rc:
        _failed(rc)


def track_devices(*devices: str) -> None:
    """Says which devices the calling thread's phases drive ("cpu", "gpu", "ane"): where
    threads overlap, a domain's energy goes only to those that drive its device, so a
    tokenizer thread that says track_devices("cpu") takes no GPU energy from the decode
    beside it. A thread that says nothing drives every device. Call it while a session
    records."""
    if not devices or not all(isinstance(d, str) and d for d in devices):
        raise TypeError("phasewatt.track_devices: name one or more devices: 'cpu', 'gpu', 'ane'")
    rc = lib.pw_track_devices(",".join(devices).encode("ascii", "replace"))
    if rc == -1:   # PW_ERR_INVALID: a word it does not know
        raise ValueError("phasewatt.track_devices: unknown device in %r (cpu, gpu, ane)" % (devices,))
    if rc:
        _failed(rc)


def close_thread_phases() -> int:
    """Closes every phase still open on the calling thread (a session ending); returns how
    many the library had open."""
    stack = _tls.stack
    n = 0
    while stack:
        entry = stack[-1]
        n += bool(entry) if entry.__class__ is int else entry.ok
        _pop_c(stack)
        if entry.__class__ is not int:
            entry.closed = True
    return n
