"""phasewatt for Python: phase tags, recording sessions and results for the phasewatt power
and energy profiler (ctypes over libphasewatt.so; no build step).

    import phasewatt
    with phasewatt.session(output="run.pwt", sources="auto") as s:
        with phasewatt.phase("prefill"):
            phasewatt.count("tokens", n_prompt)
    print(s.result.phase("prefill").energy)

Under ``phasewatt record -- python3 app.py`` the same code sends its tags to the recorder.
The library is found through PHASEWATT_LIBRARY, a copy bundled in the package, the source
tree's build/lib, then the system's; the `phasewatt` command (for results) through
PHASEWATT_CLI, the bundled copy, the build tree, then PATH.
"""
from ._session import (Session, close, current, is_recording, open, pending_meta, session,
                       set_meta)
from ._tags import (PhasewattError, begin, count, end, health, mark, phase, track_devices,
                    track_name)
from .hf import instrument_generate, uninstrument_generate
from .results import (Comparison, Phase, PowerSample, Result, Window, begin_window, compare,
                      end_window, load)
from .torch import DEFAULT_RULES, Instrumentation, instrument

__version__ = "0.1.0"

__all__ = ["phase", "begin", "end", "mark", "count", "track_name", "track_devices", "health",
           "session", "Session", "open", "close", "current", "is_recording", "set_meta",
           "pending_meta", "load", "compare", "Result", "Phase", "PowerSample", "Comparison",
           "Window", "begin_window", "end_window", "instrument", "Instrumentation",
           "DEFAULT_RULES", "instrument_generate", "uninstrument_generate", "PhasewattError",
           "__version__"]
