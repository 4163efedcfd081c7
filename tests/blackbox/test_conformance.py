"""PromQL conformance: Prometheus' PromQL test scripts (tests/conformance/
promqltest.py) and the PromQL compliance queries against Prometheus 2.53.3,
the reference (tests/conformance/compliance.py). Both fail only on a
regression: fewer passes than tests/conformance/expected_*.json. They skip
with a notice when the conformance data (TRIAD_CONFORMANCE_DIR, default
../shared/conformance) is missing; the compliance test also when Prometheus
2.53.3 cannot be had (../shared/tools/debian-pkg or the Debian mirror
unavailable)."""

import os
import sys

from triad import Skip, Triad

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))

import compliance  # noqa: E402
import promqltest  # noqa: E402


def _data_dir(sub):
    d = os.path.join(promqltest.conformance_dir(), sub)
    if not os.path.isdir(d):
        raise Skip("conformance data %s not found (set TRIAD_CONFORMANCE_DIR)" % os.path.abspath(d))
    return d


def test_promqltest():
    d = _data_dir("promqltest")
    files = promqltest.test_files(d)
    assert files, "no .test files in %s" % d
    counts = promqltest.parse_all(files)  # raises on any line it cannot parse
    print("    parsed: " + ", ".join("%s %d" % (n, c) for n, c in counts.items())
          + " (%d evals)" % sum(counts.values()))
    old = os.path.join(d, "v2.42.0")
    if os.path.isdir(old):
        n = sum(promqltest.parse_all(promqltest.test_files(old)).values())
        print("    parsed v2.42.0/: %d evals" % n)
    t = Triad(promqltest.TRIAD_FLAGS).start()
    results = promqltest.run(t.port, files)
    regressions = promqltest.summarize(results, promqltest.load_expected())
    assert not regressions, "promqltest regressions:\n  " + "\n  ".join(regressions)


def test_compliance():
    d = _data_dir("promql-compliance")
    t = Triad(promqltest.TRIAD_FLAGS).start()
    passed, total, _failures = compliance.run_all(triad_port=t.port, directory=d)
    print("promql-compliance: %d/%d passed (failures in %s)" % (
        passed, total, os.path.relpath(compliance.FAILURES_FILE, compliance.REPO)))
    want = compliance.load_expected()
    assert passed >= want, "promql-compliance regression: %d passed, expected at least %d" % (
        passed, want)


def test_logqltest():
    """Loki's LogQL metric-query scripts through the push and query APIs
    (tests/conformance/logqltest.py); fails on fewer passes than
    tests/conformance/expected_logqltest.json."""
    import logqltest
    d = _data_dir("logqltest")
    files = logqltest.test_files(d)
    assert files, "no .logqltest files in %s" % d
    n = sum(sum(1 for c in logqltest.parse_file(f) if c[0] == "eval") for f in files)
    print("    parsed %d files, %d evals" % (len(files), n))
    t = Triad(logqltest.TRIAD_FLAGS).start()
    results = logqltest.run(t.port, files)
    regressions = logqltest.summarize(results, logqltest.load_expected())
    assert not regressions, "logqltest regressions:\n  " + "\n  ".join(regressions)
