"""serve.py — benchmark of `phasewatt serve`: scrape rate and resident memory over 10 000
scrapes with clients resetting mid-response, and, when Prometheus is installed, per-phase
energy as Prometheus stores it next to `phasewatt report` on the same run.

Usage: python3 bench/serve.py [BUILD_DIR]   (default: build, after `make`)
Prints one "name value" line per figure."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build", "bin", "phasewatt")
PORT = 20000 + os.getpid() % 20000


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))


def scrape(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


def rude(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset
    s.close()


def start_serve(tmp, trace):
    channel = os.path.join(tmp, "channel")
    proc = subprocess.Popen([CLI, "serve", "--listen", f"127.0.0.1:{PORT}", "--source", "synthetic",
                             "--synthetic", "prefill=200W,decode=80W,attention=120W",
                             "--interval", "5", "--window", "0.5", "--channel-file", channel,
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "served.pwt")
        proc, channel = start_serve(tmp, trace)
        try:
            workload(channel)
            scrapes(proc)
            prometheus_vs_report(tmp, proc, channel, trace)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait()


main()
