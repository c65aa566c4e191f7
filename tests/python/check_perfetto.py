"""check_perfetto.py FILE — checks a `phasewatt export --format perfetto` file on its own
terms, independently of phasewatt's C code: strict JSON, slices that nest on each thread,
and it prints what test_export.c compares with the attribution:
  slices NAME COUNT / energy DOMAIN JOULES / thread NAME / tokens TOTAL
Exits 1 with a reason when the file is not valid or a slice overlaps another badly."""
import collections
import json
import sys


def fail(msg):
    print("invalid: " + msg)
    sys.exit(1)


def reject_constant(name):
    fail("non-standard JSON constant " + name)


with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f, parse_constant=reject_constant)
events = doc["traceEvents"]

# slices nest per (pid, tid): sorted by start, then longest first, each lies inside the
# innermost still-open slice or starts after it ends
by_thread = collections.defaultdict(list)
for e in events:
    if e["ph"] == "X":
        if e["dur"] < 0:
            fail("negative duration")
        by_thread[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
slices = collections.Counter()
for thread, spans in by_thread.items():
    stack = []
    for start, end, name in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        while stack and start >= stack[-1][1] - 1e-3:
            stack.pop()
        if stack and end > stack[-1][1] + 1e-3:
            fail("slice %s [%g, %g] crosses its parent's end %g on %s" %
                 (name, start, end, stack[-1][1], thread))
        stack.append((start, end))
        slices[name] += 1
for name, n in sorted(slices.items()):
    print("slices %s %d" % (name, n))

# power counters: a step held from each value to the next; integrate per domain (µs -> s)
power_pid = [e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"
             and e["args"]["name"] == "power (W)"][0]
steps = collections.defaultdict(list)
for e in events:
    if e["ph"] == "C" and e["pid"] == power_pid:
        steps[e["name"]].append((e["ts"], e["args"]["W"]))
for domain, points in sorted(steps.items()):
    points.sort()
    joules = sum(w * (t1 - t0) * 1e-6 for (t0, w), (t1, _) in zip(points, points[1:]))
    print("energy %s %.9f" % (domain, joules))

for e in events:
    if e["ph"] == "M" and e["name"] == "thread_name":
        print("thread " + e["args"]["name"])
last = {}
for e in events:
    if e["ph"] == "C" and e["name"] == "tokens":
        last[(e["pid"], e["tid"])] = e["args"]["tokens"]
print("tokens %d" % sum(last.values()))
