"""--join through DNS names that do not resolve yet, as in a Kubernetes
StatefulSet whose pods' names appear in the headless Service's DNS only
once the pods are scheduled: 3 nodes are started with --bootstrap-expect 3
and --join naming each other by DNS name while the resolver answers
NXDOMAIN for them; the nodes keep running and keep asking; once the names
resolve, the cluster forms and every node becomes ready.

Everything runs inside a network namespace this test creates (`ip netns`;
its own loopback and, through /etc/netns/<name>/resolv.conf, its own
resolver: a DNS stub of this test on 127.0.0.1:53 in the namespace), so no
packet, DNS query included, leaves the namespace. Needs root and iproute2;
skips with a notice otherwise."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

from triad import REPO, Skip, Triad, cluster_status, http_request

NAMES = ("n0", "n1", "n2")
ZONE = "triad.test"


class DnsStub(threading.Thread):
    """Answers A queries for <name>.triad.test with 127.0.0.1 once
    `resolve` is set, NXDOMAIN before (and for any other name)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.resolve = False
        self.nxdomain = 0
        self.answered = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                q, addr = self.sock.recvfrom(1500)
            except socket.timeout:
                continue
            if len(q) < 17:
                continue
            i, labels = 12, []
            while i < len(q) and q[i] != 0:
                n = q[i]
                labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
                i += 1 + n
            if i + 5 > len(q):
                continue
            qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
            question = q[12:i + 5]
            name = ".".join(labels).lower()
            ours = name.endswith("." + ZONE) and name.split(".")[0] in NAMES
            answer, count, flags = b"", 0, 0x8183  # NXDOMAIN
            if self.resolve and ours:
                flags = 0x8180
                if qtype == 1:
                    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + \
                        socket.inet_aton("127.0.0.1")
                    count = 1
                self.answered += 1
            else:
                self.nxdomain += 1
            self.sock.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, count, 0, 0) +
                             question + answer, addr)


def inner():
    """Inside the namespace."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    stub = DnsStub()
    stub.start()
    nodes = [Triad() for _ in NAMES]
    joins = ",".join("%s.%s:%d" % (n, ZONE, t.port) for n, t in zip(NAMES, nodes))
    for n, t in zip(NAMES, nodes):
        t.extra_args += ["--node-name", n, "--bootstrap-expect", "3", "--join", joins]
    try:
        for t in nodes:
            t._spawn(t.argv())
        time.sleep(4)
        for t in nodes:
            assert t.running(), t.stderr_tail(20)
            r = http_request(t.port, "GET", "/ready", timeout=2)
            assert r.status == 503, (r.status, r.text)
        assert stub.nxdomain >= 6, stub.nxdomain  # the nodes kept asking
        stub.resolve = True
        for t in nodes:
            assert t._wait_ready(60) is None, t.stderr_tail(30)
        st = cluster_status(nodes[0])
        up = sorted(n["name"] for n in st["nodes"] if n["state"] == "up")
        assert up == list(NAMES), st["nodes"]
        print("    %d NXDOMAIN answers while the names did not resolve; formed after "
              "%d answers" % (stub.nxdomain, stub.answered))
    finally:
        for t in nodes:
            if t.running():
                t.stop()
        stub.stop = True


def test_join_retries_while_dns_answers_nxdomain():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise Skip("needs root and iproute2 (ip netns) to run nodes in a network namespace")
    ns = "triad-dns-%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        raise Skip("cannot create a network namespace here")
    etc = os.path.join("/etc/netns", ns)
    try:
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        pre = subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                             capture_output=True, text=True)
        if pre.returncode != 0:
            raise Skip("cannot enter the network namespace: %s" % pre.stderr.strip()[-200:])
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inner"],
                           capture_output=True, text=True, timeout=240,
                           cwd=os.path.join(REPO, "tests", "blackbox"))
        sys.stdout.write(p.stdout)
        assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


if __name__ == "__main__" and sys.argv[1:] == ["--inner"]:
    inner()
