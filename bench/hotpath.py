"""hotpath.py — the Python part of bench-hotpath: ns per `with phasewatt.phase()` pair, next
to a pair of time.monotonic_ns() calls (clock_gettime under the interpreter), with 1 and 2
threads. Run under `phasewatt record`; prints "row LABEL CLOCK1 PAIR1 CLOCK2 PAIR2"."""
import threading
import time

import phasewatt

BATCH, BATCHES = 2000, 50


def clock_pairs():
    for _ in range(BATCH):
        time.monotonic_ns()
        time.monotonic_ns()


def phase_pairs(tag=phasewatt.phase("bench")):
    for _ in range(BATCH):
        with tag:
            pass


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


row = [measure(clock_pairs, 1), measure(phase_pairs, 1),
       measure(clock_pairs, 2), measure(phase_pairs, 2)]
print("row (d)_Python_`with_phase()` " + " ".join("%.2f" % v for v in row), flush=True)
