"""phasewatt for Python: phase tags for the phasewatt power and energy profiler.

ctypes over libphasewatt.so, no build step. Under ``phasewatt record -- python3 app.py``
the tags reach the recorder through its shared-memory channel; on its own a program can
record with ``phasewatt.open()`` / ``phasewatt.close()``.

    import phasewatt
    with phasewatt.phase("prefill"):
        ...
    @phasewatt.phase("sampling")
    def sample(logits): ...
    phasewatt.count("tokens", n)
    phasewatt.instrument_generate(model)   # a Hugging Face causal LM: prefill / decode

The library is found through PHASEWATT_LIBRARY, then next to this package in a source
checkout (build/lib/libphasewatt.so), then the system's (libphasewatt.so.0).
"""

import ctypes
import ctypes.util
import functools
import os

__all__ = ["phase", "begin", "end", "mark", "count", "open", "close", "set_meta",
           "instrument_generate", "PhasewattError"]


class PhasewattError(RuntimeError):
    """A phasewatt call failed; the message is pw_strerror's."""


def _candidates():
    env = os.environ.get("PHASEWATT_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "..", "build", "lib", "libphasewatt.so")
    found = ctypes.util.find_library("phasewatt")
    if found:
        yield found
    yield "libphasewatt.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("phasewatt: cannot load libphasewatt.so (set PHASEWATT_LIBRARY, or "
                      "run `make` in the source tree): " + "; ".join(errors))


_lib = _load()
_lib.pw_phase_id.argtypes = [ctypes.c_char_p]
_lib.pw_phase_id.restype = ctypes.c_uint32
_lib.pw_counter_id.argtypes = [ctypes.c_char_p]
_lib.pw_counter_id.restype = ctypes.c_uint32
for _name in ("pw_begin", "pw_mark"):
    getattr(_lib, _name).argtypes = [ctypes.c_uint32]
    getattr(_lib, _name).restype = ctypes.c_int
_lib.pw_end.argtypes = []
_lib.pw_end.restype = ctypes.c_int
_lib.pw_count.argtypes = [ctypes.c_uint32, ctypes.c_int64]
_lib.pw_count.restype = ctypes.c_int
_lib.pw_track_name.argtypes = [ctypes.c_char_p]
_lib.pw_track_name.restype = ctypes.c_int
_lib.pw_strerror.argtypes = [ctypes.c_int]
_lib.pw_strerror.restype = ctypes.c_char_p
_lib.pw_open_error.argtypes = []
_lib.pw_open_error.restype = ctypes.c_char_p
_lib.pw_set_meta.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_lib.pw_set_meta.restype = ctypes.c_int

# Bound once: each tag is then one ctypes call, no attribute lookups on the library.
_begin = _lib.pw_begin
_end = _lib.pw_end
_count = _lib.pw_count
_ids = {}
_counters = {}


def _check(rc):
    if rc != 0:
        raise PhasewattError(_lib.pw_strerror(rc).decode())
    return rc


def _id(name, table=_ids, intern=_lib.pw_phase_id):
    pid = table.get(name)
    if pid is None:
        pid = intern(name.encode())
        if not pid:
            raise PhasewattError("cannot intern phase name %r (empty, too long, or the "
                                 "name table is full)" % (name,))
        table[name] = pid
    return pid


def begin(name):
    """Opens a phase nested in this thread's current one."""
    _check(_begin(_id(name)))


def end():
    """Closes this thread's innermost phase."""
    _check(_end())


def mark(name):
    """An instant event."""
    _check(_lib.pw_mark(_id(name)))


def count(name, n=1):
    """Adds n to a counter ("tokens") in the current phase: J/token comes from it."""
    _check(_count(_id(name, _counters, _lib.pw_counter_id), int(n)))


def track_name(name):
    """Names the calling thread's track in the trace ("worker-3"); 63 bytes are kept."""
    _check(_lib.pw_track_name(str(name).encode()))


class phase:
    """A phase as a context manager (``with phase("prefill"):``) or a decorator."""

    __slots__ = ("_pid",)

    def __init__(self, name):
        self._pid = _id(name)

    def __enter__(self):
        rc = _begin(self._pid)
        if rc:
            _check(rc)
        return self

    def __exit__(self, *exc):
        _end()
        return False

    def __call__(self, fn):
        pid = self._pid

        @functools.wraps(fn)
        def tagged(*args, **kwargs):
            _check(_begin(pid))
            try:
                return fn(*args, **kwargs)
            finally:
                _end()
        return tagged


class _Options(ctypes.Structure):
    # include/phasewatt.h: struct pw_options
    _fields_ = [("struct_size", ctypes.c_size_t), ("output_path", ctypes.c_char_p),
                ("sources", ctypes.c_char_p), ("interval_ns", ctypes.c_uint64),
                ("ring_events", ctypes.c_uint32), ("synthetic", ctypes.c_char_p),
                ("command", ctypes.c_char_p), ("quiet", ctypes.c_int)]


_lib.pw_options_init.argtypes = [ctypes.POINTER(_Options)]
_lib.pw_open.argtypes = [ctypes.POINTER(_Options)]
_lib.pw_open.restype = ctypes.c_int
_lib.pw_close.restype = ctypes.c_int


def open(output="phasewatt.pwt", sources=None, interval_ms=10.0, quiet=False):
    """Records this process into output until close() (not under `phasewatt record`)."""
    o = _Options()
    _lib.pw_options_init(ctypes.byref(o))
    o.output_path = output.encode()
    o.sources = sources.encode() if sources else None
    o.interval_ns = int(interval_ms * 1e6)
    o.command = b"python"
    o.quiet = int(quiet)
    rc = _lib.pw_open(ctypes.byref(o))
    if rc:
        raise PhasewattError("%s: %s" % (_lib.pw_strerror(rc).decode(),
                                          _lib.pw_open_error().decode()))


def close():
    _check(_lib.pw_close())


def set_meta(key, value):
    """Metadata of the trace being recorded in this process (model name, batch size)."""
    _check(_lib.pw_set_meta(str(key).encode(), str(value).encode()))


def _tokens_in(args, kwargs):
    """(batch, length) of the input ids a forward pass got, or (0, 0)."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    shape = getattr(ids, "shape", None)
    if not shape:
        return 0, 0
    return (int(shape[0]), int(shape[-1])) if len(shape) > 1 else (1, int(shape[0]))


def instrument_generate(model):
    """Splits a Hugging Face causal LM's generate() into phases, with token counts.

    The first forward pass of each generate() call is ``prefill`` (tokens: the prompt's,
    batch x length); each later one is one ``decode`` step (tokens: one per sequence).
    Patches the instance only (model.forward and model.generate); returns the model.
    """
    forward, generate = model.forward, model.generate
    state = {"first": True}
    prefill, decode = phase("prefill"), phase("decode")

    @functools.wraps(forward)
    def tagged_forward(*args, **kwargs):
        batch, length = _tokens_in(args, kwargs)
        first, state["first"] = state["first"], False
        with (prefill if first else decode):
            count("tokens", batch * length if first else batch)
            return forward(*args, **kwargs)

    @functools.wraps(generate)
    def tagged_generate(*args, **kwargs):
        state["first"] = True
        return generate(*args, **kwargs)

    model.forward = tagged_forward
    model.generate = tagged_generate
    return model
