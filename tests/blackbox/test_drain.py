"""`triad drain` (the Helm chart's preStop hook) on a 3-node cluster: the
node hands every Raft leadership it holds - shard groups and the meta
group - to other replicas before a planned stop, so writes keep their
leaders; the command exits 0 once it leads nothing, and 1 with a message
when the node cannot be reached. A wrong cluster secret is refused."""

import subprocess

from triad import TRIAD_BIN, cluster_status, now_ms, start_cluster, wait_until

NODES = []


def setup_module():
    NODES.extend(start_cluster(3, "d", ["--cluster-secret", "s3cret"]))


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def status(t):
    return cluster_status(t, "s3cret")


def led_by(st, name):
    return [s["group"] for s in st["shards"]
            if s["leader"] == name and len(s["replicas"]) > 1]


def test_drain_hands_every_leadership_away():
    def formed():
        st = status(NODES[0])
        cur = [s for s in st["shards"] if s["window"] <= now_ms()]
        return st if cur and all(s["leader"] for s in cur) else None
    st = wait_until(formed, 30, 0.25, "every shard with a leader")
    # d1 leads some shards (preferred leaders are spread over the nodes)
    wait_until(lambda: led_by(status(NODES[0]), "d1"), 30, 0.25, "d1 leading shards")
    before = led_by(status(NODES[0]), "d1")
    p = subprocess.run([TRIAD_BIN, "drain", "--addr", "127.0.0.1:%d" % NODES[0].port,
                        "--timeout", "20s", "--cluster-secret", "s3cret"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "drained" in p.stdout, p.stdout
    st = status(NODES[1])
    assert led_by(st, "d1") == [], (before, led_by(st, "d1"))
    assert st["metaLeader"] != "d1", st["metaLeader"]
    # writes still go through, to the new leaders
    r = NODES[0].write_v1([([("__name__", "drained"), ("i", str(i))],
                            [(now_ms(), float(i))]) for i in range(20)])
    assert r.status == 204, (r.status, r.text)


def test_drain_errors():
    p = subprocess.run([TRIAD_BIN, "drain", "--addr", "127.0.0.1:%d" % NODES[1].port,
                        "--timeout", "1s", "--cluster-secret", "wrong"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "triad drain:" in p.stderr, (p.returncode, p.stderr)
    p = subprocess.run([TRIAD_BIN, "drain", "--addr", "127.0.0.1:1", "--timeout", "1s"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "cannot reach" in p.stderr, p.stderr


def test_status_and_drain_take_the_secret_from_the_environment():
    """In the chart's pods the secret is $TRIAD_CLUSTER_SECRET: `kubectl exec
    triad-0 -- triad status` works without repeating it."""
    import os
    env = dict(os.environ, TRIAD_CLUSTER_SECRET="s3cret")
    addr = "127.0.0.1:%d" % NODES[2].port
    # --verify POSTs the admin verify endpoint, which needs the secret
    p = subprocess.run([TRIAD_BIN, "status", "--addr", addr, "--verify"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0 and "SHARDS" in p.stdout, (p.returncode, p.stderr)
    env.pop("TRIAD_CLUSTER_SECRET")
    p = subprocess.run([TRIAD_BIN, "status", "--addr", addr, "--verify"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 1, (p.returncode, p.stdout[:200])
    env["TRIAD_CLUSTER_SECRET"] = "s3cret"
    p = subprocess.run([TRIAD_BIN, "drain", "--addr", addr, "--timeout", "20s"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, (p.stdout, p.stderr)
