"""Retention and sealing survive kill -9: a node with short retentions gets
a day of metrics, logs and traces, its fake clock moves a day (the day
before is sealed; windows fall out of retention: catalog entries, group
closes, drop jobs), and it is killed with SIGKILL at a random moment of
that - 20 times. After every restart
exactly the days inside each retention are returned (nothing outside the
dropped windows lost); at the end no drop job is left or failed, every
deleted shard's Raft files are gone, and a job cut short was resumed from
its record when the kill hit one. Seal jobs (a sealed metrics day merged
into full-length chunks) are paced slowly here so that kills land in them
too; the days' answers must stay exact through their resumption."""

import json
import os
import random
import re
import time
import urllib.parse

import loki
import prw
from triad import Triad, wait_until

DAY = 86_400_000
START = "2030-03-01T00:30:00Z"
START_MS = 1898555400000  # 2030-03-01T00:30:00Z
ROUNDS = 20
RET = {"metrics": 3, "logs": 2, "traces": 4}
SEED = int(os.environ.get("TRIAD_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
T = None


def setup_module():
    global T
    # seal jobs paced to ~4 KiB/s last seconds here, so kills land in them
    T = Triad(["--debug.fake-clock", START, "--retention.metrics", "3d",
               "--retention.logs", "2d", "--retention.traces", "4d",
               "--compaction.max-write-rate", "4KiB"]).start()


def teardown_module():
    if T is not None and T.running():
        T.stop()


def clock_of(t):
    r = t.get_json("/api/v1/query", {"query": "time()"})
    return int(round(float(r["data"]["result"][1]) * 1000))


def write_day(t, day, now):
    ts = now - 60_000
    series = [([("__name__", "rk"), ("day", str(day)), ("i", str(i))], [(ts, float(day))])
              for i in range(200)]
    r = t.write_raw(prw.write_body_v1(series))
    assert r.status == 204, (day, r.status, r.text)
    loki.push_json(t, [({"app": "rk", "i": str(i)}, [(ts * 1_000_000, "day %d" % day)])
                       for i in range(20)])
    spans = [{"traceId": "%08x%024x" % (day, i + 1), "spanId": "%016x" % (i + 1),
              "name": "day-%d" % day, "kind": 2, "startTimeUnixNano": str(ts * 1_000_000),
              "endTimeUnixNano": str(ts * 1_000_000 + 1000)} for i in range(20)]
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "rk"}}]},
        "scopeSpans": [{"spans": spans}]}]}
    r = t.request("POST", "/otlp/v1/traces", json.dumps(body).encode(),
                  {"Content-Type": "application/json"})
    assert r.status == 200 and "rejected" not in r.text, (day, r.status, r.text)


def days_of(t, now):
    q = t.request("GET", "/api/v1/query?" + urllib.parse.urlencode(
        {"query": "count by (day) (last_over_time(rk[60d]))", "time": "%.3f" % (now / 1000)}))
    assert q.status == 200, q.text[:300]
    metrics = sorted((int(s["metric"]["day"]), int(s["value"][1]))
                     for s in q.json()["data"]["result"])
    r = loki.query_range(t, '{app="rk"}', (START_MS - DAY) * 1_000_000, now * 1_000_000,
                         limit=5000)
    logs = {}
    for _, line, _ in loki.entries(r):
        d = int(line.split()[1])
        logs[d] = logs.get(d, 0) + 1
    s = t.request("GET", "/api/search?" + urllib.parse.urlencode(
        {"q": "{}", "limit": "1000", "start": str((START_MS - DAY) // 1000),
         "end": str(now // 1000 + 1)}))
    assert s.status == 200, s.text[:300]
    traces = {}
    for tr in s.json()["traces"]:
        d = int(tr["rootTraceName"].split("-")[1])
        traces[d] = traces.get(d, 0) + 1
    return metrics, sorted(logs.items()), sorted(traces.items())


def expected(day):
    return ([(k, 200) for k in range(day + 1) if k > day - RET["metrics"]],
            [(k, 20) for k in range(day + 1) if k > day - RET["logs"]],
            [(k, 20) for k in range(day + 1) if k > day - RET["traces"]])


def metric(t, prefix):
    for ln in t.request("GET", "/metrics").text.splitlines():
        if ln.startswith(prefix):
            return float(ln.split()[-1])
    return 0.0


def test_kill9_during_drops():
    print("    seed %d (TRIAD_TEST_SEED)" % SEED)
    rnd = random.Random(SEED)
    now = START_MS
    write_day(T, 0, now)
    resumed = 0
    for day in range(1, ROUNDS + 1):
        r = T.request("POST", "/debug/clock?advance=24h", body=b"", timeout=15)
        assert r.status == 200, r.text
        now = int(r.text.strip())
        time.sleep(rnd.uniform(0.0, 1.5))
        T.kill9()
        T.start()
        with open(T.stderr_path, "rb") as f:
            f.seek(T.log_mark)
            m = re.search(rb'compaction jobs resumed" jobs=(\d+)', f.read())
        resumed += int(m.group(1)) if m else 0
        assert clock_of(T) == now
        write_day(T, day, now)
        want = expected(day)
        wait_until(lambda: days_of(T, now) == want, 30, 0.25,
                   "day %d: %s (got %s)" % (day, want, days_of(T, now)))
    print("    jobs resumed after a kill: %d" % resumed)
    st = wait_until(lambda: (lambda d: d if d["jobs"] == [] else None)(
        T.get_json("/api/v1/status/cluster")["data"]), 60, 0.25, "no drop job left")
    assert metric(T, 'triad_compaction_jobs{state="failed"}') == 0
    groups = set(os.listdir(os.path.join(T.data_dir, "raft")))
    deleted = [s for s in st["shards"] if s["state"] == "deleted"]
    assert len(deleted) >= ROUNDS - 4, st["shards"]
    for s in deleted:
        assert s["group"] not in groups, s["group"]
    # every window past retention is deleted, no other
    for s in st["shards"]:
        gone = s["window"] + DAY <= now - RET[s["signal"]] * DAY
        assert (s["state"] == "deleted") == gone, (s, now)

    # the windows that ended before the grace (2 h; logs 24 h) are sealed
    def sealed():
        d = T.get_json("/api/v1/status/cluster")["data"]
        for s in d["shards"]:
            grace = (24 if s["signal"] == "logs" else 2) * 3_600_000
            due = s["window"] + DAY <= now - grace and s["state"] != "deleted"
            if due and s["state"] != "sealed":
                return None
        return d
    wait_until(sealed, 60, 0.25, "every ended window sealed")
