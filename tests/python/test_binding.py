"""The binding without PyTorch: names, nesting that survives exceptions, asyncio tasks,
threads past the recorder's rings, sessions that survive how a program ends, results equal
to the CLI's report, windows, and the package installing offline."""
import asyncio
import csv
import io
import os
import subprocess
import sys

import pwtest
from pwtest import Skip, paths, recording, report_json, run_python, tmp

import phasewatt


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return str(e)
    raise AssertionError("%s%r did not raise %s" % (fn.__name__, args, exc.__name__))


def test_bad_names_and_counts_are_rejected_at_the_call():
    assert "must be a str, not NoneType" in raises(TypeError, phasewatt.phase, None)
    assert "'/'" in raises(ValueError, phasewatt.phase, "a/b")
    msg = raises(ValueError, phasewatt.phase, "x" * 5000)
    assert "5000 bytes" in msg and len(msg) < 200, msg
    assert "not float" in raises(TypeError, phasewatt.count, "tokens", 2.9)
    assert "negative" in raises(ValueError, phasewatt.count, "tokens", -5)
    assert "bool" in raises(TypeError, phasewatt.count, "tokens", True)
    assert "track_name" in raises(TypeError, phasewatt.track_name, None)
    assert "unknown device" in raises(ValueError, phasewatt.track_devices, "tpu")
    assert "name one or more" in raises(TypeError, phasewatt.track_devices)


def test_a_cpu_only_thread_takes_no_gpu_energy_once_it_says_so():
    import threading
    with recording("devices.pwt") as s:
        def tokenizer():
            phasewatt.track_devices("cpu")
            with phasewatt.phase("tokenize"):
                pass
        phasewatt.track_devices("cpu", "gpu")
        with phasewatt.phase("decode"):
            t = threading.Thread(target=tokenizer)
            t.start()
            t.join()
    assert paths(s.result) == {"decode", "tokenize"}, paths(s.result)


def test_an_exception_leaves_later_phases_nested_and_is_counted():
    before = phasewatt.health()["closed_on_exception"]
    with recording("exc.pwt") as s:
        for _ in range(3):
            try:
                with phasewatt.phase("decode"):
                    phasewatt.begin("attention")         # a hook whose end never ran
                    raise RuntimeError("in the layer")
            except RuntimeError:
                pass
        with phasewatt.phase("decode"):
            with phasewatt.phase("attention"):
                pass
    assert phasewatt.health()["closed_on_exception"] - before == 3
    r = s.result
    assert paths(r) == {"decode", "decode/attention"}, paths(r)
    assert r["decode"].calls == 4 and r["decode/attention"].calls == 4
    assert r.meta["python.closed_on_exception"] == str(phasewatt.health()["closed_on_exception"])


def test_handles_close_exactly_their_phase():
    with recording("handles.pwt") as s:
        outer = phasewatt.begin("request")
        inner = phasewatt.begin("decode")
        with phasewatt.phase("attention"):
            phasewatt.end(outer)          # waits for the `with` inside it, then closes both
            phasewatt.count("tokens", 2)
        with phasewatt.phase("decode"):   # at the root again: request and decode closed
            pass
        phasewatt.end(inner)              # already closed with outer: counted, not raised
        phasewatt.end()
    r = s.result
    assert paths(r) == {"request", "request/decode", "request/decode/attention", "decode"}, \
        paths(r)
    assert r["request/decode/attention"].tokens == 2
    assert phasewatt.health()["unbalanced_ends"] >= 2


def test_too_deep_degrades_to_a_count_and_the_blocks_run():
    ran = []
    before = phasewatt.health()["tag_failures"]

    def nest(n):
        with phasewatt.phase("decode"):
            ran.append(n)
            if n < 70:
                nest(n + 1)
    with recording("deep.pwt") as s:
        nest(1)
        with phasewatt.phase("attention"):     # the stack is whole again afterwards
            pass
    assert len(ran) == 70
    assert phasewatt.health()["tag_failures"] - before == 6
    assert "attention" in paths(s.result)
    assert max(p.depth for p in s.result.phases) == 64


