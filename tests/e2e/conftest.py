"""Fixtures for the sekishod end-to-end tests.

knot          (session) knotd serving zones/*.zone on 127.0.0.1 and ::1, port from the kernel
scripted      factory:  scripted(behaviour="normal", **kw) -> a started ScriptedUpstream
sekishod      factory:  sekishod(upstreams=[...], overrides={...}) -> a started Sekishod (READY=1 seen)
resolver      a sekishod forwarding to knot (UDP with TCP fallback), default config

Everything listens on loopback only. Each test gets its own sekishod, temp dir and scripted
upstreams; all are stopped at teardown. A sekishod that died by a signal during the test turns the
teardown into an error, and a failing test prints sekishod's stderr.

No silent skips: a test (or a whole module) that skips or xfails fails instead, with the reason,
unless SEKISHO_E2E_ALLOW_SKIPS=1 or SEKISHO_E2E_STANDIN is set (opt-ins CI never sets). CI installs
every tool the tests use (.ci/setup), so a skip there can only hide a regression.

Sanitizers: every program a test starts writes its sanitizer reports (ASan, LeakSanitizer, UBSan)
to a directory of the run's own (sanitizer_reports.py); a test during which a report appeared
fails with it, and a report written after the last test (a module-scoped server stopping) fails the
run. In the ASan tree (SEKISHO_E2E_SANITIZED set by ctest), tests marked
`not_under_sanitizers(reason)` are deselected, the reason printed: they measure what a sanitizer
changes by design (memory held by its allocator), not what the program does.
"""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sanitizer_reports  # noqa: E402
from sekishod import STANDIN, Sekishod  # noqa: E402
from upstreams import KnotUpstream, ScriptedUpstream  # noqa: E402

ALLOW_SKIPS = os.environ.get("SEKISHO_E2E_ALLOW_SKIPS") == "1" or STANDIN != ""
# Before any fixture starts a program: each inherits the options from this process's environment.
SANITIZER_REPORTS = sanitizer_reports.Reports(sanitizer_reports.install())


def pytest_configure(config):
    config.addinivalue_line("markers", "not_under_sanitizers(reason): deselected in the ASan/UBSan "
                            "tree; the reason says what the sanitizer changes that the test measures")


def pytest_collection_modifyitems(config, items):
    if not sanitizer_reports.sanitized_build():
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("not_under_sanitizers") else keep).append(item)
    if not drop:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for item in drop:
        mark = item.get_closest_marker("not_under_sanitizers")
        reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
        if not reason:
            raise pytest.UsageError("%s: not_under_sanitizers needs a reason" % item.nodeid)
        if reporter is not None:
            reporter.write_line("deselected under sanitizers: %s (%s)" % (item.nodeid, reason))
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(autouse=True)
def _no_sanitizer_report():
    """Fails the test if a program it ran (or one still running) wrote a sanitizer report. Autouse
    fixtures are set up first, so this check runs after the test's servers were stopped."""
    yield
    found = SANITIZER_REPORTS.new()
    if found:
        pytest.fail("a program reported an error under a sanitizer during this test:\n"
                    + SANITIZER_REPORTS.describe(found), pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    found = SANITIZER_REPORTS.new()
    if not found:
        SANITIZER_REPORTS.remove_if_empty()
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = ("a program reported an error under a sanitizer after the last test (a module- or "
               "session-scoped server stopping):\n" + SANITIZER_REPORTS.describe(found))
    if reporter is not None:
        reporter.write_line(message)
    else:
        sys.stderr.write(message + "\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(rep):
    if hasattr(rep, "wasxfail"):
        return "xfail: %s" % (rep.wasxfail or "no reason given")
    longrepr = rep.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return "%s (%s:%s)" % (longrepr[2], longrepr[0], longrepr[1])
    return str(longrepr)


def _fail_skip(rep):
    """Turn a skipped report into a failed one that says why it would have skipped."""
    if ALLOW_SKIPS or not rep.skipped:
        return
    rep.outcome = "failed"
    rep.longrepr = ("skipped, which fails unless SEKISHO_E2E_ALLOW_SKIPS=1 is set (CI installs every "
                    "tool and owns every port the tests need): %s" % _skip_reason(rep))
    if hasattr(rep, "wasxfail"):
        del rep.wasxfail


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    _fail_skip(rep)
    setattr(item, "rep_" + rep.when, rep)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module that skips as a whole (pytest.skip(allow_module_level=True), importorskip) is a
    # skipped collection, not a skipped test: it fails too.
    outcome = yield
    _fail_skip(outcome.get_result())


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session")
def knot(tmp_path_factory):
    k = KnotUpstream(tmp_path_factory.mktemp("knot"))
    k.start()
    yield k
    k.stop()


@pytest.fixture
def scripted():
    started = []

    def make(behaviour="normal", **kw):
        u = ScriptedUpstream(behaviour=behaviour, **kw).start()
        started.append(u)
        return u

    yield make
    for u in started:
        u.stop()


@pytest.fixture
def sekishod(tmp_path, request):
    started = []

    def make(upstreams, overrides=None, start=True, name=None):
        s = Sekishod(tmp_path / (name or "sekishod%d" % len(started)), upstreams, overrides,
                     name=name or "sekishod")
        s.expect_exit = False
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    problems = []
    for s in started:
        if s.proc is not None:
            code = s.proc.poll()
            if code is not None and code < 0 and -code != signal.SIGKILL and not s.expect_exit:
                problems.append("sekishod died by signal %d during the test" % -code)
        s.stop()
        if _failed(request) or problems:
            print("----- %s stderr (last 6000 chars) -----" % s.stderr_path)
            print(s.stderr()[-6000:])
            print("----- notifications: %r" % s.notify_lines())
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def resolver(sekishod, knot):
    """sekishod forwarding to knot on 127.0.0.1 (UDP, TCP fallback)."""
    return sekishod([knot.addresses[0]])
