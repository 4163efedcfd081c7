"""A rolling update as the Helm chart's StatefulSet does it, on 3 nodes
under a steady write load: pod by pod from the highest ordinal, the preStop
hook (`triad drain`) hands the node's leaderships away, SIGTERM stops it,
it starts again on its data directory, and the next pod goes only once
/ready answers 200 - which now means this node's replicas have caught up
(no copy running, the leaders' commits applied). Quorum is never lost:
every write is acknowledged (the writer, like a Service, sends to nodes
that are up, retrying a 503 a few times), each restarted node's replicas
show lag 0 once it is ready, and every acknowledged sample is there at
the end, on every node."""

import subprocess
import threading
import time

from triad import TRIAD_BIN, cluster_status, now_ms, start_cluster, wait_until

NODES = []


def setup_module():
    NODES.extend(start_cluster(3, "u", ["--shards-per-window", "3"]))


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def status(t):
    return cluster_status(t)


class Writer(threading.Thread):
    """Writes one sample of 10 series every 20 ms to a node that is up."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_flag = False
        self.acked = 0
        self.failed = []
        self.retries = 0
        self.down = set()

    def run(self):
        k = 0
        while not self.stop_flag:
            ts = now_ms()
            series = [([("__name__", "rolling"), ("s", str(i))], [(ts, float(k))])
                      for i in range(10)]
            ok = False
            for attempt in range(40):
                up = [t for j, t in enumerate(NODES) if j not in self.down]
                t = up[(k + attempt) % len(up)]
                try:
                    r = t.write_v1(series, expect=None)
                except OSError:
                    self.retries += 1
                    continue
                if r.status == 204:
                    ok = True
                    break
                if r.status != 503:
                    self.failed.append((r.status, r.text[:200]))
                    break
                self.retries += 1
                time.sleep(0.05)
            if ok:
                self.acked += 1
            elif not self.failed or self.failed[-1][0] != "gave up":
                self.failed.append(("gave up", k))
            k += 1
            time.sleep(0.02)


def test_rolling_update_keeps_quorum_and_every_write():
    def formed():
        st = status(NODES[0])
        cur = [s for s in st["shards"] if s["window"] <= now_ms()]
        return cur and all(s["leader"] for s in cur)
    wait_until(formed, 30, 0.25, "every shard with a leader")
    w = Writer()
    w.start()
    time.sleep(1.0)
    ready_lag = []
    for j in (2, 1, 0):
        t = NODES[j]
        p = subprocess.run([TRIAD_BIN, "drain", "--addr", "127.0.0.1:%d" % t.port,
                            "--timeout", "20s"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (j, p.stdout, p.stderr)
        w.down.add(j)
        t.stop()
        time.sleep(0.5)  # writes go on with two nodes
        t.start(90)      # returns once /ready answered 200
        st = status(t)
        name = "u%d" % (j + 1)
        lags = [r["lag"] for s in st["shards"] for r in s["replicas"]
                if r["node"] == name and s["state"] == "active"]
        ready_lag.append(max(lags) if lags else 0)
        w.down.discard(j)
        time.sleep(0.5)
    time.sleep(0.5)
    w.stop_flag = True
    w.join(30)
    assert not w.failed, (w.failed[:5], w.acked)
    assert w.acked > 50, w.acked
    assert max(ready_lag) <= 256, ready_lag  # CL_READY_MAX_LAG
    # every acknowledged write is there, on every node
    want = w.acked * 10

    def counted(t):
        q = t.get_json("/api/v1/query", {"query": "count(count_over_time(rolling[1h]) > 0)"})
        n = t.get_json("/api/v1/query", {"query": "sum(count_over_time(rolling[1h]))"})
        return (q["data"]["result"][0]["value"][1] if q["data"]["result"] else "0",
                float(n["data"]["result"][0]["value"][1]) if n["data"]["result"] else 0)
    for t in NODES:
        wait_until(lambda t=t: counted(t)[1] >= want, 20, 0.25,
                   "node %d holding every acknowledged sample" % t.port)
    print("    %d writes acknowledged across 3 restarts (%d retried 503s or refused "
          "connections); lag when ready: %s" % (w.acked, w.retries, ready_lag))
