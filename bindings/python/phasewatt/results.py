"""Results as Python objects: a trace's phases, energies and samples, read through the
phasewatt CLI (`report --format json`, `report --samples`, `compare --format json`) until
the library has a public results API; and Zeus-style energy windows."""
from __future__ import annotations

import csv
import ctypes
import html
import io
import json
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from . import _session, _tags
from ._lib import DomainInfo, find_cli, lib
from ._tags import PhasewattError

PathLike = Union[str, "os.PathLike[str]"]


def _cli(*args: str) -> str:
    cmd = [find_cli(), *args]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]
        raise PhasewattError("phasewatt %s: %s" % (args[0], why))
    return done.stdout


@dataclass(frozen=True)
class PowerSample:
    """One sample interval of `phasewatt report --samples` (the classic view)."""
    timestamp: float
    cpu_power_mw: float
    gpu_power_mw: float
    ane_power_mw: float
    dram_power_mw: float
    total_power_mw: float
    phase: str


@dataclass
class Phase:
    """One phase of the report: inclusive figures; None where the trace observed nothing."""
    path: str
    depth: int
    calls: int
    duration_s: float
    energy_j: Dict[str, Optional[float]]        # "total" and per kind ("cpu", "gpu", ...)
    self_energy_j: Dict[str, Optional[float]]
    share: Optional[float]
    mean_power_w: Optional[float]
    peak_power_w: Optional[float]
    tokens: float
    j_per_token: Optional[float]
    provenance: str                              # pw_provenance_name()'s label, as reported
    uncertainty_j: Optional[float] = None        # the ± J interval, where estimated
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def energy(self) -> Optional[float]:
        """Total inclusive energy in J (None: not observed)."""
        return self.energy_j.get("total")

    _KNOWN = ("path", "depth", "calls", "duration_s", "energy_j", "self_energy_j", "share",
              "mean_power_w", "peak_power_w", "tokens", "j_per_token", "provenance",
              "uncertainty_j")

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Phase":
        known = {k: d.get(k) for k in cls._KNOWN}
        known["energy_j"] = dict(known["energy_j"] or {})
        known["self_energy_j"] = dict(known["self_energy_j"] or {})
        return cls(**known, extra={k: v for k, v in d.items() if k not in cls._KNOWN})


def _fmt(v: Optional[float], spec: str = "%.4g") -> str:
    """NAN/null means not observed: shown as no number."""
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else spec % v


