"""serve.py — benchmark of `phasewatt serve`: scrape rate and resident memory over 10 000
scrapes with clients resetting mid-response; scrapes answered within 1 s while 64 slow
clients trickle header bytes; peak RSS, scrape latency (p50/p99) and losses while two
threads tag flat out, and how long SIGTERM takes then; the same under a hostile writer that
nests 15 000 deep or stamps BEGINs 2^62 ns; and, when Prometheus is installed,
per-phase energy as Prometheus stores it next to `phasewatt report` on the same run.

Usage: python3 bench/serve.py [BUILD_DIR] [--attack S] [--tag S] [--hostile S] [--quick]
  (default: build, after `make tests`; --attack 40 s, --tag 60 s, --hostile 20 s per shape;
  --quick: 10 s each, no 10 000 scrapes, no Prometheus)
Prints one "name value" line per figure."""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = argparse.ArgumentParser()
ARGS.add_argument("build", nargs="?", default="build")
ARGS.add_argument("--attack", type=float, default=40.0, help="seconds of slow-client attack")
ARGS.add_argument("--tag", type=float, default=60.0, help="seconds of flat-out tagging")
ARGS.add_argument("--hostile", type=float, default=20.0, help="seconds of each hostile writer")
ARGS.add_argument("--quick", action="store_true")
OPTS = ARGS.parse_args()
if OPTS.quick:
    OPTS.attack, OPTS.tag, OPTS.hostile = (min(OPTS.attack, 10.0), min(OPTS.tag, 10.0),
                                           min(OPTS.hostile, 10.0))
CLI = os.path.join(ROOT, OPTS.build, "bin", "phasewatt")
TAGGER = os.path.join(ROOT, OPTS.build, "progs", "tagger")
PORT = 20000 + os.getpid() % 20000


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key))


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def hwm_kb(pid):
    return status_kb(pid, "VmHWM")   # the peak resident set since the start


def scrape(port, source=None, timeout=None):
    """The whole /metrics response (bytes); raises OSError (socket.timeout included)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        parts = []
        while True:
            b = s.recv(65536)
            if not b:
                return b"".join(parts)
            parts.append(b)


def timed_scrape(port, source=None):
    """Seconds the scrape took, or None when it was not answered within 1 s."""
    t0 = time.perf_counter()
    try:
        ok = scrape(port, source, timeout=1.0).startswith(b"HTTP/1.1 200")
    except OSError:
        return None
    took = time.perf_counter() - t0
    return took if ok and took <= 1.0 else None


def can_bind(address):
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def slow_client(port, stop, cuts):
    """Sends one header byte every 5 s; reconnects as soon as the agent cuts it."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=6) as s:
                while not stop.wait(0 if s.send(b"G") else 5):
                    pass
        except OSError:
            cuts[0] += 1
            stop.wait(0.05)


