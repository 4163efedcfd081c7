"""`triad status --addr URL`: prints the header, the NODES, the SHARDS and the JOBS
tables from GET /api/v1/status/cluster (against one node and against a
3-node cluster, compared with the JSON), columns aligned; exits 1 with a
clear message when the node cannot be reached, answers non-200, or answers
something that is not the status JSON."""

import http.server
import re
import subprocess
import threading

from triad import TRIAD_BIN, Triad, free_port, now_ms, wait_until

SOLO = []
CLUSTER = []


def _start_all(nodes, timeout=60):
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        rc = t._wait_ready(timeout)
        assert rc is None, "node exited with %s:\n%s" % (rc, t.stderr_tail(30))


def setup_module():
    solo = Triad(["--node-name", "solo"])
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "n%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins]
    _start_all([solo] + nodes)
    SOLO.append(solo)
    CLUSTER.extend(nodes)


def teardown_module():
    for t in SOLO + CLUSTER:
        if t.running():
            t.stop()


def run_status(addr, timeout=30):
    p = subprocess.run([TRIAD_BIN, "status", "--addr", addr], capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def status_json(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200, r
    return r.json()["data"]


def parse(out):
    """{'header': {key: value}, 'nodes': [row dict], 'shards': [row dict],
    'nodes_head': str, 'shards_head': str, 'nodes_lines': [...], ...}"""
    lines = out.splitlines()
    res = {"header": {}, "nodes": [], "shards": []}
    i = 0
    while i < len(lines) and lines[i].strip():
        m = re.match(r"^(node asked|meta leader|meta term|meta commit index)\s+(.*)$", lines[i])
        assert m, "unexpected header line %r in:\n%s" % (lines[i], out)
        res["header"][m.group(1)] = m.group(2)
        i += 1
    assert set(res["header"]) == {"node asked", "meta leader", "meta term",
                                  "meta commit index"}, out
    sections = {}
    cur = None
    for line in lines[i:]:
        if not line.strip():
            cur = None
            continue
        m = re.match(r"^(NODES|SHARDS) \((\d+), (\d+) (up|with a leader)"
                     r"(?:; (\d+) deleted by retention not listed)?\)$", line)
        if m:
            cur = m.group(1)
            sections[cur] = {"count": int(m.group(2)), "ok": int(m.group(3)), "lines": [],
                             "deleted": int(m.group(5) or 0)}
            continue
        m = re.match(r"^JOBS \((\d+) queued or running; (\d+) done, (\d+) failed since "
                     r"the nodes started\)$", line)
        if m:
            cur = "JOBS"
            sections[cur] = {"count": int(m.group(1)), "done": int(m.group(2)),
                             "failed": int(m.group(3)), "lines": []}
            continue
        assert cur, "line outside a section: %r\n%s" % (line, out)
        sections[cur]["lines"].append(line)
    assert set(sections) == {"NODES", "SHARDS", "JOBS"}, out
    jl = sections["JOBS"]["lines"]
    if sections["JOBS"]["count"]:
        assert jl[0].split()[:4] == ["NODE", "KIND", "SIGNAL", "WINDOW"], jl[0]
        assert len(jl) == 1 + sections["JOBS"]["count"], jl
    else:
        assert jl == ["(none)"], jl
    res["sections"] = sections
    nl = sections["NODES"]["lines"]
    assert nl[0].split() == ["NAME", "ID", "RAFT", "ADDR", "HTTP", "ADDR", "STATE"], nl[0]
    for line in nl[1:]:
        f = line.split()
        assert len(f) == 5, line
        res["nodes"].append(dict(zip(("name", "id", "raftAddr", "httpAddr", "state"), f)))
    sl = sections["SHARDS"]["lines"]
    if sections["SHARDS"]["count"]:
        assert sl[0].startswith("SIGNAL"), sl[0]
        for line in sl[1:]:
            f = line.split(None, 7)
            assert len(f) == 8, line
            res["shards"].append(dict(zip(("signal", "windowStart", "slot", "state", "leader",
                                           "term", "commitIndex", "replicas"), f)))
    return res


def check_aligned(lines, columns):
    """Every row has its left-aligned columns starting where the header's
    title starts (and right-aligned ones ending where the title ends)."""
    head = lines[0]
    for title, right in columns:
        pos = head.index(title)
        for line in lines[1:]:
            if right:
                end = pos + len(title)
                assert line[end - 1] != " " and (end == len(line) or line[end] == " "), \
                    "column %r not right-aligned in %r (header %r)" % (title, line, head)
            else:
                assert line[pos] != " " and (pos == 0 or line[pos - 1] == " "), \
                    "column %r not aligned in %r (header %r)" % (title, line, head)
        assert not any(line.endswith(" ") for line in lines), "trailing blanks"


def check_against_json(out, js, addr):
    res = parse(out)
    h = res["header"]
    assert h["node asked"] == "%s (%s)" % (addr.rstrip("/"), js["node"]), h
    assert h["meta leader"] == (js["metaLeader"] or "(none)"), h
    # nodes: every node with its id, addresses and state
    want_nodes = sorted((n["name"], n["id"], n["raftAddr"], n["httpAddr"], n["state"])
                        for n in js["nodes"])
    got_nodes = sorted(tuple(n[k] for k in ("name", "id", "raftAddr", "httpAddr", "state"))
                       for n in res["nodes"])
    assert got_nodes == want_nodes, (got_nodes, want_nodes)
    sec = res["sections"]
    assert sec["NODES"]["count"] == len(js["nodes"])
    assert sec["NODES"]["ok"] == sum(1 for n in js["nodes"] if n["state"] == "up")
    check_aligned(sec["NODES"]["lines"], [("NAME", False), ("ID", False), ("RAFT ADDR", False),
                                          ("HTTP ADDR", False), ("STATE", False)])
    # shards: same set, same leaders and replica lists
    assert sec["SHARDS"]["count"] == len(js["shards"]) == len(res["shards"]), out
    want = {}
    for s in js["shards"]:
        reps = " ".join("%s:%d(%d)" % (r["node"], r["appliedIndex"], r["lag"])
                        if r["state"] != "unknown" else "%s:-(unknown)" % r["node"]
                        for r in s["replicas"])
        want[(s["windowStart"], str(s["slot"]))] = (s["signal"], s["state"],
                                                    s["leader"] or "-", reps)
    got = {}
    for s in res["shards"]:
        got[(s["windowStart"], s["slot"])] = (s["signal"], s["state"], s["leader"],
                                              s["replicas"])
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        # leaders and replica nodes must agree; indexes may have moved on
        # between the two requests
        assert got[k][:3] == want[k][:3], (k, got[k], want[k])
        names = lambda reps: [r.split(":")[0] for r in reps.split()]  # noqa: E731
        assert names(got[k][3]) == names(want[k][3]), (k, got[k], want[k])
        for r in got[k][3].split():
            assert re.match(r"^[A-Za-z0-9._-]+:(\d+\(\d+(,catching-up)?\)|-\(unknown\))$", r), r
    if res["shards"]:
        check_aligned(sec["SHARDS"]["lines"],
                      [("SIGNAL", False), ("WINDOW START", False), ("SLOT", True),
                       ("STATE", False), ("LEADER", False), ("TERM", True),
                       ("COMMIT", True), ("REPLICAS", False)])
    return res


def _stable_status(t, addr, ready):
    """Runs `triad status` between two identical JSON snapshots of the
    leaders (so that a leadership change in between does not fail the
    comparison), after ready(json) holds."""
    box = {}

    def attempt():
        js = status_json(t)
        if not ready(js):
            return False
        rc, out, err = run_status(addr)
        assert rc == 0, (rc, out, err)
        js2 = status_json(t)
        leaders = lambda j: sorted((s["window"], s["slot"], s["leader"]) for s in j["shards"])  # noqa: E731
        if leaders(js) != leaders(js2) or len(js["shards"]) != len(js2["shards"]):
            return False
        box["res"] = check_against_json(out, js, addr)
        box["out"] = out
        return True
    wait_until(attempt, 30, 0.5, "a stable `triad status` of %s" % addr)
    return box["res"], box["out"]


def test_status_single_node():
    t = SOLO[0]
    addr = "http://127.0.0.1:%d" % t.port

    def ready(js):
        return js["shards"] and all(s["leader"] for s in js["shards"])
    res, out = _stable_status(t, addr, ready)
    print("    " + out.replace("\n", "\n    ").rstrip())
    assert [n["name"] for n in res["nodes"]] == ["solo"]
    assert res["nodes"][0]["state"] == "up"
    assert res["header"]["meta leader"] == "solo"
    assert res["shards"], out
    for s in res["shards"]:
        assert s["leader"] == "solo" and s["signal"] in ("metrics", "logs", "traces"), s
        assert re.match(r"^solo:\d+\(0\)$", s["replicas"]), s
    # a trailing slash and the host:port form reach the same node
    for a in (addr + "/", "127.0.0.1:%d" % t.port):
        rc, out2, err = run_status(a)
        assert rc == 0, (a, rc, err)
        assert "solo" in parse(out2)["header"]["node asked"], out2


def test_status_cluster():
    nodes = CLUSTER
    addr = "http://127.0.0.1:%d" % nodes[1].port

    def ready(js):
        mine = [s for s in js["shards"] if s.get("signal", "metrics") == "metrics"]
        cur = [s for s in mine if s["window"] <= now_ms()]
        if not cur:
            return False
        w = max(s["window"] for s in cur)
        shards = [s for s in mine if s["window"] == w]
        return (sum(1 for n in js["nodes"] if n["state"] == "up") == 3 and
                js["metaLeader"] and len(shards) == 3 and all(s["leader"] for s in shards)
                and sorted(s["leader"] for s in shards) == ["n1", "n2", "n3"])
    wait_until(lambda: ready(status_json(nodes[1])), 30, 0.25,
               "3 nodes up, 3 shards led by n1, n2 and n3")
    # a write so that commit and applied indexes move
    nodes[0].write_v1([([("__name__", "status_cmd_metric"), ("i", str(i))],
                        [(now_ms() - 1000, 1.0)]) for i in range(30)])
    # the status shows indexes sampled every cluster tick (100 ms)

    def ready_and_committed(js):
        return ready(js) and any(s["commitIndex"] > 1 for s in js["shards"])
    res, out = _stable_status(nodes[1], addr, ready_and_committed)
    print("    " + out.replace("\n", "\n    ").rstrip())
    assert res["header"]["node asked"] == "%s (n2)" % addr
    assert res["header"]["meta leader"] in ("n1", "n2", "n3")
    assert sorted(n["name"] for n in res["nodes"]) == ["n1", "n2", "n3"]
    assert all(n["state"] == "up" for n in res["nodes"])
    ports = sorted("127.0.0.1:%d" % t.port for t in nodes)
    assert sorted(n["httpAddr"] for n in res["nodes"]) == ports
    assert len({n["id"] for n in res["nodes"]}) == 3
    assert all(re.match(r"^[0-9a-f]{16}$", n["id"]) for n in res["nodes"]), res["nodes"]
    assert len(res["shards"]) >= 3
    for s in res["shards"]:
        assert s["leader"] in ("n1", "n2", "n3"), s
        reps = s["replicas"].split()
        assert sorted(r.split(":")[0] for r in reps) == ["n1", "n2", "n3"], s
    # the written data shows up as a committed entry somewhere
    assert any(int(s["commitIndex"]) > 1 for s in res["shards"]), out


def test_status_unreachable():
    port = free_port()   # nothing listens there
    rc, out, err = run_status("http://127.0.0.1:%d" % port)
    assert rc == 1, (rc, out, err)
    assert out == "", out
    assert "cannot reach" in err and str(port) in err, err


class _Fake(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(self.server.reply[0])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.reply[1])))
        self.end_headers()
        self.wfile.write(self.server.reply[1])

    def log_message(self, *args):
        pass


