"""hotpath.py — what a Python tag costs: ns per `with phasewatt.phase()` pair (and per
begin()/end() pair, and inside an asyncio task) next to a pair of time.perf_counter_ns()
calls timed the same way, with 1 and 2 threads. Run directly (`python3 bench/hotpath.py`,
with PYTHONPATH=bindings/python) or under `phasewatt record` by bench-hotpath, which reads
the "row LABEL CLOCK1 PAIR1 CLOCK2 PAIR2" line."""
import asyncio
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = os.path.join(HERE, "..", "bindings", "python", "_build", "backend.py")


def build_fast_path():
    """Builds the compiled fast path in the source tree (git ignores it) as pip would, so
    the figure is that of an installed package; PHASEWATT_PURE_PYTHON=1 measures the other."""
    pkg = os.path.join(HERE, "..", "bindings", "python", "phasewatt")
    if os.environ.get("PHASEWATT_PURE_PYTHON") == "1" or not os.path.isdir(pkg) or \
            any(f.startswith("_speedups") and f.endswith(".so") for f in os.listdir(pkg)):
        return
    subprocess.run([sys.executable, BACKEND, "build_ext"], stdout=subprocess.DEVNULL)


build_fast_path()
import phasewatt  # noqa: E402

BATCH, BATCHES = 2000, 50


def clock_pairs(clock=time.perf_counter_ns):
    for _ in range(BATCH):
        clock()
        clock()


def phase_pairs(tag=phasewatt.phase("bench")):
    for _ in range(BATCH):
        with tag:
            pass


def handle_pairs(begin=phasewatt.begin, end=phasewatt.end):
    for _ in range(BATCH):
        end(begin("bench"))


def in_a_task(fn):
    """best_ns(fn) measured inside one asyncio task."""
    async def run():
        return best_ns(fn)
    return asyncio.run(run())


def best_ns(fn):
    best = None
    for _ in range(BATCHES):
        t0 = time.perf_counter_ns()
        fn()
        dt = time.perf_counter_ns() - t0
        best = dt if best is None or dt < best else best
        time.sleep(0.002)                    # lets the recorder drain the ring
    return best / BATCH


def measure(fn, nthreads):
    results = []
    threads = [threading.Thread(target=lambda: results.append(best_ns(fn)))
               for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(results) / len(results)


def main():
    clock1, clock2 = measure(clock_pairs, 1), measure(clock_pairs, 2)
    pair1, pair2 = measure(phase_pairs, 1), measure(phase_pairs, 2)
    print("row (d)_Python_`with_phase()` %.2f %.2f %.2f %.2f" % (clock1, pair1, clock2, pair2),
          flush=True)
    print("Python tag cost, ns per pair (best of %d batches of %d), recording: %s"
          % (BATCHES, BATCH, phasewatt.is_recording()))
    print("  time.perf_counter_ns() pair   %7.1f   (2 threads %7.1f)" % (clock1, clock2))
    for label, ns1, ns2 in (("with phasewatt.phase()", pair1, pair2),
                            ("begin()/end(handle)", measure(handle_pairs, 1), None),
                            ("with phase() in a task", in_a_task(phase_pairs), None)):
        print("  %-29s %7.1f = %.2fx the clock pair%s" % (
            label, ns1, ns1 / clock1, "" if ns2 is None else
            "   (2 threads %7.1f = %.2fx)" % (ns2, ns2 / clock2)))
    print("  target: `with phase()` <= 3x the clock pair; path: %s" % (
        "compiled (phasewatt/_speedups)" if phasewatt._tags.FAST else
        "pure Python (pip install ./bindings/python builds the compiled one)"))


if __name__ == "__main__":
    main()