def attack(proc):
    stop, cuts = threading.Event(), [0]
    clients = [threading.Thread(target=slow_client, args=(PORT, stop, cuts), daemon=True)
               for _ in range(64)]
    for c in clients:
        c.start()
    time.sleep(1)   # every slow client connected
    sources = [None] + (["127.0.0.2"] if can_bind("127.0.0.2") else [])
    got = {src: [] for src in sources}
    end = time.time() + OPTS.attack
    while time.time() < end:
        for src in sources:
            got[src].append(timed_scrape(PORT, src))
        time.sleep(0.25)
    stop.set()
    for src in sources:
        answered = sum(t is not None for t in got[src])
        name = "same_address" if src is None else "other_address"
        print(f"attack_scrapes_within_1s {name} {answered}/{len(got[src])} "
              f"({100 * answered / max(1, len(got[src])):.1f}%) during {OPTS.attack:.0f} s of 64 "
              f"slow clients")
    print(f"attack_slow_connections_cut {cuts[0]}")
    for c in clients:
        c.join(timeout=7)


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def lost_by_reason(page):
    lost = {}
    for line in page.decode("utf-8", "replace").splitlines():
        if line.startswith("phasewatt_lost_events_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            lost[reason] = int(float(line.rsplit(" ", 1)[1]))
    return lost


def end_under_load(proc):
    """The agent's peak RSS and losses, then how long SIGTERM takes to end it."""
    hwm = hwm_kb(proc.pid)
    try:
        lost = lost_by_reason(scrape(PORT, timeout=5))
    except OSError:
        lost = {}
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
        return hwm, lost, f"{time.perf_counter() - t0:.3f}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return hwm, lost, "over 30"


def flat_out(proc, channel):
    """Two tagging threads (two flood processes) as fast as they can, then SIGTERM under load."""
    env = dict(os.environ, PHASEWATT_CHANNEL=channel)
    taggers = [subprocess.Popen([TAGGER, "flood", "2000000000"], env=env) for _ in range(2)]
    times, misses, peak = [], 0, 0
    end = time.time() + OPTS.tag
    while time.time() < end:
        took = timed_scrape(PORT)
        if took is None:
            misses += 1
        else:
            times.append(took)
        peak = max(peak, rss_kb(proc.pid))
        time.sleep(0.25)
    hwm, lost, sigterm = end_under_load(proc)
    for t in taggers:
        t.kill()
        t.wait()
    n = len(times) + misses
    print(f"tag_scrapes_within_1s {len(times)}/{n} ({100 * len(times) / max(1, n):.1f}%) during "
          f"{OPTS.tag:.0f} s of two threads tagging flat out")
    print(f"tag_scrape_latency_ms p50 {1e3 * percentile(times, 0.5):.2f} p99 "
          f"{1e3 * percentile(times, 0.99):.2f} max {1e3 * max(times, default=float('nan')):.2f}")
    print(f"tag_rss_kb peak_sampled {peak} VmHWM {hwm}")
    print("tag_lost_events " + " ".join(f"{k} {v}" for k, v in sorted(lost.items())))
    print(f"sigterm_exit_s {sigterm} (while tagging flat out)")


def rude(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset
    s.close()


def start_serve(tmp, trace, window="0.5"):
    channel = os.path.join(tmp, "channel")
    proc = subprocess.Popen([CLI, "serve", "--listen", f"127.0.0.1:{PORT}", "--source", "synthetic",
                             "--synthetic", "prefill=200W,decode=80W,attention=120W",
                             "--interval", "5", "--window", window, "--channel-file", channel,
                             "--host", "bench", "-o", trace, "-q"])
    for _ in range(200):
        try:
            scrape(PORT)
            if os.path.exists(channel):
                return proc, open(channel).read().strip()
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench-serve: phasewatt serve did not start")


def workload(channel):
    code = ("import time, phasewatt\n"
            "with phasewatt.phase('prefill'): time.sleep(0.3)\n"
            "for i in range(6):\n"
            "    with phasewatt.phase('decode'):\n"
            "        phasewatt.count('tokens', 1)\n"
            "        with phasewatt.phase('attention'): time.sleep(0.05)\n"
            "        time.sleep(0.03)\n")
    env = dict(os.environ, PHASEWATT_CHANNEL=channel,
               PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def scrapes(proc):
    for _ in range(500):   # warm up
        scrape(PORT)
    before, t0 = rss_kb(proc.pid), time.perf_counter()
    for i in range(10000):
        if i % 50 == 0:
            rude(PORT)
        scrape(PORT)
    seconds = time.perf_counter() - t0
    after = rss_kb(proc.pid)
    print(f"scrapes 10000 (+200 resets) in {seconds:.2f} s: {10000 / seconds:.0f} per s")
    print(f"rss_kb before {before} after {after} growth {after - before}")


def prometheus_vs_report(tmp, proc, channel, trace):
    if subprocess.run(["sh", "-c", "command -v prometheus"], capture_output=True).returncode:
        print("prometheus not installed: comparison skipped")
        return
    prom_port = PORT + 1
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n  - job_name: phasewatt\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{PORT}']}}]\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(q):
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={urllib.parse.quote(q)}"
        return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]

    try:
        for _ in range(300):
            try:
                if any(r["value"][1] == "1" for r in query('up{job="phasewatt"}')):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        workload(channel)
        time.sleep(3.5)   # the agent's window closes, then two scrapes
        got = {r["metric"]["phase"]: float(r["value"][1]) for r in
               query('sum by (phase) (phasewatt_phase_energy_joules_total{parent=""})')}
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait()
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    csv = subprocess.run([CLI, "report", trace, "--format", "csv"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    header = csv[0].split(",")
    for line in csv[2:]:   # after the header and the root
        cells = line.split(",")
        path, joules = cells[0], float(cells[header.index("energy_j_total")])
        if path in got:
            print(f"phase {path} prometheus_j {got[path]:.4f} report_j {joules:.4f} "
                  f"diff {100 * (got[path] - joules) / joules:+.3f}%")


# A hostile writer: it claims a ring of the agent's channel through the library's own
# internals and writes events the API would never produce (15 000-deep nesting, BEGINs
# stamped 2^62 ns), as the red team's reproducers did. Compiled against this tree's headers.
HOSTILE_C = r"""
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/channel.h"
#include "base/clock.h"
#include "core/core.h"

static void put(pw_ring *r, uint64_t t, uint32_t id, uint32_t type)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    while (h - atomic_load_explicit(&r->tail, memory_order_acquire) > r->mask) {
        struct timespec ts = {0, 200000};   /* the agent drains every tick */
        nanosleep(&ts, NULL);
    }
    r->slots[h & r->mask] = (pw_event){.t_ns = t, .id = id, .type = type};
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

int main(int argc, char **argv)
{
    double seconds = atof(argv[2]);
    pw_ring *r = pw_channel_claim_ring();
    if (!r) return 2;
    pw_channel_publish_name(1, "deep");
    pw_channel_publish_name(2, "forged");
    uint64_t end = pw_now_ns() + (uint64_t)(seconds * 1e9);
    while (pw_now_ns() < end) {
        uint64_t t = pw_now_ns();
        if (!strcmp(argv[1], "deep")) {
            for (int i = 0; i < 15000; i++) put(r, t + (uint64_t)i, 1, PW_EV_BEGIN);
            for (int i = 0; i < 15000; i++) put(r, t + 15000 + (uint64_t)i, 1, PW_EV_END);
        } else {
            for (int i = 0; i < 1000; i++) put(r, (1ull << 62) + (uint64_t)i, 2, PW_EV_BEGIN);
            for (int i = 0; i < 1000; i++) put(r, (1ull << 62) + (uint64_t)i, 2, PW_EV_END);
        }
    }
    return 0;
}
"""


def build_hostile(tmp):
    src, exe = os.path.join(tmp, "hostile.c"), os.path.join(tmp, "hostile")
    with open(src, "w") as f:
        f.write(HOSTILE_C)
    lib = os.path.join(ROOT, OPTS.build, "lib", "libphasewatt.a")
    r = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-I", os.path.join(ROOT, "include"),
                        "-I", os.path.join(ROOT, "src"), src, lib, "-lm", "-ldl", "-pthread", "-o", exe],
                       capture_output=True, text=True)
    if r.returncode:
        print(f"hostile writer did not build (the channel's internals changed?): {r.stderr[:300]}")
        return None
    return exe


def hostile(tmp, exe, shape):
    proc, channel = start_serve(tmp, "/dev/null", window="5")
    try:
        writer = subprocess.Popen([exe, shape, str(OPTS.hostile)],
                                  env=dict(os.environ, PHASEWATT_CHANNEL=channel))
        times, n = [], 0
        while writer.poll() is None:
            took = timed_scrape(PORT)
            n += 1
            if took is not None:
                times.append(took)
            time.sleep(0.25)
        hwm, lost, sigterm = end_under_load(proc)
        print(f"hostile_{shape} scrapes_within_1s {len(times)}/{n} p99_ms "
              f"{1e3 * percentile(times, 0.99):.2f} VmHWM_kb {hwm} sigterm_exit_s "
              f"{sigterm} lost " +
              " ".join(f"{k} {v}" for k, v in sorted(lost.items()) if v))
    finally:
        stop(proc)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        proc, channel = start_serve(tmp, "/dev/null", window="5")
        try:   # the hostile loads first, each on an agent of its own (default 5-s window)
            attack(proc)
        finally:
            stop(proc)
        proc, channel = start_serve(tmp, "/dev/null", window="5")
        try:
            flat_out(proc, channel)
        finally:
            stop(proc)
        exe = build_hostile(tmp)
        for shape in ("deep", "future") if exe else ():
            hostile(tmp, exe, shape)
        if OPTS.quick:
            return
        trace = os.path.join(tmp, "served.pwt")
        proc, channel = start_serve(tmp, trace)
        try:
            workload(channel)
            scrapes(proc)
            prometheus_vs_report(tmp, proc, channel, trace)
        finally:
            stop(proc)


main()
