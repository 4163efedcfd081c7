"""Sealing on a 3-node cluster with the fake clock: metrics, logs and traces
written into one day, every answer recorded on every node; the clock moves
past the window's end plus the late-write grace, the meta leader marks the
window's shards sealing, has the signal's cut entry and the seal entry
go through each shard's log, compares the replicas' checksums and records
each shard sealed with the one they agree on. Afterwards every node gives
the same answers as before, writes into the window are refused, verify
proves the replicas equal, and a node killed with SIGKILL right after the
clock moved does not keep a window from being sealed."""

import json
import os
import shutil
import urllib.parse

import loki
import prw
from triad import start_cluster, wait_until

DAY = 86_400_000
START = "2030-02-01T23:00:00Z"
START_MS = 1896217200000  # 2030-02-01T23:00:00Z
W0 = START_MS - 23 * 3_600_000  # the day's window
NODES = []


def setup_module():
    NODES.extend(start_cluster(3, "s", ["--debug.fake-clock", START,
                                        "--late-write-grace", "1h",
                                        "--late-write-grace.logs", "1h"]))


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=15)
    assert r.status == 200, r.text[:300]
    return r.json()["data"]


def clock_of(t):
    r = t.get_json("/api/v1/query", {"query": "time()"})
    return int(round(float(r["data"]["result"][1]) * 1000))


def advance(what):
    r = NODES[0].request("POST", "/debug/clock?advance=" + what, body=b"", timeout=15)
    assert r.status == 200, (r.status, r.text)
    now = int(r.text.strip())
    for n in NODES:
        if n.running():
            wait_until(lambda n=n: clock_of(n) == now, 10, 0.05, "clock on %d" % n.port)
    return now


def write(t, i):
    ts = START_MS - 3_600_000 + i * 1000
    t.write_v1([([("__name__", "seal_m"), ("i", str(i % 7))], [(ts, float(i))])])
    loki.push_json(t, [({"app": "seal", "i": str(i % 3)}, [(ts * 1_000_000, "line %d" % i)])])
    span = {"traceId": "%032x" % (0x5ea1000 + i), "spanId": "%016x" % (i + 1),
            "name": "op-%d" % (i % 5), "kind": 2,
            "startTimeUnixNano": str(ts * 1_000_000),
            "endTimeUnixNano": str(ts * 1_000_000 + 2_000_000)}
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "seal"}}]},
        "scopeSpans": [{"spans": [span]}]}]}
    r = t.request("POST", "/otlp/v1/traces", json.dumps(body).encode(),
                  {"Content-Type": "application/json"})
    assert r.status == 200 and "rejected" not in r.text, (r.status, r.text)


def write_long(t):
    """Series long enough for several chunks (cut at 120 samples), and
    samples out of order between them: sealing merges them into one chunk
    per series (storage/seal_compact.c)."""
    base = START_MS - 3_600_000
    for part in range(3):
        t.write_v1([([("__name__", "seal_long"), ("k", str(k))],
                     [(base + i * 5000, float(i * (k + 1)) + 0.25)
                      for i in range(part * 200, part * 200 + 200)]) for k in range(4)])
    t.write_v1([([("__name__", "seal_long"), ("k", str(k))],
                 [(base + i * 5000 + 2500, -float(i)) for i in range(0, 600, 6)])
                for k in range(4)])