def test_200_asyncio_requests_nest_per_task():
    async def request(i):
        with phasewatt.phase("request"):
            await asyncio.sleep(0)
            with phasewatt.phase("prefill"):
                await asyncio.sleep(0)
                phasewatt.count("tokens", 3)
            for _ in range(2):
                with phasewatt.phase("decode"):
                    await asyncio.sleep(0)
                    phasewatt.count("tokens", 1)

    @phasewatt.phase("detokenize")
    async def detokenize():
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(request(i) for i in range(200)))
        await asyncio.gather(*(detokenize() for i in range(50)))

    with recording("async.pwt") as s:
        asyncio.run(main())
    r = s.result
    assert paths(r) == {"request", "request/prefill", "request/decode", "detokenize"}, paths(r)
    assert r["request/prefill"].tokens == 600 and r["request/decode"].tokens == 400
    assert r["request"].calls >= 200      # a stretch per resumption: see docs/python.md


def test_300_threads_under_record_tag_without_an_exception_and_the_loss_is_reported():
    out = tmp("threads.pwt")
    code = (
        "import threading, phasewatt\n"
        "bar = threading.Barrier(300, timeout=120)\n"
        "ran, errors = [], []\n"
        "def work(i):\n"
        "    try:\n"
        "        with phasewatt.phase('work'):\n"
        "            phasewatt.count('tokens', 1)\n"
        "            bar.wait()\n"
        "            ran.append(i)\n"
        "    except Exception as e:\n"
        "        errors.append(repr(e))\n"
        "ts = [threading.Thread(target=work, args=(i,)) for i in range(300)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(len(ran), errors, phasewatt.health()['tag_failures'], phasewatt.is_recording())\n")
    words = run_python(code, record_to=out).split()
    assert words[0] == "300" and words[1] == "[]", words
    assert int(words[2]) >= 300 - 128 and words[3] == "True", words
    r = phasewatt.load(out)
    assert int(r.meta["channel.no_ring"]) >= 300 - 128, r.meta
    assert r["work"].calls <= 128 and r["work"].calls + int(words[2]) >= 300


def test_set_meta_under_record_is_kept_not_raised():
    out = tmp("meta-record.pwt")
    code = ("import phasewatt\n"
            "phasewatt.set_meta('model.arch', 'tiny')\n"
            "with phasewatt.session(output='ignored.pwt') as s:\n"
            "    with phasewatt.phase('decode'): pass\n"
            "print(phasewatt.is_recording(), s.attached, s.result, phasewatt.pending_meta())\n")
    said = run_python(code, record_to=out)
    assert said.strip() == "True True None {'model.arch': 'tiny'}", said
    assert "decode" in paths(phasewatt.load(out))


def _ended(code, expect, name):
    out = tmp(name)
    run_python("import os, signal, sys, phasewatt\nOUT = %r\n" % out + code, expect=expect)
    r = phasewatt.load(out)
    assert r.to_dict()["trace"]["complete"] is True
    assert "decode" in paths(r), paths(r)
    return r


SESSION = ("s = phasewatt.session(output=OUT, sources='synthetic', synthetic='decode=10W', "
           "interval='1ms')\n")


def test_a_session_survives_an_exception_sys_exit_signals_and_interpreter_exit():
    _ended(SESSION + "with s:\n    with phasewatt.phase('decode'):\n"
           "        raise RuntimeError('boom')\n", 1, "exc-exit.pwt")
    _ended(SESSION + "with s:\n    with phasewatt.phase('decode'):\n        sys.exit(3)\n",
           3, "sys-exit.pwt")
    # the test sets the dispositions it relies on, whatever it inherited
    r = _ended("signal.signal(signal.SIGTERM, signal.SIG_DFL)\n" + SESSION + "s.start()\n"
               "phasewatt.begin('decode')\nos.kill(os.getpid(), signal.SIGTERM)\n", -15,
               "sigterm.pwt")
    assert r.meta.get("python.closed_at_session_end") == "1", r.meta
    _ended("signal.signal(signal.SIGINT, signal.default_int_handler)\n" + SESSION +
           "with s:\n    with phasewatt.phase('decode'):\n"
           "        os.kill(os.getpid(), signal.SIGINT)\n", -2, "sigint.pwt")
    _ended(SESSION + "s.start()\nwith phasewatt.phase('decode'): pass\n", 0, "atexit.pwt")
    _ended("phasewatt.open(OUT, sources='synthetic', synthetic='decode=10W', quiet=True)\n"
           "with phasewatt.phase('decode'): pass\n", 0, "open-atexit.pwt")