class Result:
    """A recorded trace's report. Figures equal `phasewatt report FILE --format json`."""

    def __init__(self, report: Dict[str, Any], path: Optional[str] = None) -> None:
        self.path = path
        self._report = report
        trace = report.get("trace", {})
        self.meta: Dict[str, str] = dict(trace.get("meta", {}))
        self.duration_s: float = trace.get("duration_s", 0.0)
        self.energy_j: Optional[float] = trace.get("energy_j")
        self.provenance: str = trace.get("provenance", "")
        self.sample_interval_s: Optional[float] = trace.get("sample_interval_s")
        self.lost_events: int = trace.get("lost_events", 0)
        self.domains: List[Dict[str, Any]] = list(report.get("domains", []))
        self.phases: List[Phase] = [Phase.from_json(p) for p in report.get("phases", [])]

    @property
    def health(self) -> Dict[str, Any]:
        """What went wrong while recording: lost events, phases closed for the program
        (by an exception, at the session's end, at a crash), tags not recorded."""
        t = self._report.get("trace", {})
        out = {k: t.get(k) for k in ("lost_events", "unbalanced_ends", "unclosed_phases",
                                     "missed_deadlines", "complete", "torn")}
        out.update({k: v for k, v in self.meta.items()
                    if k.startswith(("python.", "channel.")) or k == "command.closed_phases"})
        return out

    def phase(self, path: str) -> Phase:
        for p in self.phases:
            if p.path == path:
                return p
        raise KeyError("no phase %r in %s" % (path, self.path or "this result"))

    def __getitem__(self, path: str) -> Phase:
        return self.phase(path)

    def to_dict(self) -> Dict[str, Any]:
        """The report as `phasewatt report --format json` prints it."""
        return json.loads(json.dumps(self._report))

    def to_pandas(self) -> Any:
        """One row per phase: energy_j (total), energy_j.KIND and self_energy_j.KIND per
        kind, NaN where not observed. Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("phasewatt: Result.to_pandas() needs pandas "
                              "(apt install python3-pandas, or pip install pandas)") from None
        rows = []
        for p in self.phases:
            row: Dict[str, Any] = {"path": p.path, "depth": p.depth, "calls": p.calls,
                                   "duration_s": p.duration_s}
            for k, v in p.energy_j.items():
                row["energy_j" if k == "total" else "energy_j." + k] = v
            for k, v in p.self_energy_j.items():
                row["self_energy_j" if k == "total" else "self_energy_j." + k] = v
            row.update(share=p.share, mean_power_w=p.mean_power_w, peak_power_w=p.peak_power_w,
                       tokens=p.tokens, j_per_token=p.j_per_token, provenance=p.provenance,
                       uncertainty_j=p.uncertainty_j)
            rows.append(row)
        return pd.DataFrame(rows).set_index("path")

    def samples(self) -> Iterator[PowerSample]:
        """The rows of `phasewatt report FILE --samples` as PowerSample."""
        if not self.path:
            raise PhasewattError("phasewatt: samples() needs the result's trace file")
        reader = csv.reader(io.StringIO(_cli("report", self.path, "--samples")))
        next(reader, None)
        for row in reader:
            if len(row) == 7:
                yield PowerSample(*(float(x) for x in row[:6]), row[6])

    def __repr__(self) -> str:
        return "<phasewatt.Result %s: %d phases, %s J in %.3f s (%s)>" % (
            self.path or "", len(self.phases) - 1, _fmt(self.energy_j), self.duration_s,
            self.provenance)

    def _repr_html_(self) -> str:
        """The phase table and a bar per phase of its share of the energy, for Jupyter."""
        head = "<tr>%s</tr>" % "".join("<th>%s</th>" % h for h in (
            "phase", "calls", "time s", "energy J", "share", "J/token", "provenance", ""))
        body = []
        for p in self.phases:
            if not p.path:
                continue
            width = 0 if p.share is None else max(0.0, min(1.0, p.share)) * 120
            bar = ('<svg width="120" height="10"><rect width="%.1f" height="10" '
                   'fill="#d9822b"/></svg>' % width)
            body.append("<tr><td style='text-align:left;padding-left:%dem'>%s</td><td>%d</td>"
                        "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                        % (p.depth - 1, html.escape(p.name), p.calls, _fmt(p.duration_s),
                           _fmt(p.energy), _fmt(None if p.share is None else 100 * p.share,
                                                "%.1f%%"),
                           _fmt(p.j_per_token), html.escape(p.provenance), bar))
        title = "%s: %s J, %.3f s, %s" % (html.escape(os.path.basename(self.path or "result")),
                                          _fmt(self.energy_j), self.duration_s,
                                          html.escape(self.provenance))
        return "<div><b>%s</b>%s<table>%s%s</table></div>" % (title, self._power_svg(), head,
                                                             "".join(body))

    def _power_svg(self, width: int = 480, height: int = 60) -> str:
        """Total power over time, from samples(): the plot under the title."""
        try:
            pts = [(s.timestamp, s.total_power_mw) for s in self.samples()]
        except (PhasewattError, FileNotFoundError):
            return ""
        if len(pts) < 2:
            return ""
        step = max(1, len(pts) // width)
        pts = pts[::step]
        t0, t1 = pts[0][0], pts[-1][0]
        top = max(p for _, p in pts) or 1.0
        line = " ".join("%.1f,%.1f" % ((t - t0) / ((t1 - t0) or 1) * width,
                                        height - p / top * (height - 2)) for t, p in pts)
        return ('<svg width="%d" height="%d"><title>total power, peak %.3g W</title>'
                '<polyline fill="none" stroke="#d9822b" points="%s"/></svg>'
                % (width, height, top / 1000, line))


def load(path: PathLike) -> Result:
    """Any .pwt trace as a Result."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError("phasewatt.load: no such trace: %s" % p)
    return Result(json.loads(_cli("report", p, "--format", "json")), p)


