"""Finds libphasewatt.so and the phasewatt CLI, and declares the C functions the binding calls."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from typing import Iterator, List, Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
# In a source checkout the package is bindings/python/phasewatt, three levels below the root.
_SOURCE_ROOT = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))


def _installed(what: str) -> str:
    """Where `make install` put the library or the CLI (phasewatt/_installed.py), or ""."""
    try:
        from . import _installed as where  # type: ignore[attr-defined]
    except ImportError:
        return ""
    return str(getattr(where, what, "") or "")


def _build_dirs() -> Iterator[str]:
    build = os.environ.get("PHASEWATT_BUILD_DIR")
    if build:
        yield build
    yield os.path.join(_SOURCE_ROOT, "build")


def _library_candidates() -> Iterator[str]:
    env = os.environ.get("PHASEWATT_LIBRARY")
    if env:
        yield env
    yield os.path.join(_HERE, "_bundled", "libphasewatt.so")
    yield _installed("LIBRARY")
    for build in _build_dirs():
        yield os.path.join(build, "lib", "libphasewatt.so")
    found = ctypes.util.find_library("phasewatt")
    if found:
        yield found
    yield "libphasewatt.so.0"
    yield "/usr/local/lib/libphasewatt.so.0"


def load_library() -> ctypes.PyDLL:
    """The library, loaded as a PyDLL: calls keep the GIL, which halves a tag's cost (the
    functions never block, so releasing the GIL around them only costs)."""
    errors: List[str] = []
    for path in _library_candidates():
        if not path or (os.sep in path and not os.path.exists(path)):
            continue
        try:
            return ctypes.PyDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("phasewatt: cannot load libphasewatt.so: set PHASEWATT_LIBRARY to its "
                      "path, run `make` in the source tree, or `make install`"
                      + ("; tried: " + "; ".join(errors) if errors else ""))


def find_cli() -> str:
    """The phasewatt command: PHASEWATT_CLI, bundled, the build tree, then PATH."""
    env = os.environ.get("PHASEWATT_CLI")
    candidates = [env] if env else []
    candidates += [os.path.join(_HERE, "_bundled", "phasewatt"), _installed("CLI")]
    candidates += [os.path.join(b, "bin", "phasewatt") for b in _build_dirs()]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which("phasewatt")
    if found:
        return found
    raise FileNotFoundError("phasewatt: the `phasewatt` command is needed to read results and "
                            "was not found: set PHASEWATT_CLI, run `make`, or put it on PATH")


class Options(ctypes.Structure):
    """include/phasewatt.h: struct pw_options."""
    _fields_ = [("size", ctypes.c_size_t), ("output_path", ctypes.c_char_p),
                ("sources", ctypes.c_char_p), ("interval_ns", ctypes.c_uint64),
                ("ring_events", ctypes.c_uint32), ("synthetic", ctypes.c_char_p),
                ("command", ctypes.c_char_p), ("quiet", ctypes.c_int),
                ("read_limit_ms", ctypes.c_uint32)]


class Stats(ctypes.Structure):
    """include/phasewatt.h: struct pw_stats."""
    _fields_ = [("size", ctypes.c_size_t),
                ("samples", ctypes.c_uint64), ("events", ctypes.c_uint64),
                ("lost_events", ctypes.c_uint64), ("missed_deadlines", ctypes.c_uint64),
                ("sampler_cpu_ns", ctypes.c_uint64), ("sampler_wall_ns", ctypes.c_uint64),
                ("tracks", ctypes.c_uint32), ("write_errno", ctypes.c_int),
                ("write_stopped_ns", ctypes.c_uint64), ("bytes_written", ctypes.c_uint64),
                ("counter_jumps", ctypes.c_uint64), ("suspended_ns", ctypes.c_uint64),
                ("stuck_reads", ctypes.c_uint64)]


class DomainInfo(ctypes.Structure):
    """include/phasewatt.h: struct pw_domain_info."""
    _fields_ = [("size", ctypes.c_size_t), ("name", ctypes.c_char_p), ("kind", ctypes.c_char_p),
                ("source", ctypes.c_char_p), ("parent", ctypes.c_int),
                ("estimated", ctypes.c_int), ("samples", ctypes.c_size_t)]


def _declare(lib: ctypes.PyDLL) -> None:
    u32, i32, i64, u64 = ctypes.c_uint32, ctypes.c_int, ctypes.c_int64, ctypes.c_uint64
    s, vp, sz = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
    table = {
        "pw_phase_id": ([s], u32), "pw_counter_id": ([s], u32),
        "pw_begin": ([u32], i32), "pw_end": ([], i32), "pw_mark": ([u32], i32),
        "pw_count": ([u32, i64], i32), "pw_track_name": ([s], i32),
        "pw_track_devices": ([s], i32),
        "pw_strerror": ([i32], s), "pw_open_error": ([], s),
        "pw_options_init": ([ctypes.POINTER(Options)], None),
        "pw_open": ([ctypes.POINTER(Options)], i32), "pw_close": ([], i32),
        "pw_set_meta": ([s, s], i32), "pw_get_stats": ([ctypes.POINTER(Stats)], i32),
        "pw_trace_open": ([s, ctypes.POINTER(vp)], i32), "pw_trace_close": ([vp], None),
        "pw_trace_domain_count": ([vp], sz),
        "pw_trace_domain": ([vp, sz, ctypes.POINTER(DomainInfo)], i32),
        "pw_trace_sample": ([vp, sz, sz, ctypes.POINTER(u64), ctypes.POINTER(u64)], i32),
        "pw_trace_meta": ([vp, s], s),
    }
    for name, (args, res) in table.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    # pw_begin/pw_end without argtypes: ctypes then converts the int directly, which is
    # cheaper than the declared conversion; the ids always fit an unsigned 32-bit value.
    lib.pw_begin.argtypes = None
    lib.pw_end.argtypes = None


lib = load_library()
_declare(lib)


def strerror(rc: int) -> str:
    return lib.pw_strerror(rc).decode(errors="replace")


def channel_active() -> Optional[bool]:
    """Whether this process's tags go to a `phasewatt record` recorder. pw_channel_child_active
    is exported but not in the public header; None when this library lacks it."""
    fn = getattr(lib, "pw_channel_child_active", None)
    if fn is None:
        return None
    fn.argtypes, fn.restype = [], ctypes.c_int
    return bool(fn())