def test_a_signal_that_lands_while_the_trace_closes_waits_for_the_close():
    # deterministic stand-in for a SIGTERM whose handler runs only once stop() has begun
    # (atexit, or a signal taken by another thread): the close finishes, then the signal kills
    r = _ended("signal.signal(signal.SIGTERM, signal.SIG_DFL)\n" + SESSION + "s.start()\n"
               "close = phasewatt._session._tags.close_thread_phases\n"
               "def landing():\n    os.kill(os.getpid(), signal.SIGTERM)\n    return close()\n"
               "phasewatt._session._tags.close_thread_phases = landing\n"
               "phasewatt.begin('decode')\ns.stop()\nprint('not reached')\n", -15,
               "sigterm-in-close.pwt")
    assert r.meta.get("python.closed_at_session_end") == "1", r.meta


def test_a_user_signal_handler_still_runs():
    out = tmp("handler.pwt")
    code = ("import os, signal, phasewatt\n"
            "seen = []\n"
            "signal.signal(signal.SIGTERM, lambda *a: seen.append(1))\n"
            "with phasewatt.session(output=%r, sources='synthetic', synthetic='decode=10W'):\n"
            "    with phasewatt.phase('decode'):\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "print(seen)\n" % out)
    assert run_python(code).strip() == "[1]"
    assert "decode" in paths(phasewatt.load(out))


def test_a_session_as_a_decorator_records_each_call():
    out = tmp("decorated.pwt")

    @phasewatt.session(output=out, sources="synthetic", synthetic=pwtest.SYNTHETIC)
    def serve(n):
        with phasewatt.phase("decode"):
            phasewatt.count("tokens", n)
        return phasewatt.is_recording()
    assert serve(3) is True and phasewatt.current() is None
    assert phasewatt.load(out)["decode"].tokens == 3
    assert serve(4) and phasewatt.load(out)["decode"].tokens == 4    # a session per call


def _recorded():
    with recording("result.pwt", meta={"model.arch": "tiny"}) as s:
        for _ in range(3):
            with phasewatt.phase("prefill"):
                phasewatt.count("tokens", 5)
                with phasewatt.phase("attention"):
                    sum(range(300000))
            with phasewatt.phase("decode"):
                phasewatt.count("tokens", 1)
                sum(range(300000))
    return s.result


def test_results_equal_report_json():
    r = _recorded()
    want = report_json(r.path)
    assert r.to_dict() == want
    assert r.meta["model.arch"] == "tiny"
    assert [p.path for p in r.phases] == [p["path"] for p in want["phases"]]
    for p, w in zip(r.phases, want["phases"]):
        assert (p.calls, p.duration_s, p.energy_j, p.self_energy_j, p.tokens, p.j_per_token,
                p.provenance, p.uncertainty_j) == (w["calls"], w["duration_s"], w["energy_j"],
                                                    w["self_energy_j"], w["tokens"],
                                                    w["j_per_token"], w["provenance"],
                                                    w.get("uncertainty_j")), p.path
    assert r.energy_j == want["trace"]["energy_j"]
    assert r["prefill"].tokens == 15 and r["decode"].tokens == 3
    html = r._repr_html_()
    assert "attention" in html and r["prefill"].provenance in html and "<polyline" in html


def test_power_samples_match_report_samples():
    r = _recorded()
    text = subprocess.run([pwtest.cli(), "report", r.path, "--samples"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout
    rows = list(csv.reader(io.StringIO(text)))[1:]
    got = list(r.samples())
    assert len(got) == len(rows) and rows
    for s, row in zip(got, rows):
        assert [s.timestamp, s.cpu_power_mw, s.gpu_power_mw, s.ane_power_mw, s.dram_power_mw,
                s.total_power_mw] == [float(x) for x in row[:6]] and s.phase == row[6]
    assert {s.phase for s in got} <= paths(r) | {""}


def test_to_pandas_frame_matches_the_report():
    try:
        import pandas
    except ImportError:
        raise Skip("pandas is not installed (python3-pandas)")
    r = _recorded()
    assert isinstance(r.to_pandas(), pandas.DataFrame)
    df = r.to_pandas()
    want = report_json(r.path)["phases"]
    assert list(df.index) == [p["path"] for p in want]
    for p in want:
        row = df.loc[p["path"]]
        assert row["calls"] == p["calls"] and row["tokens"] == p["tokens"]
        assert row["energy_j"] == p["energy_j"]["total"]
        assert row["energy_j.cpu"] == p["energy_j"]["cpu"]
        assert row["provenance"] == p["provenance"]


def test_compare_labels_runs_by_their_metadata():
    runs = []
    for arch in ("small", "large"):
        with recording("cmp-%s.pwt" % arch, meta={"model.arch": arch}) as s:
            with phasewatt.phase("decode"):
                sum(range(10000))
        runs.append(s.result)
    c = phasewatt.compare(*runs)
    assert [r["label"] for r in c.runs] == ["small", "large"]
    assert "decode" in c._repr_html_()


def test_a_window_returns_its_energy_at_once():
    with recording("window.pwt") as s:
        phasewatt.begin_window("w")
        sum(range(200000))
        w = phasewatt.end_window("w")
    assert w.energy_j is not None and w.energy_j > 0 and w.time_s > 0
    assert w.energy_j / w.time_s <= 20.0 * 1.001      # the synthetic source draws 20 W at most
    assert set(w.domains_j) == {d["name"] for d in s.result.domains if d["parent"] is None}
    assert "w" in paths(s.result)


def test_the_package_installs_offline_and_finds_the_library():
    target = tmp("site")
    src = os.path.join(os.path.dirname(os.path.abspath(phasewatt.__file__)), "..")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                           "--quiet", "--target", target, src], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if done.returncode and "No module named pip" in done.stdout:
        raise Skip("pip is not installed for %s" % sys.executable)
    assert done.returncode == 0, done.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEWATT_")}
    env["PYTHONPATH"] = target
    code = ("import phasewatt, phasewatt._lib as l; print(phasewatt.__version__, "
            "phasewatt.__file__, l.lib._name, l.find_cli())")
    said = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                          stdout=subprocess.PIPE, text=True, cwd=target).stdout.split()
    assert said[0] == phasewatt.__version__, said
    assert all(p.startswith(os.path.join(target, "phasewatt")) for p in said[1:]), said
    assert os.path.exists(os.path.join(target, "phasewatt", "py.typed"))
    fast = [f for f in os.listdir(os.path.join(target, "phasewatt")) if f.startswith("_speedups")]
    if not fast:
        raise Skip("no C compiler or Python.h here: the compiled fast path was not built")
    # the nesting tests again on the installed copy, on the path this run did not take
    # (pure Python where the source tree has the compiled one built in place)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join([target, here])
    env["PW_TEST_TMP"] = tmp("installed")
    if phasewatt._tags.FAST:
        env["PHASEWATT_PURE_PYTHON"] = "1"
    done = subprocess.run([sys.executable, "-c", "import phasewatt._tags as t\n"
                           "assert t.FAST != %r\n" % phasewatt._tags.FAST +
                           "import runpy, sys; sys.argv = ['t', 'names', 'leaves_later', "
                           "'handles', 'deep', 'asyncio', 'threads']\n"
                           "runpy.run_path(%r, run_name='__main__')"
                           % os.path.join(here, "test_binding.py")],
                          env=env, cwd=target, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0 and done.stdout.count("ok ") == 6, done.stdout


if __name__ == "__main__":
    pwtest.run(globals())