class Comparison:
    """`phasewatt compare` of several runs: runs[i]["phases"], energy deltas against the first."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self._data = data
        self.runs: List[Dict[str, Any]] = data.get("runs", [])

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(json.dumps(self._data))

    def _repr_html_(self) -> str:
        rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            html.escape(r.get("label", "")), html.escape(p.get("path") or "(total)"),
            _fmt(p.get("energy_j")), _fmt(p.get("energy_delta_pct"), "%+.1f%%"))
            for r in self.runs for p in r.get("phases", []) if p.get("path", "").count("/") == 0)
        return ("<table><tr><th>run</th><th>phase</th><th>energy J</th><th>vs first</th></tr>"
                "%s</table>" % rows)


def compare(*runs: Union[PathLike, Result]) -> Comparison:
    """Compares runs (paths or Results), labelled by their model.arch metadata."""
    paths = [r.path if isinstance(r, Result) else os.fspath(r) for r in runs]
    if len(paths) < 1 or any(p is None for p in paths):
        raise ValueError("phasewatt.compare: give one or more trace paths or loaded Results")
    return Comparison(json.loads(_cli("compare", *paths, "--format", "json")))  # type: ignore


# ---- Zeus-style windows -----------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """A window's measurement: time and energy per top-level domain and in total (J)."""
    name: str
    time_s: float
    energy_j: Optional[float]
    domains_j: Dict[str, float]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


_windows: Dict[str, Any] = {}


def begin_window(name: str) -> None:
    """Starts a measurement window (also a phase of that name in the trace)."""
    _tags.check_name(name, "begin_window")
    if name in _windows:
        raise ValueError("phasewatt.begin_window: window %r is already open" % name[:60])
    s = _session.current()
    if s is None or s.attached:
        raise PhasewattError("phasewatt.begin_window: windows need a session of this process "
                             "(with phasewatt.session(...)); under `phasewatt record` read "
                             "the phases from the finished trace")
    _windows[name] = (time.monotonic_ns(), _tags.begin(name), s)


def end_window(name: str, timeout_s: float = 3.0) -> Window:
    """Ends a window and returns its energy, integrated from the trace's cumulative
    readings. It waits until the session has written a reading past the window's end (the
    trace is flushed about once a second)."""
    if name not in _windows:
        raise ValueError("phasewatt.end_window: no window %r is open" % name[:60])
    t0, handle, s = _windows.pop(name)
    _tags.end(handle)
    t1 = time.monotonic_ns()
    deadline = time.monotonic() + timeout_s
    while True:
        got = _window_energy(s.output, t0, t1)
        if got is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    total = None if got is None else sum(got.values())
    return Window(name, (t1 - t0) / 1e9, total, got or {})


def _window_energy(path: str, t0: int, t1: int) -> Optional[Dict[str, float]]:
    """Energy (J) per top-level domain over [t0, t1], or None while a domain's readings do
    not yet reach t1."""
    trace = ctypes.c_void_p()
    if lib.pw_trace_open(path.encode(), ctypes.byref(trace)) != 0:
        return None
    try:
        out: Dict[str, float] = {}
        for d in range(lib.pw_trace_domain_count(trace)):
            info = DomainInfo(size=ctypes.sizeof(DomainInfo))
            if lib.pw_trace_domain(trace, d, ctypes.byref(info)) or info.parent >= 0:
                continue
            pts = _readings(trace, d, info.samples)
            if not pts or pts[-1][0] < t1 or pts[0][0] > t0:
                return None
            out[info.name.decode()] = (_at(pts, t1) - _at(pts, t0)) / 1e6
        return out or None
    finally:
        lib.pw_trace_close(trace)


def _readings(trace: Any, d: int, n: int) -> List[tuple]:
    t, e = ctypes.c_uint64(), ctypes.c_uint64()
    pts = []
    for i in range(n):
        if lib.pw_trace_sample(trace, d, i, ctypes.byref(t), ctypes.byref(e)) == 0:
            pts.append((t.value, e.value))
    return pts


def _at(pts: Sequence[tuple], t: int) -> float:
    """Cumulative energy (µJ) at time t, linear between the readings around it."""
    lo, hi = 0, len(pts) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pts[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (ta, ea), (tb, eb) = pts[lo], pts[hi]
    if tb == ta or t <= ta:
        return float(ea)
    if t >= tb:
        return float(eb)
    return ea + (eb - ea) * (t - ta) / (tb - ta)


__all__ = ["PowerSample", "Phase", "Result", "Comparison", "Window", "load", "compare",
           "begin_window", "end_window"]
