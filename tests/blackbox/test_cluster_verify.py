"""Replicas never diverge: a 3-node cluster (RF=3, K=3) takes writes that
hit the per-tenant series limit, out-of-order and duplicate samples, while
one replica restarts, windows end and are evicted from memory (the fake
clock moves past them), and snapshots truncate the logs; then
POST /api/v1/admin/cluster/verify, asked on every node, reports every shard
consistent (every replica's checksum at the same Raft index), and `triad
status --verify` prints the table and exits 0.

The series limit is decided by each shard's leader against the shard's
replicated series count (limit / K per shard): the cluster stores at most
the limit, and the rejected series get Prometheus' 400 with Mimir's wording.
"""

import json
import random
import subprocess
import threading
import time

import prw
from triad import Triad, wait_until

NODES = []
START = "2031-03-10T20:00:00Z"
HOUR = 3_600_000
LIMIT = 30

FLAGS = ["--placement-window", "1h", "--late-write-grace", "10m",
         "--limits.max-series", str(LIMIT), "--raft.snapshot-threshold", "16",
         "--raft.snapshot-trailing", "4", "--raft.snapshot-bytes", "64KiB",
         "--raft.snapshot-trailing-bytes", "16KiB", "--debug.fake-clock", START]


def setup_module():
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "v%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins] + FLAGS
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        assert t._wait_ready(60) is None, t.stderr_tail(30)
    NODES.extend(nodes)


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def fake_now():
    r = NODES[0].get_json("/api/v1/query", {"query": "time()"})
    return int(round(float(r["data"]["result"][1]) * 1000))


def verify(t):
    r = t.request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200, (r.status, r.text[:500])
    return json.loads(r.text)


def test_series_limit_cut_by_the_leaders():
    t = NODES[0]
    now = fake_now()
    series = [([("__name__", "lim"), ("i", str(i))], [(now - 1000, float(i))])
              for i in range(3 * LIMIT)]
    r = t.write_raw(prw.write_body_v1(series), tenant="limited")
    assert r.status == 400, (r.status, r.text)
    assert "per-tenant series limit of 30 exceeded" in r.text, r.text
    strong = {"match[]": "lim", "consistency": "strong"}  # read-your-writes
    got = t.get_json("/api/v1/series", strong, tenant="limited")["data"]
    # at most limit / K per shard: never above the limit
    assert 20 <= len(got) <= LIMIT, len(got)
    # known series still take samples; new ones are still refused
    again = [([("__name__", "lim"), ("i", d["i"])], [(now, 1.0)]) for d in got]
    t.write_v1(again, tenant="limited")
    r = t.write_raw(prw.write_body_v1([([("__name__", "lim"), ("i", "new")], [(now, 1.0)])]),
                    tenant="limited")
    got2 = t.get_json("/api/v1/series", strong, tenant="limited")["data"]
    assert len(got2) <= LIMIT
    if r.status == 204:  # the shard of "new" had room
        assert len(got2) == len(got) + 1, (len(got), len(got2))
    else:
        assert r.status == 400 and len(got2) == len(got), (r.status, r.text, len(got),
                                                           len(got2))


def _writer(stop, errors, counts):
    rng = random.Random(7)
    k = 0
    while not stop.is_set():
        t = NODES[k % 3]
        if not t.running():
            k += 1
            continue
        now = fake_now_cached[0]
        series = []
        for s in range(20):
            samples = [(now - 500 + k, float(k))]
            if k % 5 == 0:
                samples.append((now - 20 * 60_000 + rng.randrange(60_000), -1.0))  # ooo
            series.append(([("__name__", "w"), ("s", str(s))], samples))
        try:
            r = t.write_raw(prw.write_body_v1(series), tenant="busy")
            counts[r.status] = counts.get(r.status, 0) + 1
            if r.status not in (204, 400, 503):
                errors.append((r.status, r.text[:200]))
        except OSError:
            counts["conn"] = counts.get("conn", 0) + 1
        k += 1
        time.sleep(0.01)


fake_now_cached = [0]


def test_writes_restart_eviction_then_every_shard_consistent():
    fake_now_cached[0] = fake_now()
    stop = threading.Event()
    errors, counts = [], {}
    th = threading.Thread(target=_writer, args=(stop, errors, counts), daemon=True)
    th.start()
    try:
        time.sleep(2)
        # a replica restarts during writes
        NODES[2].stop()
        time.sleep(1)
        NODES[2].start()
        time.sleep(2)
        # the clock moves past the window's end + grace: nodes evict it from
        # memory (their own decision) while writes continue in the new hour
        r = NODES[1].request("POST", "/debug/clock?advance=75m", body=b"", timeout=15)
        assert r.status == 200, r.text
        fake_now_cached[0] = fake_now()
        time.sleep(3)
    finally:
        stop.set()
        th.join(30)
    assert not errors, errors[:5]
    assert counts.get(204, 0) > 20, counts
    # every replica caught up, then the proof
    for t in NODES:
        wait_until(t.ready, 60, 0.25, "node ready")
    for t in NODES:
        def all_consistent(t=t):
            v = verify(t)
            return v["consistent"] and v
        v = wait_until(all_consistent, 60, 1.0, "every shard consistent (asked %d)" % t.port)
        assert len(v["shards"]) >= 6, v  # 2+ hours x 3 slots
        for s in v["shards"]:
            sums = {r["checksum"] for r in s["replicas"]}
            assert len(s["replicas"]) == 3 and len(sums) == 1 and s["index"] > 0, s


def test_status_verify_command():
    t = NODES[0]
    p = subprocess.run([t.binary, "status", "--addr", "127.0.0.1:%d" % t.port, "--verify"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    assert "VERIFY (" in p.stdout and "0 not consistent" in p.stdout, p.stdout[-2000:]
