#!/usr/bin/env python3
"""run.py - black-box test runner (stdlib only).

Discovers tests/blackbox/test_*.py (sorted), and in each module runs
setup_module() if present, then every function named test_* in the order it
is defined, then teardown_module(). Prints one line per test and finally
"N passed, M failed" (", K skipped" when some were skipped); exits 1 on any
failure.

  python3 tests/blackbox/run.py [-k FILTER] [-v] [-x]

-k FILTER  run only tests whose "module.function" contains FILTER
           (several -k are OR-ed)
-x         stop at the first failure
-v         print stderr tails of triad processes for passing tests too

A test fails when it raises; triad.Skip marks it skipped. Each test has a
wall-clock limit (TRIAD_TEST_TIMEOUT seconds, default 180). On failure the
runner prints the traceback and the stderr tail of every process the test
(or its module set-up) started.
"""

import argparse
import glob
import importlib.util
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import triad  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("TRIAD_TEST_TIMEOUT", "180"))


class Timeout(Exception):
    pass


def _alarm(_sig, _frame):
    raise Timeout("test exceeded %ds (TRIAD_TEST_TIMEOUT)" % TEST_TIMEOUT)


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tests_of(mod):
    fns = [(n, f) for n, f in vars(mod).items()
           if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
    fns.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    return fns


def show_logs(procs, indent="    "):
    for p in procs:
        tail = p.stderr_tail(40)
        print("%s--- %s stderr tail (%s) ---" % (indent, p.name, p.stderr_path))
        for line in tail.splitlines():
            print(indent + line)


def call(fn):
    signal.alarm(TEST_TIMEOUT)
    try:
        fn()
    finally:
        signal.alarm(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-x", action="store_true")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)

    passed = failed = skipped = 0
    t_all = time.time()
    stop = False
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        if stop:
            break
        modname = os.path.splitext(os.path.basename(path))[0]
        try:
            mod = load(path)
        except Exception:
            print("FAIL %s (import)" % modname)
            traceback.print_exc(file=sys.stdout)
            failed += 1
            continue
        selected = [(n, f) for n, f in tests_of(mod)
                    if not args.k or any(k in "%s.%s" % (modname, n) for k in args.k)]
        if not selected:
            continue
        module_procs_start = len(triad.INSTANCES)
        setup_error = None
        if hasattr(mod, "setup_module"):
            try:
                call(mod.setup_module)
            except triad.Skip as e:
                setup_error = ("skip", str(e))
            except BaseException as e:  # noqa: BLE001 - reported below
                if isinstance(e, KeyboardInterrupt):
                    raise
                setup_error = ("fail", traceback.format_exc())
        module_procs = triad.INSTANCES[module_procs_start:]
        for name, fn in selected:
            label = "%s.%s" % (modname, name)
            if setup_error:
                kind, msg = setup_error
                if kind == "skip":
                    skipped += 1
                    print("SKIP %s: %s" % (label, msg))
                else:
                    failed += 1
                    print("FAIL %s (setup_module)" % label)
                    print("    " + msg.replace("\n", "\n    "))
                    show_logs(module_procs)
                continue
            n0 = len(triad.INSTANCES)
            t0 = time.time()
            try:
                call(fn)
                outcome, detail = "PASS", None
            except triad.Skip as e:
                outcome, detail = "SKIP", str(e)
            except BaseException:  # noqa: BLE001
                if sys.exc_info()[0] is KeyboardInterrupt:
                    raise
                outcome, detail = "FAIL", traceback.format_exc()
            dt = time.time() - t0
            procs = triad.INSTANCES[n0:]
            if outcome == "PASS":
                passed += 1
                print("PASS %s (%.1fs)" % (label, dt))
                if args.v:
                    show_logs(procs + module_procs)
            elif outcome == "SKIP":
                skipped += 1
                print("SKIP %s: %s" % (label, detail))
            else:
                failed += 1
                print("FAIL %s (%.1fs)" % (label, dt))
                print("    " + detail.rstrip().replace("\n", "\n    "))
                show_logs(procs + module_procs)
            for p in procs:
                p.cleanup()
            sys.stdout.flush()
            if outcome == "FAIL" and args.x:
                stop = True
                break
        if hasattr(mod, "teardown_module") and not (setup_error and setup_error[0] == "skip"):
            try:
                call(mod.teardown_module)
            except BaseException:  # noqa: BLE001
                print("FAIL %s.teardown_module" % modname)
                traceback.print_exc(file=sys.stdout)
                failed += 1
        for p in module_procs:
            p.cleanup()
    for p in triad.INSTANCES:
        p.cleanup()

    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print("(%.1fs)" % (time.time() - t_all))
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