def answers(t, now):
    """What node t answers about the day, for all three signals."""
    q = t.get_json("/api/v1/query_range", {
        "query": "sum by (i) (seal_m)", "start": "%.3f" % ((START_MS - 3_600_000) / 1000),
        "end": "%.3f" % (START_MS / 1000), "step": "60"})
    metrics = sorted(json.dumps(s, sort_keys=True) for s in q["data"]["result"])
    r = loki.query_range(t, '{app="seal"}', (START_MS - 3_600_000) * 1_000_000,
                         now * 1_000_000, limit=5000)
    logs = sorted((ts, line) for ts, line, _ in loki.entries(r))
    s = t.request("GET", "/api/search?" + urllib.parse.urlencode(
        {"q": '{ resource.service.name = "seal" }', "limit": "1000",
         "start": str((START_MS - 3_600_000) // 1000), "end": str(now // 1000 + 1)}))
    assert s.status == 200, s.text[:300]
    traces = sorted(tr["traceID"] for tr in s.json()["traces"])
    one = t.request("GET", "/api/traces/%032x" % (0x5ea1000 + 3))
    assert one.status == 200, one.status
    raw = t.get_json("/api/v1/query", {"query": "seal_long[1h]",
                                       "time": "%.3f" % (START_MS / 1000)})
    raw = sorted(json.dumps(s, sort_keys=True) for s in raw["data"]["result"])
    return metrics, logs, traces, len(one.body), raw


def test_seal_keeps_answers_and_refuses_writes():
    write_long(NODES[1])
    for i in range(60):
        write(NODES[i % 3], i)
    def agreed():
        got = [answers(t, START_MS) for t in NODES]
        return got if (got[0] == got[1] == got[2] and len(got[0][1]) == 60 and
                       len(got[0][4]) == 4) else None
    before = wait_until(agreed, 20, 0.25, "every node answering the same")
    assert len(before[0][1]) == 60 and len(before[0][2]) == 60, before[0][:3]
    assert all(len(json.loads(s)["values"]) == 700 for s in before[0][4]), before[0][4][:1]

    now = advance("150m")  # past 00:00 + 1 h grace for every signal
    # a node dies right after the clock moved; sealing waits for it
    NODES[2].kill9()

    def day_sealed():
        st = status(NODES[0])
        day = [s for s in st["shards"] if s["window"] == W0]
        return len(day) == 9 and all(s["state"] == "sealed" for s in day) and day
    NODES[2].start()
    day = wait_until(day_sealed, 90, 0.5, "the day's 9 shards sealed")
    for s in day:
        assert len(s["sealedChecksum"]) == 16 and s["sealedIndex"] > 0, s
    # the next day is still active
    nxt = [s for s in status(NODES[1])["shards"] if s["window"] == W0 + DAY]
    assert nxt and all(s["state"] == "active" for s in nxt), nxt

    # every replica closes the sealed shards' Raft groups and removes their
    # logs; no group runs for them any more, the replicas say "sealed"
    wait_until(lambda: sealed_dirs_left(day) == [], 30, 0.2,
               "the sealed groups' directories removed on every node")
    def replicas_sealed():
        st = status(NODES[1])
        reps = [r for s in st["shards"] if s["window"] == W0 for r in s["replicas"]]
        return len(reps) == 27 and all(r["state"] == "sealed" for r in reps)
    wait_until(replicas_sealed, 20, 0.2, "every replica of the day sealed")
    assert all(s["leader"] == "" for s in status(NODES[0])["shards"]
               if s["window"] == W0)
    closed = sum(float(ln.split()[1]) for t in NODES
                 for ln in t.request("GET", "/metrics").text.splitlines()
                 if ln.startswith('triad_sealed_shard_events_total{event="group_closed"}'))
    assert closed >= 27 - 3, closed  # the restarted node may have had none running

    after = [answers(t, now) for t in NODES]
    for a in after:
        for k, what in enumerate(("metrics", "logs", "traces", "trace by id",
                                  "raw samples")):
            assert a[k] == before[0][k], "sealing changed the %s answer" % what
    # writes into the sealed day are refused (too old), nothing changes
    r = NODES[1].write_raw(prw.write_body_v1([([("__name__", "seal_m"), ("i", "9")],
                                               [(START_MS - 60_000, 1.0)])]))
    assert r.status == 400 and "too old" in r.text, (r.status, r.text)
    r = loki.push_json(NODES[2], [({"app": "seal"}, [((START_MS - 60_000) * 1_000_000, "x")])],
                       expect=None)
    assert r.status == 400, (r.status, r.text)
    assert answers(NODES[0], now) == before[0]

    r = NODES[0].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200, r.text[:300]
    v = json.loads(r.text)
    assert v["consistent"], v
    sealed_groups = {(s["signal"], s["window"], s["slot"]) for s in day}
    checked = [s for s in v["shards"] if (s["signal"], s["window"], s["slot"]) in sealed_groups]
    assert len(checked) == 9, v
    sealed = sum(float(ln.split()[1]) for t in NODES
                 for ln in t.request("GET", "/metrics").text.splitlines()
                 if ln.startswith('triad_seal_total{result="sealed"}'))
    assert sealed >= 9, sealed
    # every node compacted its metrics replicas of the day (seal jobs)
    for t in NODES:
        m = t.request("GET", "/metrics").text
        done = [float(ln.split()[1]) for ln in m.splitlines()
                if ln.startswith('triad_compaction_jobs{state="done"}')]
        assert done and done[0] >= 1, m[:200]
        written = [float(ln.split()[1]) for ln in m.splitlines()
                   if ln.startswith("triad_compaction_written_bytes_total")]
        assert written and written[0] > 0


def sealed_dirs_left(day):
    left = []
    for n in NODES:
        groups = set(os.listdir(os.path.join(n.data_dir, "raft")))
        left += [(n.port, s["group"]) for s in day if s["group"] in groups]
    return left


def test_a_restarted_node_starts_no_sealed_group_and_answers():
    """A node stopped and started again starts no group for the sealed
    day (its replicas answer from the sealed data) and gives the same
    answers; a strong read of the sealed day is answered too."""
    now = clock_of(NODES[0])
    before = answers(NODES[1], now)
    NODES[0].stop()
    NODES[0].start()
    day = [s for s in status(NODES[0])["shards"] if s["window"] == W0]
    assert len(day) == 9
    assert sealed_dirs_left(day) == []
    wait_until(lambda: answers(NODES[0], now) == before, 20, 0.25,
               "the restarted node answering as before")
    with open(NODES[0].stderr_path, "rb") as f:
        log = f.read().decode("utf-8", errors="replace")
    last = log[log.rindex("=== start"):]
    for s in day:
        assert "group=%s " % s["group"] not in last.replace("\n", " \n"), s["group"]
    q = NODES[0].get_json("/api/v1/query", {"query": "sum(count_over_time(seal_m[2h]))",
                                            "time": "%.3f" % (START_MS / 1000),
                                            "consistency": "strong"})
    assert q["data"]["result"][0]["value"][1] == "60", q


def test_a_damaged_sealed_replica_is_found_by_verify_and_copied_again():
    """One key of one sealed replica (no group any more) is deleted; verify
    reports it different from the other two and has it copied from a
    healthy replica; the next verify proves all three equal again."""
    damaged = None
    for slot in range(3):
        r = NODES[1].request("POST", "/debug/corrupt?signal=metrics&window=%d&slot=%d"
                             % (W0, slot), body=b"")
        assert r.status in (200, 404), (r.status, r.text)
        if r.status == 200:
            damaged = slot
            break
    assert damaged is not None, "node 1 holds a metrics replica of the day"
    r = NODES[0].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200, r.text[:300]
    v = json.loads(r.text)
    assert not v["consistent"], v
    bad = [s for s in v["shards"] if s["window"] == W0 and s["signal"] == "metrics"
           and s["slot"] == damaged][0]
    assert bad["sealed"] and not bad["consistent"], bad
    errs = [rep["error"] for rep in bad["replicas"] if rep["error"]]
    assert errs and "copying it again" in errs[0], bad

    def repaired():
        r = NODES[2].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
        return r.status == 200 and json.loads(r.text)["consistent"]
    wait_until(repaired, 30, 0.5, "the damaged sealed replica copied again")
    copied = sum(float(ln.split()[1]) for ln in
                 NODES[1].request("GET", "/metrics").text.splitlines()
                 if ln.startswith('triad_sealed_shard_events_total{event="copied"}'))
    assert copied >= 1, copied
    q = NODES[1].get_json("/api/v1/query", {"query": "sum(count_over_time(seal_m[2h]))",
                                            "time": "%.3f" % (START_MS / 1000)})
    assert q["data"]["result"][0]["value"][1] == "60", q


def test_a_damaged_replica_is_found_at_sealing_and_copied_again():
    """One key of one replica of the next day's metrics shards is deleted
    (POST /debug/corrupt, as a damaged disk would); sealing finds its
    checksum different from the other two, has it copied again, and seals
    the shard once all three agree."""
    day2 = W0 + DAY
    now = clock_of(NODES[0])
    NODES[0].write_v1([([("__name__", "dmg"), ("i", str(i))], [(now - 60_000, float(i))])
                       for i in range(30)])

    def wanted():
        q = NODES[0].get_json("/api/v1/query", {"query": "count(dmg)",
                                                "time": "%.3f" % (now / 1000)})
        return q["data"]["result"] and q["data"]["result"][0]["value"][1] == "30"
    wait_until(wanted, 20, 0.2, "the day's series everywhere")

    def damage():
        # node 1 (a follower of some shards) may not have applied them yet:
        # 404 until it has data to damage
        n = 0
        for slot in range(3):
            r = NODES[1].request("POST", "/debug/corrupt?signal=metrics&window=%d&slot=%d"
                                 % (day2, slot), body=b"")
            assert r.status in (200, 404), (r.status, r.text)
            n += r.status == 200
        return n or None
    damaged = wait_until(damage, 20, 0.2, "a replica of node 1 damaged")
    advance("24h")

    def sealed():
        st = status(NODES[0])
        day = [s for s in st["shards"] if s["window"] == day2 and s["signal"] == "metrics"]
        return len(day) == 3 and all(s["state"] == "sealed" for s in day)
    wait_until(sealed, 90, 0.5, "the damaged day sealed after the copy")
    mismatches = sum(float(ln.split()[1]) for t in NODES
                     for ln in t.request("GET", "/metrics").text.splitlines()
                     if ln.startswith('triad_seal_total{result="mismatch"}'))
    assert mismatches >= damaged, mismatches
    log = ""
    for t in NODES:
        with open(t.stderr_path, "rb") as f:
            log += f.read().decode("utf-8", errors="replace")
    assert "checksum differs from the majority" in log
    assert "copying it again from a healthy replica" in log
    # the repaired replica answers like the others
    q = NODES[1].get_json("/api/v1/query", {"query": "count(dmg)",
                                            "time": "%.3f" % (now / 1000)})
    assert q["data"]["result"][0]["value"][1] == "30", q
    r = NODES[0].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200 and json.loads(r.text)["consistent"], r.text[:500]


def test_a_node_with_an_emptied_disk_refills_sealed_shards_by_copy():
    """A node that comes back with an emptied data directory joins as a new
    member; its earlier incarnation's replicas of the sealed day move to it
    and, with no Raft group to catch up through, are copied from a healthy
    replica (checked against the catalog's sealed checksum). It then
    answers the sealed day alone like before, and verify proves the
    replicas equal."""
    now = clock_of(NODES[0])
    want = answers(NODES[0], now)
    victim, name = NODES[2], "s3"
    old = [n["id"] for n in status(NODES[0])["nodes"] if n["name"] == name]
    assert len(old) == 1, old
    victim.stop()
    shutil.rmtree(victim.data_dir)
    os.makedirs(victim.data_dir)
    victim.start(60)

    def refilled():
        st = status(NODES[0])
        ids = {n["id"]: n["state"] for n in st["nodes"] if n["name"] == name}
        if len(ids) != 2 or ids.get(old[0]) != "removed":
            return None
        day = [s for s in st["shards"] if s["window"] == W0]
        reps = [r for s in day for r in s["replicas"] if r["node"] == name]
        return len(reps) == 9 and all(r["state"] == "sealed" for r in reps)
    wait_until(refilled, 90, 0.5, "the new member's sealed replicas copied")
    with open(victim.stderr_path, "rb") as f:
        f.seek(victim.log_mark)
        log = f.read().decode("utf-8", errors="replace")
    assert log.count("sealed shard copied from a healthy replica") >= 9, log[-3000:]
    assert "sealed shard copy differs" not in log
    day = [s for s in status(NODES[0])["shards"] if s["window"] == W0]
    assert sealed_dirs_left(day) == []  # copied without any Raft group
    # the new member alone answers the sealed day as before
    for other in NODES[:2]:
        other.stop()
    try:
        got = answers(victim, now)
    finally:
        for other in NODES[:2]:
            other.start()
    assert got == want
    r = NODES[0].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200 and json.loads(r.text)["consistent"], r.text[:500]
