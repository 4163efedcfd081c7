"""Cluster: a 3-node cluster (RF=3) formed with --bootstrap-expect 3 on
127.0.0.1; writes through any node are readable on every node; the node
leading the shards is SIGKILLed during continuous writes: every write that
got a 2xx stays readable on the survivors, writes succeed again within 2 s,
and the killed node restarts and catches up (applied index equal to the
leader's); a node stopped past the snapshot threshold catches up by copy."""

import http.client
import threading
import time

import prw
from triad import Triad, now_ms, wait_until

NODES = []
BASE = 0

# small snapshot threshold so that a stopped node needs a snapshot install
RAFT_FLAGS = ["--raft.snapshot-threshold", "32", "--raft.snapshot-trailing", "8"]


def _start_all(nodes, timeout=60):
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        rc = t._wait_ready(timeout)
        assert rc is None, "node exited with %s:\n%s" % (rc, t.stderr_tail(30))


def setup_module():
    global BASE
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "n%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins] + RAFT_FLAGS
    _start_all(nodes)
    NODES.extend(nodes)
    BASE = now_ms() - 60_000


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200, (r.status, r.text[:300])
    return r.json()["data"]


def current_shards(st, signal="metrics"):
    """The shards of the signal's current window (metrics: what these tests
    write; logs shards of the same window exist alongside)."""
    mine = [s for s in st["shards"] if s.get("signal", "metrics") == signal]
    w = max(s["window"] for s in mine if s["window"] <= now_ms())
    return [s for s in mine if s["window"] == w]


def test_cluster_formed():
    def formed():
        st = status(NODES[0])
        ups = [n for n in st["nodes"] if n["state"] == "up"]
        shards = current_shards(st) if st["shards"] else []
        ok = (len(ups) == 3 and st["metaLeader"] and len(shards) == 3 and
              all(s["leader"] for s in shards))
        return ok and st
    st = wait_until(formed, 30, 0.25, "3 nodes up and 3 shards with leaders")

    def balanced():
        st2 = status(NODES[0])
        return all(s["leader"] == s["replicas"][0]["node"] for s in st2["shards"])
    # leadership moves to each shard's preferred replica (spreads leaders)
    wait_until(balanced, 20, 0.25, "every shard led by its preferred replica")
    for s in current_shards(st):
        assert len(s["replicas"]) == 3, s
    # every node answers the same catalog
    for t in NODES[1:]:
        other = status(t)
        assert sorted(n["name"] for n in other["nodes"]) == ["n1", "n2", "n3"]


def _series(i, n=20):
    return [([("__name__", "cl_metric"), ("series", str(s)), ("batch", str(i))],
             [(BASE + i * 100 + j, float(i * 1000 + s * 10 + j)) for j in range(3)])
            for s in range(n)]


def _read_all(t, name):
    return t.read([(prw.EQ, "__name__", name)], BASE - 10_000, BASE + 3_600_000)


