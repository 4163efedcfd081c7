"""triad.py - helpers for the black-box tests: run real triad processes.

  t = Triad(extra_args=[...])   # free 127.0.0.1 ports, temp data dir
  t.start()                     # waits for GET /ready == 200 "ready"
  t.request("GET", "/api/v1/labels") -> Response(status, headers, body)
  t.write_v1(series) / t.read(matchers, start, end)
  t.kill9(); t.start()          # restart on the same data dir
  t.stop()                      # SIGTERM by PID, returns the exit code

stderr of every run is appended to <tmp>/stderr.log; the runner prints its
tail when a test fails (every Triad registers itself in INSTANCES).

Environment: TRIAD_BIN (default build/triad under the repository root),
TRIAD_KEEP=1 keeps temp dirs, TRIAD_READY_TIMEOUT (seconds, default 30).
"""

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import prw

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRIAD_BIN = os.environ.get("TRIAD_BIN", os.path.join(REPO, "build", "triad"))
READY_TIMEOUT = float(os.environ.get("TRIAD_READY_TIMEOUT", "30"))

# Every process started by a test (the runner stops leftovers and shows logs).
INSTANCES = []


class Skip(Exception):
    """Raised by a test (or its set-up) to be reported as skipped."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def http_request(port, method, path, body=None, headers=None, timeout=30,
                 host="127.0.0.1"):
    """One request on a fresh connection. headers: dict or list of pairs,
    sent exactly as given (no Host/Accept-Encoding added unless absent)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = {k.lower() for k, _ in pairs}
        conn.putrequest(method, path, skip_host="host" in names,
                        skip_accept_encoding=True)
        for k, v in pairs:
            conn.putheader(k, v)
        if body is not None and "content-length" not in names \
                and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body is not None:
            if "transfer-encoding" in names:
                # chunked: a few chunks of uneven size
                view = memoryview(body)
                step = max(1, len(body) // 3 + 1)
                for i in range(0, len(body), step):
                    chunk = view[i:i + step]
                    conn.send(b"%x\r\n" % len(chunk) + bytes(chunk) + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


class Process:
    """Base: a child process with stderr in a file, stopped by PID."""

    name = "process"

    def __init__(self):
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="tr-%s-" % self.name)
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        INSTANCES.append(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv):
        with open(self.stderr_path, "ab") as f:
            f.write(("\n=== start %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
        self.log_mark = os.path.getsize(self.stderr_path)
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, cwd=self.tmp)
        finally:
            err.close()

    def stop(self, timeout=30):
        """SIGTERM by PID, wait; returns the exit code (None if not running).
        Escalates to SIGKILL after timeout and raises."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("%s pid %d did not exit within %ss of SIGTERM"
                                     % (self.name, self.proc.pid, timeout))
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stderr_tail(self, n=40):
        """The last n lines of stderr; a sanitizer report instead (from its
        first line, its stacks whole), which a tail would cut."""
        try:
            with open(self.stderr_path, "rb") as f:
                lines = f.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        for i, line in enumerate(lines):
            if "ERROR: AddressSanitizer" in line or "runtime error:" in line \
                    or "ERROR: LeakSanitizer" in line:
                report = [x for x in lines[i:] if not x.lstrip().startswith("0x0")]
                return "\n".join(report[:n + 60])
        return "\n".join(lines[-n:])

    def cleanup(self):
        if self.running():
            try:
                self.stop(timeout=10)
            except AssertionError:
                pass
        if not os.environ.get("TRIAD_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


class Triad(Process):
    name = "triad"

    # Flags outside the core contract: if the server rejects one as unknown
    # ("unknown flag ... NAME"), it is dropped with a visible notice.
    OPTIONAL_FLAGS = ("--late-write-grace", "--ingest.creation-grace")

    def __init__(self, extra_args=(), binary=None):
        super().__init__()
        self.binary = binary or TRIAD_BIN
        if not os.path.exists(self.binary):
            raise Skip("triad binary %s not found (set TRIAD_BIN or build it)" % self.binary)
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.port = free_port()
        self.cluster_port = free_port()
        while self.cluster_port == self.port:
            self.cluster_port = free_port()
        self.extra_args = list(extra_args)

    def argv(self):
        return [self.binary, "serve",
                "--http-addr", "127.0.0.1:%d" % self.port,
                "--tempo-http-addr", "",
                "--otlp-grpc-addr", "",
                "--otlp-http-addr", "",
                "--cluster-addr", "127.0.0.1:%d" % self.cluster_port,
                "--data-dir", self.data_dir,
                "--log-level", "info"] + self.extra_args

    def start(self, timeout=READY_TIMEOUT):
        """Start (or restart on the same data dir) and wait for /ready."""
        for _attempt in range(len(self.OPTIONAL_FLAGS) + 1):
            self._spawn(self.argv())
            rc = self._wait_ready(timeout)
            if rc is None:
                return self
            with open(self.stderr_path, "rb") as f:
                f.seek(self.log_mark)
                log = f.read().decode("utf-8", errors="replace")
            dropped = False
            if rc == 2 and "unknown flag" in log:
                for flag in self.OPTIONAL_FLAGS:
                    if flag in self.extra_args and flag in log:
                        i = self.extra_args.index(flag)
                        print("    NOTICE: triad does not know %s; retrying without it" % flag)
                        del self.extra_args[i:i + 2]
                        dropped = True
                        break
            if not dropped:
                raise AssertionError("triad exited with code %s before /ready:\n%s"
                                     % (rc, self.stderr_tail(30)))
        raise AssertionError("triad failed to start")

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return rc
            try:
                r = http_request(self.port, "GET", "/ready", timeout=2)
                if r.status == 200:
                    return None
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("triad not ready within %.0fs:\n%s" % (timeout, self.stderr_tail(30)))

    # ---- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=30):
        return http_request(self.port, method, path, body, headers, timeout)

    def get(self, path, params=None, tenant=None):
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        return self.request("GET", path, headers=tenant_headers(tenant))

    def get_json(self, path, params=None, tenant=None, expect=200):
        r = self.get(path, params, tenant)
        assert r.status == expect, "GET %s %r -> %d %s" % (path, params, r.status, r.text[:500])
        ctype = r.headers.get("content-type", "")
        assert ctype.startswith("application/json"), "content-type %r" % ctype
        return r.json()

    def write_raw(self, body, headers=None, tenant=None, method="POST"):
        h = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
             "X-Prometheus-Remote-Write-Version": "0.1.0"}
        h.update(tenant_headers(tenant))
        if headers:
            h.update(headers)
        h = {k: v for k, v in h.items() if v is not None}
        return self.request(method, "/api/v1/write", body, h)

    def write_v1(self, series, metadata=(), tenant=None, expect=204):
        r = self.write_raw(prw.write_body_v1(series, metadata), tenant=tenant)
        if expect is not None:
            assert r.status == expect, "remote write -> %d %s" % (r.status, r.text[:500])
        return r

    def write_v2(self, series, tenant=None, expect=204):
        r = self.write_raw(prw.write_body_v2(series), tenant=tenant,
                           headers={"Content-Type": prw.V2_CONTENT_TYPE,
                                    "X-Prometheus-Remote-Write-Version": "2.0.0"})
        if expect is not None:
            assert r.status == expect, "remote write 2.0 -> %d %s" % (r.status, r.text[:500])
        return r

    def read(self, matchers, start, end, tenant=None):
        """Remote read of one query. Returns {sorted_labels: [(ts, bits)]}."""
        results = self.read_many([(start, end, matchers)], tenant)
        return results[0]

    def read_many(self, queries, tenant=None):
        body = prw.snappy_compress(prw.encode_read_request(queries))
        h = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
             "X-Prometheus-Remote-Read-Version": "0.1.0"}
        h.update(tenant_headers(tenant))
        r = self.request("POST", "/api/v1/read", body, h, timeout=60)
        assert r.status == 200, "remote read -> %d %s" % (r.status, r.text[:500])
        ctype = r.headers.get("content-type", "")
        assert ctype.startswith("application/x-protobuf"), "read content-type %r" % ctype
        raw = prw.snappy_decompress(r.body)
        results = prw.decode_read_response(raw)
        assert len(results) == len(queries), "read: %d results for %d queries" % (
            len(results), len(queries))
        out = []
        for series in results:
            d = {}
            for labels, samples in series:
                key = prw.sorted_labels(labels)
                assert list(key) == list(labels), "read returned unsorted labels %r" % (labels,)
                assert key not in d, "read returned series %r twice" % (key,)
                ts = [t for t, _ in samples]
                assert ts == sorted(ts) and len(set(ts)) == len(ts), \
                    "read samples not strictly increasing for %r" % (key,)
                d[key] = samples
            out.append(d)
        return out

    def ready(self):
        try:
            r = self.request("GET", "/ready", timeout=5)
            return r.status == 200
        except (OSError, http.client.HTTPException):
            return False


def tenant_headers(tenant):
    return {"X-Scope-OrgID": tenant} if tenant else {}


def now_ms():
    return int(time.time() * 1000)


def start_cluster(n, name_prefix, extra_args=(), timeout=60):
    """n Triad nodes named <prefix>1..n that form one cluster together
    (--bootstrap-expect n, --join every node), started in parallel and
    ready; returns them."""
    nodes = [Triad() for _ in range(n)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "%s%d" % (name_prefix, i + 1),
                         "--bootstrap-expect", str(n), "--join", joins] + list(extra_args)
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        assert t._wait_ready(timeout) is None, t.stderr_tail(30)
    return nodes


def cluster_status(t, secret=None):
    """The `data` of GET /api/v1/status/cluster on node t (200 asserted)."""
    headers = {"X-Triad-Cluster-Secret": secret} if secret else None
    r = t.request("GET", "/api/v1/status/cluster", timeout=10, headers=headers)
    assert r.status == 200, (r.status, r.text[:300])
    return r.json()["data"]


def wait_until(fn, timeout, interval=0.25, what="condition"):
    """Poll fn() until it returns a truthy value; returns it or raises."""
    deadline = time.time() + timeout
    last_exc = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, http.client.HTTPException, AssertionError, ValueError) as e:
            last_exc = e
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s%s" % (
        timeout, what, " (last error: %s)" % last_exc if last_exc else ""))


PROMETHEUS_BIN = os.environ.get(
    "PROMETHEUS_BIN", os.path.join(REPO, "build", "prometheus", "usr", "bin", "prometheus"))

# Newer Prometheus releases, unpacked from Debian trixie/sid by the shared
# tool ../shared/tools/debian-pkg (outside the repository; `make
# prometheus-2.53` / `make prometheus-3.5` do the same):
#   version: (full version, suite, package=version, directory under build/tools,
#             environment variable that overrides the path)
DEBIAN_PKG = os.environ.get("DEBIAN_PKG", os.path.join(REPO, "..", "shared", "tools",
                                                       "debian-pkg"))
PROMETHEUS_VERSIONS = {
    # the PromQL reference: the semantics triad implements
    "2.53": ("2.53.3", "trixie", "prometheus=2.53.3+ds1-2", "prometheus-2.53",
             "PROMETHEUS_2_53_BIN"),
    # current LTS: the benchmark baseline, a remote-write 1.0/2.0 sender
    "3.5": ("3.5.3", "sid", "prometheus=3.5.3+ds1-6", "prometheus-3.5", "PROMETHEUS_3_5_BIN"),
}


def ensure_prometheus(version="2.42"):
    """Path of a Prometheus binary of `version`, fetched if missing.
    "2.42": Debian 12's package unpacked under build/prometheus (what `make
    prometheus` does: apt-get download + dpkg-deb -x). "2.53", "3.5":
    build/tools/prometheus-<version>/usr/bin/prometheus, unpacked by
    ../shared/tools/debian-pkg from a newer Debian suite. Raises Skip (with
    the reason) when it cannot be had: the tool is absent, or the Debian
    mirror cannot be reached."""
    if version != "2.42":
        return _ensure_debian_pkg(version)
    if os.path.exists(PROMETHEUS_BIN):
        return PROMETHEUS_BIN
    if "PROMETHEUS_BIN" in os.environ:
        raise Skip("PROMETHEUS_BIN=%s does not exist" % PROMETHEUS_BIN)
    root = os.path.join(REPO, "build", "prometheus")
    deb = os.path.join(root, "deb")
    os.makedirs(deb, exist_ok=True)
    if subprocess.run(["apt-get", "download", "prometheus"], cwd=deb,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        r = subprocess.run(["apt-get", "download", "prometheus"], cwd=deb, capture_output=True)
        if r.returncode != 0:
            raise Skip("cannot download the prometheus package: %s" % r.stderr.decode()[-300:])
    debs = sorted(glob.glob(os.path.join(deb, "prometheus_*.deb")))
    subprocess.run(["dpkg-deb", "-x", debs[-1], root], check=True)
    return PROMETHEUS_BIN


def _ensure_debian_pkg(version):
    full, suite, pkg, sub, env = PROMETHEUS_VERSIONS[version]
    if os.environ.get(env):
        if not os.path.exists(os.environ[env]):
            raise Skip("%s=%s does not exist" % (env, os.environ[env]))
        return os.environ[env]
    dest = os.path.join(REPO, "build", "tools", sub)
    binary = os.path.join(dest, "usr", "bin", "prometheus")
    if os.path.exists(binary):
        return binary
    if not os.path.exists(DEBIAN_PKG):
        raise Skip("Prometheus %s needs debian-pkg, not found at %s (../shared/tools beside "
                   "the repository)" % (full, os.path.abspath(DEBIAN_PKG)))
    print("    fetching Prometheus %s: debian-pkg %s %s %s" % (full, suite, pkg, dest))
    try:
        r = subprocess.run([DEBIAN_PKG, suite, pkg, dest], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise Skip("Prometheus %s: debian-pkg %s %s timed out (Debian mirror unreachable?)"
                   % (full, suite, pkg))
    if r.returncode != 0 or not os.path.exists(binary):
        raise Skip("Prometheus %s: debian-pkg %s %s failed (exit %d; Debian mirror "
                   "unreachable?): %s" % (full, suite, pkg, r.returncode,
                                          r.stderr.decode(errors="replace").strip()[-300:]))
    return binary


class Prometheus(Process):
    """A Prometheus server (version "2.42": Debian 12's; "2.53", "3.5": see
    ensure_prometheus) with its own config and TSDB in a temp dir."""

    name = "prometheus"

    def __init__(self, config_yaml, extra_args=(), version="2.42"):
        super().__init__()
        self.version = version
        self.binary = ensure_prometheus(version)
        self.port = free_port()
        self.tsdb = os.path.join(self.tmp, "tsdb")
        self.config_path = os.path.join(self.tmp, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write(config_yaml.replace("@PORT@", str(self.port)))
        self.extra_args = list(extra_args)

    def start(self, timeout=60):
        self._spawn([self.binary, "--config.file", self.config_path,
                     "--storage.tsdb.path", self.tsdb,
                     "--web.listen-address", "127.0.0.1:%d" % self.port,
                     "--log.level", "info"] + self.extra_args)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited with %s:\n%s" % (
                    self.proc.returncode, self.stderr_tail(30)))
            try:
                if http_request(self.port, "GET", "/-/ready", timeout=2).status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise AssertionError("prometheus not ready:\n" + self.stderr_tail(30))

    def query(self, expr, at=None):
        """Instant query (at: evaluation time in seconds); returns the
        result list of the JSON."""
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        path = "/api/v1/query?" + urllib.parse.urlencode(params)
        r = http_request(self.port, "GET", path, timeout=10)
        assert r.status == 200, r
        j = r.json()
        assert j["status"] == "success", j
        return j["data"]["result"]
