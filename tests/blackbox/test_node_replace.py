"""A node that restarts with an emptied data directory has lost its Raft
terms and votes, so it must not come back under its old Raft id: it gets a
new identity (<data-dir>/raft/identity), joins as a new member, and has its
earlier incarnation removed - the old id leaves the meta group, the old
replicas move to the new member, which refills them by copy - on its own,
with the steps visible in `triad status`. Metrics, logs and traces written
before are all served afterwards, also by the refilled node alone, and the
replicas verify equal."""

import json
import os
import shutil
import time
import urllib.parse

import loki
from triad import now_ms, start_cluster, wait_until

NODES = []
BASE = 0


def setup_module():
    global BASE
    nodes = start_cluster(3, "p", ["--shards-per-window", "1"])
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


def identity(t):
    with open(os.path.join(t.data_dir, "raft", "identity")) as f:
        return f.read().strip()


def write_all(t, i):
    t.write_v1([([("__name__", "nr_metric"), ("i", str(i))], [(BASE + i, float(i))])])
    loki.push_json(t, [({"app": "nr"}, [((BASE + i) * 1_000_000, "line %d" % i)])])
    span = {"traceId": "%032x" % (0x5eed0000 + i), "spanId": "%016x" % (i + 1),
            "name": "op-%d" % i, "kind": 2,
            "startTimeUnixNano": str((BASE + i) * 1_000_000),
            "endTimeUnixNano": str((BASE + i) * 1_000_000 + 1000)}
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "nr"}}]},
        "scopeSpans": [{"spans": [span]}]}]}
    r = t.request("POST", "/otlp/v1/traces", json.dumps(body).encode(),
                  {"Content-Type": "application/json"})
    assert r.status == 200 and "rejected" not in r.text, (r.status, r.text)


def everything(t):
    """(metric values, log lines, trace ids found) as node t serves them."""
    q = t.get_json("/api/v1/query", {"query": "nr_metric[10m]",
                                     "time": "%.3f" % (now_ms() / 1000)})
    metrics = sorted(int(float(v)) for s in q["data"]["result"] for _, v in s["values"])
    r = loki.query_range(t, '{app="nr"}', (BASE - 1000) * 1_000_000,
                         (now_ms() + 1000) * 1_000_000)
    logs = sorted(int(line.split()[1]) for _, line, _ in loki.entries(r))
    found = 0
    for i in range(0, 30, 7):
        tr = t.request("GET", "/api/traces/%032x" % (0x5eed0000 + i))
        found += tr.status == 200
    return metrics, logs, found


def test_emptied_data_dir_rejoins_as_new_member_and_refills():
    def formed():
        st = status(NODES[0])
        cur = [s for s in st["shards"] if s["window"] <= now_ms()]
        return len([n for n in st["nodes"] if n["state"] == "up"]) == 3 and \
            cur and all(s["leader"] for s in cur)
    wait_until(formed, 30, 0.25, "3 nodes with shard leaders")
    old_ids = {n["name"]: n["id"] for n in status(NODES[0])["nodes"]}
    assert identity(NODES[2]) == old_ids["p3"]
    for i in range(30):
        write_all(NODES[i % 3], i)
    want = (list(range(30)), list(range(30)), 5)
    wait_until(lambda: everything(NODES[0]) == want, 20, 0.25, "everything written")

    victim = NODES[2]
    victim.stop()
    shutil.rmtree(victim.data_dir)
    os.makedirs(victim.data_dir)
    victim.start(60)
    new_id = identity(victim)
    assert new_id != old_ids["p3"]

    def refilled():
        st = status(NODES[0])
        p3 = {n["id"]: n["state"] for n in st["nodes"] if n["name"] == "p3"}
        if p3 != {old_ids["p3"]: "removed", new_id: "up"}:
            return None
        for s in st["shards"]:
            if s["state"] != "active":
                continue
            reps = s["replicas"]
            if sorted(x["node"] for x in reps) != ["p1", "p2", "p3"]:
                return None
            if any(x["state"] not in ("leader", "follower") or x["lag"] != 0 for x in reps):
                return None
        return st
    wait_until(refilled, 90, 0.5, "p3's new incarnation holding caught-up replicas")
    with open(victim.stderr_path, "rb") as f:
        f.seek(victim.log_mark)
        log = f.read().decode("utf-8", errors="replace")
    assert "replacing this node's earlier incarnation" in log, log[-3000:]
    assert 'how="new data directory"' in log

    # the refilled node alone serves everything: stop the other two's reads
    # by asking it, and prove the replicas equal
    assert everything(victim) == want
    r = NODES[0].request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200, r.text[:300]
    v = json.loads(r.text)
    assert v["consistent"], v
    # writes keep working on every node, including the new member
    for i in range(30, 33):
        write_all(NODES[i % 3], i)
    want2 = (list(range(33)), list(range(33)), 5)
    wait_until(lambda: everything(victim) == want2, 20, 0.25, "later writes")
