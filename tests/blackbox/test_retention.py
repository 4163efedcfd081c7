"""Retention through the replicated catalog, on a 3-node cluster with the
fake clock: 30 simulated days of metrics, logs and traces (one sample, line
and trace per tenant per day). After every day exactly the days inside each
retention are returned - per signal, for a tenant with shorter overrides
("short", dropped key range by key range inside windows that stay) and one
with a longer metrics override ("long", which keeps the windows, so the
default tenant's older data goes by tenant drops and query clipping). Whole
windows are marked deleted once past the longest retention, their groups
closed and their data dropped by jobs on every node; replicas verify equal
before and after; the data directories shrink when everything expired."""

import json
import os
import re
import time
import urllib.parse

import loki
import prw
from triad import start_cluster, wait_until

DAY = 86_400_000
START = "2030-01-01T00:30:00Z"
START_MS = 1893457800000  # 2030-01-01T00:30:00Z
NODES = []
DAYS = 30
RET = {  # days: flags (defaults), then the tenants' overrides
    "anonymous": {"metrics": 20, "logs": 7, "traces": 14},
    "short": {"metrics": 2, "logs": 1, "traces": 3},
    "long": {"metrics": 25, "logs": 7, "traces": 14},
}


def setup_module():
    nodes = start_cluster(3, "r", ["--debug.fake-clock", START, "--shards-per-window", "1"])
    NODES.extend(nodes)
    t = nodes[0]
    for tenant, q in (("short", "retention_metrics=2d&retention_logs=1d&retention_traces=3d"),
                      ("long", "retention_metrics=25d")):
        r = t.request("POST", "/api/v1/admin/tenants/limits?tenant=%s&%s" % (tenant, q), b"")
        assert r.status == 200, (r.status, r.text)


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def hdr(tenant):
    return {"X-Scope-OrgID": tenant} if tenant != "anonymous" else {}


def clock_of(t):
    r = t.get_json("/api/v1/query", {"query": "time()"})
    return int(round(float(r["data"]["result"][1]) * 1000))


def advance(t, what):
    """Moves the cluster's clock and waits until every node applied it."""
    r = t.request("POST", "/debug/clock?advance=" + what, body=b"", timeout=15)
    assert r.status == 200, (r.status, r.text)
    now = int(r.text.strip())
    for n in NODES:
        wait_until(lambda n=n: clock_of(n) == now, 10, 0.05, "node %d at %d" % (n.port, now))
    return now


def status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=15)
    assert r.status == 200, r.text[:300]
    return r.json()["data"]


def write_day(t, day, now):
    """One sample (value = day), one log line and one trace per tenant, a
    minute before now."""
    ts = now - 60_000
    for tenant in RET:
        r = t.write_raw(prw.write_body_v1([([("__name__", "ret_m"), ("day", str(day))],
                                           [(ts, float(day))])]),
                        tenant=tenant if tenant != "anonymous" else None)
        assert r.status == 204, (tenant, day, r.status, r.text)
        loki.push_json(t, [({"app": "ret"}, [(ts * 1_000_000, "day %d" % day)])],
                       tenant=tenant if tenant != "anonymous" else None)
        span = {"traceId": "%032x" % (0xabc000 + day), "spanId": "%016x" % (day + 1),
                "name": "day-%d" % day, "kind": 2,
                "startTimeUnixNano": str(ts * 1_000_000),
                "endTimeUnixNano": str(ts * 1_000_000 + 5_000_000)}
        body = {"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "ret"}}]},
            "scopeSpans": [{"spans": [span]}]}]}
        h = {"Content-Type": "application/json"}
        h.update(hdr(tenant))
        r = t.request("POST", "/otlp/v1/traces", json.dumps(body).encode(), h)
        assert r.status == 200 and "rejected" not in r.text, (tenant, day, r.status, r.text)


def metric_days(t, tenant, now):
    r = t.request("GET", "/api/v1/query?" + urllib.parse.urlencode(
        {"query": "ret_m[60d]", "time": "%.3f" % (now / 1000)}), headers=hdr(tenant))
    assert r.status == 200, r.text[:300]
    return sorted(int(float(v)) for s in r.json()["data"]["result"] for _, v in s["values"])


def log_days(t, tenant, now):
    r = loki.query_range(t, '{app="ret"}', (START_MS - DAY) * 1_000_000, now * 1_000_000,
                         tenant=tenant if tenant != "anonymous" else None)
    return sorted(int(line.split()[1]) for _, line, _ in loki.entries(r))