def test_status_bad_answers():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    addr = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        cases = [
            ((503, b"cluster layer not running"), "HTTP 503"),
            ((404, b"404 page not found"), "HTTP 404"),
            ((200, b"not json"), "invalid JSON"),
            ((200, b'{"status":"success","data":{"nodes":[{"name":"a"'), "invalid JSON"),
            ((200, b"[" * 10000), "invalid JSON"),
            ((200, b'{"status":"error","error":"boom"}'), "boom"),
            ((200, b'{"status":"success","data":{}}'), "no nodes or shards"),
            ((200, b'{"status":"success","data":{"nodes":[],"shards":[]}} x'), "invalid JSON"),
        ]
        for reply, msg in cases:
            srv.reply = reply
            rc, out, err = run_status(addr)
            assert rc == 1, (reply, rc, out, err)
            assert msg in err, (reply, err)
        # odd but valid JSON renders: escapes, missing fields, control characters
        srv.reply = (200, b'{"status":"success","data":{"node":"x\\u00e9\\n","nodes":'
                          b'[{"name":"a\\"b","state":"up"},{}],"shards":[{"slot":1,'
                          b'"replicas":[{"node":"a","state":"unknown"}]}],"extra":[1,2.5e3,null]}}')
        rc, out, err = run_status(addr)
        assert rc == 0, (rc, out, err)
        assert "x\u00e9? " not in out and "(x\u00e9?)" in out, out
        assert 'a"b' in out and "a:-(unknown)" in out, out
        assert "NODES (2, 1 up)" in out and "SHARDS (1, 0 with a leader)" in out, out
    finally:
        srv.shutdown()
        srv.server_close()
