"""check_perfetto.py FILE — checks a `phasewatt export --format perfetto` file (Perfetto's
protobuf trace, decoded by protowire.py from the wire-format specification and the field
numbers of Perfetto's public protos) or a `--format perfetto-json` file (strict JSON), on its
own terms and independently of phasewatt's C code: slices that nest on each track, every
track described, counters held as steps. It prints what test_export.c compares with the
attribution:
  slices NAME COUNT / energy DOMAIN JOULES / thread NAME / tokens TOTAL
and for the protobuf trace also
  clock CLOCK_ID / first_ts NS / realtime_offset_ns NS / packets N
Exits 1 with a reason when the file is not valid."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protowire as pw  # noqa: E402

# Field numbers from protos/perfetto/trace/trace.proto, trace_packet.proto,
# clock_snapshot.proto and track_event/{track_event,track_descriptor,
# thread_descriptor,debug_annotation}.proto.
TRACE_PACKET = 1
PKT_CLOCK_SNAPSHOT, PKT_TIMESTAMP, PKT_SEQUENCE, PKT_TRACK_EVENT = 6, 8, 10, 11
PKT_CLOCK_ID, PKT_TRACK_DESCRIPTOR = 58, 60
SNAP_CLOCKS, SNAP_PRIMARY, CLOCK_ID, CLOCK_TS = 1, 2, 1, 2
EV_ANNOTATION, EV_TYPE, EV_TRACK, EV_NAME, EV_COUNTER, EV_DOUBLE = 4, 9, 11, 23, 30, 44
SLICE_BEGIN, SLICE_END, INSTANT, COUNTER = 1, 2, 3, 4
ANN_INT, ANN_STRING, ANN_NAME = 4, 6, 10
TD_UUID, TD_NAME, TD_THREAD, TD_PARENT, TD_COUNTER = 1, 2, 4, 5, 8
TH_PID, TH_TID, TH_NAME = 1, 2, 5
REALTIME = 1


def fail(msg):
    print("invalid: " + msg)
    sys.exit(1)


def one(msg, field, default=None):
    values = msg.get(field)
    if not values:
        return default
    if len(values) > 1:
        fail("field %d repeated where the proto has an optional" % field)
    return values[0]


def step_integral(points):
    """A counter held from each value to the next: sum of value x duration (ns -> s)."""
    return sum(v * (t1 - t0) * 1e-9 for (t0, v), (t1, _) in zip(points, points[1:]))


def check_protobuf(data):
    tracks = {}                            # uuid -> descriptor fields
    counters = collections.defaultdict(list)
    stacks = collections.defaultdict(list)
    last_ts = {}
    slices = collections.Counter()
    annotations = {}
    clocks, primary, first_ts, npackets = {}, None, None, 0
    for number, wire, raw in pw.fields(data):
        if number != TRACE_PACKET or wire != pw.LEN:
            fail("a Trace holds only field 1 (packet), found field %d" % number)
        npackets += 1
        packet = pw.message(raw)
        seq = one(packet, PKT_SEQUENCE)
        if seq is None:
            fail("packet %d has no trusted_packet_sequence_id" % npackets)
        if PKT_CLOCK_SNAPSHOT in packet:
            snap = pw.message(one(packet, PKT_CLOCK_SNAPSHOT))
            for c in snap.get(SNAP_CLOCKS, []):
                clock = pw.message(c)
                clocks[one(clock, CLOCK_ID)] = one(clock, CLOCK_TS)
            primary = one(snap, SNAP_PRIMARY)
        if PKT_TRACK_DESCRIPTOR in packet:
            d = pw.message(one(packet, PKT_TRACK_DESCRIPTOR))
            uuid = one(d, TD_UUID)
            if uuid in tracks:
                fail("track %d described twice" % uuid)
            parent = one(d, TD_PARENT)
            if parent is not None and parent not in tracks:
                fail("track %d names parent %d before it is described" % (uuid, parent))
            thread = pw.message(one(d, TD_THREAD)) if TD_THREAD in d else None
            name = one(thread, TH_NAME) if thread else one(d, TD_NAME)
            tracks[uuid] = {"name": pw.as_string(name) if name is not None else None,
                            "parent": parent, "counter": TD_COUNTER in d,
                            "thread": thread is not None}
            if thread:
                print("thread " + tracks[uuid]["name"])
        if PKT_TRACK_EVENT not in packet:
            continue
        ts, clock = one(packet, PKT_TIMESTAMP), one(packet, PKT_CLOCK_ID)
        if ts is None:
            fail("track event without a timestamp")
        if clock != primary:
            fail("event on clock %s, the trace's clock is %s" % (clock, primary))
        if ts < last_ts.get(seq, 0):
            fail("sequence %d goes back in time at %d" % (seq, ts))
        last_ts[seq] = ts
        first_ts = ts if first_ts is None else min(first_ts, ts)
        ev = pw.message(one(packet, PKT_TRACK_EVENT))
        kind, uuid = one(ev, EV_TYPE), one(ev, EV_TRACK)
        if uuid not in tracks:
            fail("event on track %s that no descriptor describes" % uuid)
        name = pw.as_string(one(ev, EV_NAME)) if EV_NAME in ev else None
        if kind == SLICE_BEGIN:
            stacks[uuid].append((ts, name))
        elif kind == SLICE_END:
            if not stacks[uuid]:
                fail("slice end with no open slice on track %d" % uuid)
            start, begun = stacks[uuid].pop()
            slices[begun] += 1
        elif kind == COUNTER:
            if not tracks[uuid]["counter"]:
                fail("counter value on track %d, which is not a counter track" % uuid)
            if EV_DOUBLE in ev:
                counters[uuid].append((ts, pw.as_double(one(ev, EV_DOUBLE))))
            else:
                counters[uuid].append((ts, pw.as_int64(one(ev, EV_COUNTER))))
        elif kind == INSTANT and name == "phasewatt run":
            for a in ev.get(EV_ANNOTATION, []):
                ann = pw.message(a)
                key = pw.as_string(one(ann, ANN_NAME))
                value = one(ann, ANN_INT)
                annotations[key] = (pw.as_int64(value) if value is not None
                                    else pw.as_string(one(ann, ANN_STRING)))
        elif kind != INSTANT:
            fail("unknown event type %s" % kind)
    for uuid, stack in stacks.items():
        if stack:
            fail("%d slices left open on track %d" % (len(stack), uuid))
    if primary != REALTIME or REALTIME not in clocks:
        fail("the trace's clock is %s, not CLOCK_REALTIME with a snapshot" % primary)
    for name, n in sorted(slices.items()):
        print("slices %s %d" % (name, n))
    power = [u for u, t in tracks.items() if t["name"] == "power (W)" and t["parent"] is None]
    tokens = 0
    for uuid, points in sorted(counters.items()):
        track = tracks[uuid]
        if power and track["parent"] == power[0]:
            if points[-1][1] != 0:
                fail("power counter %s does not end at 0 W" % track["name"])
            print("energy %s %.9f" % (track["name"], step_integral(points)))
        elif track["name"] == "tokens":
            tokens += points[-1][1]
    print("tokens %d" % tokens)
    print("clock %d" % primary)
    print("first_ts %d" % first_ts)
    print("realtime_offset_ns %d" % annotations.get("realtime_offset_ns", 0))
    print("packets %d" % npackets)


def reject_constant(name):
    fail("non-standard JSON constant " + name)


def check_json(text):
    doc = json.loads(text, parse_constant=reject_constant)
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
    # power counters: a step held from each value to the next; integrate per domain
    power_pid = [e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"
                 and e["args"]["name"] == "power (W)"][0]
    steps = collections.defaultdict(list)
    for e in events:
        if e["ph"] == "C" and e["pid"] == power_pid:
            steps[e["name"]].append((e["ts"] * 1e3, e["args"]["W"]))
    for domain, points in sorted(steps.items()):
        points.sort()
        print("energy %s %.9f" % (domain, step_integral(points)))
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            print("thread " + e["args"]["name"])
    last = {}
    for e in events:
        if e["ph"] == "C" and e["name"] == "tokens":
            last[(e["pid"], e["tid"])] = e["args"]["tokens"]
    print("tokens %d" % sum(last.values()))


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    if data[:1] == b"{":
        check_json(data.decode("utf-8"))
        return
    try:
        check_protobuf(data)
    except (pw.WireError, UnicodeDecodeError) as e:
        fail(str(e))


main()
