"""The runtime overrides file (--runtime-config.file), as Mimir/Loki/Tempo
users keep per-tenant limits: read every reload period, stored in the
catalog by the meta leader, shown by GET /api/v1/admin/tenants/limits and
enforced - here a shorter log retention for one tenant drops its logs while
another tenant's stay. Editing the file updates the tenant; a tenant taken
out of the file goes back to the defaults; a file that does not parse
changes nothing and sets triad_runtime_config_last_reload_successful to 0."""

import os
import time

import loki
from triad import Triad, wait_until

DAY = 86_400_000
START = "2030-05-01T00:30:00Z"
START_MS = 1903825800000  # 2030-05-01T00:30:00Z
T = None
PATH = None


def write_file(text):
    tmp = PATH + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, PATH)


def setup_module():
    global T, PATH
    T = Triad(["--debug.fake-clock", START])
    PATH = os.path.join(T.tmp, "overrides.yaml")
    write_file("overrides:\n  team-a:\n    retention_logs: 1d\n    max_series: 50\n"
               "  team-b: {retention_period: 10d}\n")
    T.extra_args += ["--runtime-config.file", PATH, "--runtime-config.reload-period", "1s"]
    T.start()


def teardown_module():
    if T is not None and T.running():
        T.stop()


def limits(tenant):
    return T.get_json("/api/v1/admin/tenants/limits", {"tenant": tenant})["data"]


def metric(name):
    for ln in T.request("GET", "/metrics").text.splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return None


def test_file_sets_tenants():
    wait_until(lambda: limits("team-a")["overridden"], 15, 0.2, "team-a from the file")
    a, b = limits("team-a"), limits("team-b")
    assert a["retention_logs"] == "1d" and a["max_series"] == 50, a
    assert a["retention_metrics"] == "20d", a
    assert b["retention_logs"] == "10d", b  # Loki's name for it
    assert not limits("team-c")["overridden"]
    assert metric("triad_runtime_config_last_reload_successful") == 1


def test_retention_from_the_file_is_enforced():
    ts = START_MS - 60_000
    for tenant in ("team-a", "team-c"):
        loki.push_json(T, [({"app": "ro"}, [(ts * 1_000_000, "hello " + tenant)])],
                       tenant=tenant)
    r = T.request("POST", "/debug/clock?advance=48h", body=b"")
    assert r.status == 200, r.text
    now = int(r.text.strip())

    def lines(tenant):
        resp = loki.query_range(T, '{app="ro"}', (START_MS - DAY) * 1_000_000,
                                now * 1_000_000, tenant=tenant)
        return [line for _, line, _ in loki.entries(resp)]
    wait_until(lambda: lines("team-a") == [], 15, 0.2, "team-a's day-old logs gone")
    assert lines("team-c") == ["hello team-c"]


def test_edit_remove_and_bad_file():
    write_file("overrides:\n  team-a:\n    retention_logs: 2d\n")
    wait_until(lambda: limits("team-a")["retention_logs"] == "2d", 15, 0.2, "edit")
    assert limits("team-a")["max_series"] == 1500000, "a limit left out is the default"
    wait_until(lambda: not limits("team-b")["overridden"], 15, 0.2,
               "team-b, no longer listed, back to the defaults")
    write_file("overrides:\n  team-a:\n    retention_logs: soon\n")
    wait_until(lambda: metric("triad_runtime_config_last_reload_successful") == 0, 15, 0.2,
               "a bad file reported")
    time.sleep(1.5)
    assert limits("team-a")["retention_logs"] == "2d", "the last good values stay"
    with open(T.stderr_path, "rb") as f:
        log = f.read().decode("utf-8", errors="replace")
    assert "runtime overrides: line 3: bad value for" in log, log[-2000:]
    write_file("")
    wait_until(lambda: not limits("team-a")["overridden"], 15, 0.2,
               "an empty file: every tenant it set back to the defaults")
    assert metric("triad_runtime_config_last_reload_successful") == 1
