"""serve-flood.py — benchmark of `phasewatt serve` against many short-lived tagging processes
and against a hostile writer (issues 16 and 21). Part one: 10 000 processes (`tagger procs`:
forked children that exit(), exec'd taggers that publish their 21 names anew, children
SIGKILLed with a phase open; eight alive at once) tag 21 phases each into one agent; prints
process starts per second, the calls the agent counted against those made, losses by reason,
the agent's memory before and after, and scrape latency during the flood. Part two: a writer
forging pids, names and ring owners (tests/progs/forger.c); prints the agent's peak memory,
scrape latency while it writes, losses, and what the channel refused or took back.

Usage: python3 bench/serve-flood.py [BUILD_DIR] [--procs N] [--names N]
  (default: build, after `make tests`; 10 000 processes; 300 000 forged names)
Prints one "name value" line per figure."""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = argparse.ArgumentParser()
ARGS.add_argument("build", nargs="?", default="build")
ARGS.add_argument("--procs", type=int, default=10000, help="short-lived processes")
ARGS.add_argument("--names", type=int, default=300000, help="garbage names the forger publishes")
OPTS = ARGS.parse_args()
CLI = os.path.join(ROOT, OPTS.build, "bin", "phasewatt")
PROGS = os.path.join(ROOT, OPTS.build, "progs")
PORT = 30000 + os.getpid() % 20000
PHASES = [f"w{k}" for k in range(20)] + ["held"]
WARM = 60


def status_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f if l.split(":")[0] in
                ("VmRSS", "VmHWM", "RssAnon", "RssShmem")}


def scrape(timeout=5.0):
    """The /metrics page (text); raises OSError (socket.timeout included)."""
    with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        parts = []
        while True:
            b = s.recv(65536)
            if not b:
                return b"".join(parts).decode("utf-8", "replace")
            parts.append(b)


def timed_scrape():
    """Seconds a scrape took, or None when it was not answered within 1 s."""
    t0 = time.perf_counter()
    try:
        ok = scrape(timeout=1.0).startswith("HTTP/1.1 200")
    except OSError:
        return None
    took = time.perf_counter() - t0
    return took if ok and took <= 1.0 else None


def series(page, prefix):
    """{label value: number} for the lines of a metric, keyed by the label named in prefix."""
    out = {}
    for line in page.splitlines():
        if line.startswith(prefix):
            out[line[len(prefix):].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return out


def calls(page):
    return series(page, 'phasewatt_phase_calls_total{host="bench",phase="')


def lost(page):
    return {k: int(v) for k, v in series(page, 'phasewatt_lost_events_total{host="bench",reason="').items()}


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def start_serve(tmp, trace="/dev/null"):
    channel = os.path.join(tmp, "channel")
    if os.path.exists(channel):
        os.unlink(channel)
    proc = subprocess.Popen([CLI, "serve", "--listen", f"127.0.0.1:{PORT}", "--source", "synthetic",
                             "--synthetic", "held=20W,w0=10W,background=5W", "--interval", "5",
                             "--channel-file", channel, "--host", "bench", "-o", trace, "-q"],
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            scrape()
            if os.path.exists(channel):
                return proc, dict(os.environ, PHASEWATT_CHANNEL=open(channel).read().strip())
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit("serve-flood: phasewatt serve did not start")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def scrape_while(child):
    """Scrapes every 0.1 s until child ends: (latencies answered within 1 s, misses)."""
    times, misses = [], 0
    while child.poll() is None:
        took = timed_scrape()
        if took is None:
            misses += 1
        else:
            times.append(took)
        time.sleep(0.1)
    return times, misses


def settled(want):
    """The page once `held` shows want calls, or has not changed for longer than a window
    (5 s: the figures move once a window), up to 120 s."""
    before, same = None, 0
    for _ in range(100):
        page = scrape()
        held = calls(page).get("held")
        same = same + 1 if held is not None and held == before else 0
        if held == want or same >= 6:
            return page
        before = held
        time.sleep(1.2)
    return page


def print_latency(name, times, misses):
    n = len(times) + misses
    print(f"{name}_scrapes_within_1s {len(times)}/{n} p50_ms {1e3 * percentile(times, 0.5):.2f} "
          f"p99_ms {1e3 * percentile(times, 0.99):.2f} max_ms {1e3 * max(times, default=float('nan')):.2f}")


def flood(tmp):
    proc, env = start_serve(tmp)
    try:
        subprocess.run([os.path.join(PROGS, "tagger"), "procs", str(WARM), "8"], env=env, check=True)
        settled(WARM)
        before = status_kb(proc.pid)
        t0 = time.perf_counter()
        child = subprocess.Popen([os.path.join(PROGS, "tagger"), "procs", str(OPTS.procs), "8"], env=env)
        times, misses = scrape_while(child)
        seconds = time.perf_counter() - t0
        if child.returncode:
            sys.exit(f"serve-flood: tagger procs exited {child.returncode}")
        page = settled(WARM + OPTS.procs)
        after = status_kb(proc.pid)
        got = calls(page)
        counted = [got.get(p, 0) - WARM for p in PHASES]
        print(f"flood_processes {OPTS.procs} in {seconds:.2f} s: {OPTS.procs / seconds:.0f} starts per s "
              f"(a third exec'd, a third SIGKILLed mid-phase, 8 at once)")
        print(f"flood_calls_counted min {min(counted):.0f} max {max(counted):.0f} of {OPTS.procs} per "
              f"phase ({len(PHASES)} phases)")
        print("flood_lost_events " + " ".join(f"{k} {v}" for k, v in sorted(lost(page).items())))
        print_latency("flood", times, misses)
        for key in ("VmRSS", "RssAnon", "RssShmem"):
            print(f"flood_{key}_kb before {before[key]} after {after[key]} growth {after[key] - before[key]}")
        print(f"flood_VmHWM_kb {after['VmHWM']}")
    finally:
        stop(proc)


def forged(tmp):
    trace = os.path.join(tmp, "forged.pwt")
    proc, env = start_serve(tmp, trace)
    try:
        t0 = time.perf_counter()
        child = subprocess.Popen([os.path.join(PROGS, "forger"), "3000", str(OPTS.names)], env=env)
        times, misses = scrape_while(child)
        seconds = time.perf_counter() - t0
        time.sleep(6)   # the agent takes what the forger left (a window is 5 s)
        page = scrape()
        peak = status_kb(proc.pid)["VmHWM"]
        print(f"forger_names {OPTS.names} under 3000 pids in {seconds:.2f} s (exit {child.returncode}: "
              f"0 once the rings it forged under a live pid were refused)")
        print_latency("forger", times, misses)
        print(f"forger_VmHWM_kb {peak} (budget 262144)")
        print("forger_lost_events " + " ".join(f"{k} {v}" for k, v in sorted(lost(page).items()) if v))
    finally:
        stop(proc)
    report = subprocess.run([CLI, "report", trace], capture_output=True, text=True)
    for line in (report.stdout + report.stderr).splitlines():
        if "channel." in line:
            print("forger_" + " ".join(line.split()))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        flood(tmp)
        forged(tmp)


main()