def trace_days(t, tenant, now):
    r = t.request("GET", "/api/search?" + urllib.parse.urlencode(
        {"q": "{}", "limit": "100", "start": str((START_MS - DAY) // 1000),
         "end": str(now // 1000 + 1)}), headers=hdr(tenant))
    assert r.status == 200, r.text[:300]
    return sorted(int(tr["rootTraceName"].split("-")[1]) for tr in r.json()["traces"])


def expected(tenant, signal, day):
    """Days written a minute before their day's clock whose data is newer
    than now - retention: k > day - retention."""
    keep = RET[tenant][signal]
    return [k for k in range(day + 1) if k > day - keep]


def verify(t):
    def consistent():
        r = t.request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
        if r.status != 200:
            return None
        v = json.loads(r.text)
        return v if v["consistent"] else None
    return wait_until(consistent, 60, 0.5, "every shard consistent")


def dir_bytes(t):
    total = 0
    for root, _dirs, files in os.walk(t.data_dir):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def test_thirty_days_exactly_the_retention():
    t = NODES[0]
    now = START_MS
    verified_before = False
    for day in range(DAYS):
        if day > 0:
            now = advance(NODES[day % 3], "24h")
            assert now == START_MS + day * DAY
        write_day(NODES[(day + 1) % 3], day, now)
        if day == 10 and not verified_before:
            verify(t)
            verified_before = True
        reader = NODES[day % 3]
        for tenant in RET:
            for signal, fn in (("metrics", metric_days), ("logs", log_days),
                               ("traces", trace_days)):
                want = expected(tenant, signal, day)
                wait_until(lambda: fn(reader, tenant, now) == want, 20, 0.2,
                           "day %d %s %s = %s (got %s)" % (
                               day, tenant, signal, want, fn(reader, tenant, now)))
    # windows past the longest retention are deleted in the catalog, their
    # groups gone from every node; nothing of them is queued any more
    st = status(t)
    longest = {"metrics": 25, "logs": 7, "traces": 14}
    for s in st["shards"]:
        end = s["window"] + DAY
        gone = end <= now - longest[s["signal"]] * DAY
        assert (s["state"] == "deleted") == gone, (s, now)
    wait_until(lambda: status(t)["jobs"] == [], 60, 0.5, "every drop job done")
    for n in NODES:
        groups = set(os.listdir(os.path.join(n.data_dir, "raft")))
        for s in st["shards"]:
            if s["state"] == "deleted":
                assert s["group"] not in groups, (n.port, s["group"])
    # sealed windows run no Raft group: their directories are gone too
    def sealed_dirs():
        left = []
        for n in NODES:
            groups = set(os.listdir(os.path.join(n.data_dir, "raft")))
            left += [(n.port, s["group"]) for s in st["shards"]
                     if s["state"] == "sealed" and s["group"] in groups]
        return left
    wait_until(lambda: sealed_dirs() == [], 20, 0.2,
               "sealed groups' directories removed")
    verify(t)
    # inside windows that stay, the shorter tenants' data went: from sealed
    # windows (all but the last day's) by drops the meta leader recorded in
    # the catalog and every replica applied - the default tenant's 21st to
    # 25th days (kept as windows for "long") only so
    log = ""
    for n in NODES:
        with open(n.stderr_path, "rb") as f:
            log += f.read().decode("utf-8", errors="replace")
    for tenant in ("short", "anonymous"):
        assert re.search(r"dropping a tenant's data from a sealed window\" "
                         r"signal=\S+ window=\d+ tenant=%s rv=0" % tenant, log), tenant
        dropped = re.findall(r"dropped from a sealed shard\" group=(\S+) tenant=%s\b"
                             % tenant, log)
        assert len(dropped) >= 3, (tenant, dropped)  # on every replica


def test_status_command_shows_jobs_and_deleted_count():
    import subprocess
    from triad import TRIAD_BIN
    out = subprocess.run([TRIAD_BIN, "status", "--addr", "http://127.0.0.1:%d" % NODES[1].port],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "deleted by retention not listed" in out.stdout, out.stdout
    assert "\nJOBS (" in out.stdout and " done, 0 failed" in out.stdout, out.stdout
    m = NODES[1].request("GET", "/metrics").text
    done = [ln for ln in m.splitlines() if ln.startswith('triad_compaction_jobs{state="done"}')]
    assert done and float(done[0].split()[1]) > 0, done


def test_everything_expired_data_dirs_shrink():
    before = [dir_bytes(n) for n in NODES]
    # 30 more days: every window of the first 30 is past every retention
    advance(NODES[0], "720h")
    t = NODES[0]

    def all_deleted():
        st = status(t)
        old = [s for s in st["shards"] if s["window"] < START_MS + DAYS * DAY - DAY]
        return old and all(s["state"] == "deleted" for s in old) and st["jobs"] == []
    wait_until(all_deleted, 90, 0.5, "every old window deleted and dropped")
    now = START_MS + (DAYS - 1 + 30) * DAY
    for tenant in RET:
        assert metric_days(t, tenant, now) == []
        assert log_days(t, tenant, now) == []
        assert trace_days(t, tenant, now) == []
    after = [dir_bytes(n) for n in NODES]
    for b, a in zip(before, after):
        assert a < b, (before, after)
    verify(t)
