"""Logs on a 3-node cluster (RF=3): lines pushed to one node are read from
the others (streams spread over the window's shards, merged in time
order); a node leading logs shards is SIGKILLed during continuous pushes
and every acknowledged line stays readable on the survivors."""

import http.client
import threading
import time

import loki
from triad import Triad, wait_until

NODES = []
SEC = 10**9


def setup_module():
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "n%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins]
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        rc = t._wait_ready(60)
        assert rc is None, "node exited with %s:\n%s" % (rc, t.stderr_tail(30))
    NODES.extend(nodes)


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def _status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200
    return r.json()["data"]


def _logs_shards_led():
    st = _status(NODES[0])
    now_ms = time.time() * 1000
    logs = [s for s in st["shards"] if s.get("signal") == "logs" and s["window"] <= now_ms]
    return logs if logs and all(s["leader"] for s in logs) else None


def test_push_on_one_read_on_all():
    now = time.time_ns()
    streams = [({"app": "cl", "pod": str(p)}, [(now - (50 - i) * SEC + p, "pod %d line %d" % (p, i))
                                               for i in range(50)]) for p in range(6)]
    loki.push_json(NODES[0], streams)
    want = sorted((e[0], e[1]) for _, es in streams for e in es)
    for t in NODES:
        def complete():
            r = loki.query_range(t, '{app="cl"}', now - 100 * SEC, now + SEC, limit=5000)
            return sorted((e[0], e[1]) for e in loki.entries(r)) == want
        wait_until(complete, 10, 0.1, "node %d to serve every line" % t.port)
        r = loki.query_range(t, '{app="cl"}', now - 100 * SEC, now + SEC, limit=10,
                             direction="backward")
        got = sorted((e[0] for e in loki.entries(r)), reverse=True)
        assert got == sorted((w[0] for w in want), reverse=True)[:10], got
    wait_until(_logs_shards_led, 20, 0.2, "every logs shard led")


class Pusher(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.acked, self.failed = [], []
        self.stop_flag = threading.Event()
        self.i = 0

    def run(self):
        while not self.stop_flag.is_set():
            live = [t for t in NODES if t.running()]
            t = live[self.i % len(live)]
            line = "failover line %d" % self.i
            try:
                r = loki.push_json(t, [({"app": "fo", "k": str(self.i % 5)},
                                        [(time.time_ns(), line)])], expect=None)
                (self.acked if r.status == 204 else self.failed).append((line, time.time()))
            except (OSError, http.client.HTTPException):
                self.failed.append((line, time.time()))
            self.i += 1
            time.sleep(0.01)


def test_kill_logs_shard_leader_no_acknowledged_line_lost():
    shards = wait_until(_logs_shards_led, 20, 0.2, "every logs shard led")
    counts = {}
    for s in shards:
        counts[s["leader"]] = counts.get(s["leader"], 0) + 1
    victim_name = max(counts, key=counts.get)
    victim = NODES[int(victim_name[1:]) - 1]
    start = time.time_ns()
    p = Pusher()
    p.start()
    time.sleep(1.0)
    victim.kill9()
    time.sleep(4.0)
    p.stop_flag.set()
    p.join(30)
    print("    %d pushes acknowledged, %d failed" % (len(p.acked), len(p.failed)))
    assert p.acked
    acked = {a[0] for a in p.acked}
    for t in NODES:
        if not t.running():
            continue

        def missing():
            r = loki.query_range(t, '{app="fo"}', start - SEC, time.time_ns() + SEC, limit=5000)
            return acked - {e[1] for e in loki.entries(r)}
        try:
            wait_until(lambda: not missing(), 10, 0.2, "survivors to serve every pushed line")
        except AssertionError:
            raise AssertionError("node %d lost acknowledged lines %r" % (t.port,
                                                                         sorted(missing())[:10]))
    victim.start()
