"""The runner of the Python test files (tests/test_python.c starts them): runs every
test_* function of the calling module in order; exit 77 with the reason when the module
cannot run here (tests/test_python.c skips then), 1 when any test failed."""
import os
import sys
import tempfile
import traceback

SKIP = 77


class Skip(Exception):
    """Raised by a test that cannot run here (a missing optional package)."""


def skip_module(why):
    print("SKIP", why, flush=True)
    sys.exit(SKIP)


def need(module, why):
    try:
        return __import__(module)
    except ImportError:
        skip_module(why)


def tmp(name):
    base = os.environ.get("PW_TEST_TMP") or tempfile.mkdtemp(prefix="pwpy-")
    os.makedirs(base, exist_ok=True)
    return os.path.join(base, name)


def run(namespace):
    only = sys.argv[1:]
    failed = 0
    for name, fn in list(namespace.items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        if only and not any(o in name for o in only):
            continue
        try:
            fn()
            print("ok", name, flush=True)
        except Skip as why:
            print("skip", name, why, flush=True)
        except Exception:                       # a failing test: report it and go on
            failed += 1
            print("FAIL", name, flush=True)
            traceback.print_exc(file=sys.stdout)
    sys.exit(1 if failed else 0)


# ---- what the tests share ----------------------------------------------------------------
SYNTHETIC = "decode=10W,attention=20W,prefill=30W,w=20W,request=5W,work=5W"


def cli():
    import phasewatt._lib
    return phasewatt._lib.find_cli()


def recording(name, **kw):
    """An in-process session on the synthetic source: power follows the phase by name."""
    import phasewatt
    kw.setdefault("sources", "synthetic")
    kw.setdefault("synthetic", SYNTHETIC)
    kw.setdefault("interval", "1ms")
    return phasewatt.session(output=tmp(name), **kw)


def report_json(path):
    import json
    import subprocess
    return json.loads(subprocess.run([cli(), "report", path, "--format", "json"], check=True,
                                     stdout=subprocess.PIPE, text=True).stdout)


def paths(result):
    return {p.path for p in result.phases if p.path}


def run_python(code, record_to=None, expect=0):
    """Runs code in a fresh interpreter (under `phasewatt record -o record_to` if given);
    returns its stdout; fails unless it exits with expect."""
    import subprocess
    cmd = [sys.executable, "-c", code]
    if record_to:
        cmd = [cli(), "record", "-o", record_to, "--no-report", "--quiet", "--source",
               "synthetic", "--synthetic", SYNTHETIC, "--interval", "1ms", "--"] + cmd
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert done.returncode == expect, "exit %d, expected %d\nstdout: %s\nstderr: %s" % (
        done.returncode, expect, done.stdout, done.stderr)
    return done.stdout