def test_write_on_one_read_on_all():
    NODES[0].write_v1(_series(0))
    NODES[1].write_v1(_series(1))
    want = {}
    for i in (0, 1):
        for labels, samples in _series(i):
            want[prw.sorted_labels(labels)] = [(ts, prw.f64_bits(v)) for ts, v in samples]
    # consistency=strong reads every shard from its leader: no waiting
    for t in NODES:
        r = t.get_json("/api/v1/series", {"match[]": "cl_metric", "consistency": "strong",
                                          "start": str(BASE // 1000 - 10)})
        assert len(r["data"]) == len(want), (t.port, len(r["data"]))
    r = NODES[0].get("/api/v1/series", {"match[]": "cl_metric", "consistency": "maybe"})
    assert r.status == 400 and "consistency" in r.text, (r.status, r.text)
    # followers apply a committed entry when the next append or heartbeat
    # tells them the commit index: allow a moment
    for t in NODES:
        def converged():
            got = _read_all(t, "cl_metric")
            return all(got.get(k) == v for k, v in want.items())
        wait_until(converged, 5, 0.05, "node %d to serve every write" % t.port)
        r = t.get_json("/api/v1/series", {"match[]": "cl_metric", "start": str(BASE // 1000 - 10)})
        assert len(r["data"]) == len(want), (t.port, len(r["data"]))


class Writer(threading.Thread):
    """Writes batch after batch to the live nodes in turn; records which
    batches got 2xx and when."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.acked = []            # (batch, time)
        self.failed = []           # (batch, time, status)
        self.stop_flag = threading.Event()
        self.i = 0

    def run(self):
        while not self.stop_flag.is_set():
            live = [t for t in NODES if t.running()]
            t = live[self.i % len(live)]
            series = [([("__name__", self.name_), ("batch", str(self.i))],
                       [(BASE + 500_000 + self.i, float(self.i))])]
            try:
                r = t.write_raw(prw.write_body_v1(series))
                if r.status // 100 == 2:
                    self.acked.append((self.i, time.time()))
                else:
                    self.failed.append((self.i, time.time(), r.status))
            except (OSError, http.client.HTTPException):
                self.failed.append((self.i, time.time(), 0))
            self.i += 1
            time.sleep(0.01)


def _leader_counts(st):
    counts = {}
    for s in current_shards(st):
        counts[s["leader"]] = counts.get(s["leader"], 0) + 1
    return counts


def test_kill_shard_leader_during_writes():
    st = status(NODES[0])
    counts = _leader_counts(st)
    victim_name = max(counts, key=counts.get)
    victim = NODES[int(victim_name[1:]) - 1]
    w = Writer("cl_failover")
    w.start()
    time.sleep(1.0)
    kill_at = time.time()
    victim.kill9()
    time.sleep(4.0)
    w.stop_flag.set()
    w.join(30)
    after = [a for a in w.acked if a[1] > kill_at]
    assert after, "no write succeeded after the kill (failed: %r)" % w.failed[-5:]
    first_ok = min(a[1] for a in after) - kill_at
    print("    first successful write %.3f s after SIGKILL of %s" % (first_ok, victim_name))
    assert first_ok <= 2.0, "writes resumed only after %.2fs" % first_ok
    late = [f for f in w.failed if f[1] > kill_at + 2.0]
    assert not late, "writes still failing more than 2 s after the kill: %r" % late[:5]
    # every acknowledged write is readable on every survivor
    acked = {str(b) for b, _ in w.acked}
    print("    %d writes acknowledged, %d failed" % (len(w.acked), len(w.failed)))
    for t in NODES:
        if not t.running():
            continue

        def missing():
            got = _read_all(t, "cl_failover")
            return acked - {dict(k)["batch"] for k in got}
        try:
            wait_until(lambda: not missing(), 5, 0.1, "survivors to serve every write")
        except AssertionError:
            raise AssertionError("node %d lost acknowledged batches %r"
                                 % (t.port, sorted(missing())[:10]))
    # node health from Raft heartbeats (as the meta leader sees them)
    live = [t for t in NODES if t.running()][0]

    def seen_down():
        st = status(live)
        n = [x for x in st["nodes"] if x["name"] == victim_name][0]
        return n["state"] == "down" and n["heartbeat"] is False
    wait_until(seen_down, 10, 0.2, "%s reported down (no heartbeat)" % victim_name)
    # restart: the node catches up to the leader's applied index
    victim.start()

    def caught_up():
        st2 = status(NODES[0])
        for s in current_shards(st2):
            for r in s["replicas"]:
                if r["node"] == victim_name and (r["lag"] != 0 or r["appliedIndex"] == 0
                                                 or r["state"] == "unknown"):
                    return False
        return True
    wait_until(caught_up, 30, 0.5, "%s to catch up (lag 0 on every shard)" % victim_name)
    got = _read_all(victim, "cl_failover")
    assert acked <= {dict(k)["batch"] for k in got}


def test_stopped_node_catches_up_by_copy():
    victim = NODES[2]
    victim.stop()
    # more entries than the snapshot threshold on every shard
    for i in range(300):
        live = [t for t in NODES if t.running()]
        live[i % len(live)].write_v1(_series(1000 + i, n=6))
    victim.start()

    def copied():
        st = status(NODES[0])
        lag = [r for s in current_shards(st) for r in s["replicas"]
               if r["node"] == "n3" and (r["lag"] != 0 or r["state"] in ("catching-up", "unknown"))]
        return not lag
    wait_until(copied, 60, 0.5, "n3 caught up after a snapshot install")
    log = open(victim.stderr_path, encoding="utf-8", errors="replace").read()
    assert "shard caught up by copy" in log, "n3 did not copy any shard"
    got = _read_all(victim, "cl_metric")
    for i in (1000, 1150, 1299):
        for labels, samples in _series(i, n=6):
            k = prw.sorted_labels(labels)
            assert got.get(k) == [(ts, prw.f64_bits(v)) for ts, v in samples], (i, k)
