"""The systemd watchdog (README "Operating with systemd"): WATCHDOG=1 pings are sent only while every
event loop is turning, so a wedged loop gets the service restarted.

sekishod runs as systemd runs it: NOTIFY_SOCKET (the harness's socket), WATCHDOG_USEC and
WATCHDOG_PID set to its own pid (a /bin/sh that exports them and execs it, keeping the pid). The
binary is sekishod_test_hooks (tests/hooks/), the same engine with one test-only hook: SIGUSR2 makes
event loop 0 sleep on its own thread, announced on the notify socket by "STATUS=test hook: loop 0
stalled" and "... resumed". Everything sekishod sends arrives, in order, on that one socket, so the
pings are counted before, during and after the stall by their place among those messages, not by
wall time; the error sekishod logs for the stuck loop is read from its stderr.
"""
import os
import pathlib
import signal

import pytest

from clients import query_udp
from netutil import wait_until
from sekishod import Sekishod

WATCHDOG_USEC = 2000000    # a ping every second; a loop silent for over a second withholds them
STALL_MS = 4000            # three or four pings' worth
PING = "WATCHDOG=1"
STALLED, RESUMED = "STATUS=test hook: loop 0 stalled", "STATUS=test hook: loop 0 resumed"
NOT_RESPONDING = 'msg="worker loop not responding; withholding watchdog ping" worker=0'


def hooks_binary():
    if os.environ.get("SEKISHOD_TEST_HOOKS"):
        return os.environ["SEKISHOD_TEST_HOOKS"]
    build = os.environ.get("SEKISHO_BUILD_DIR") or str(pathlib.Path(__file__).resolve().parents[2] / "build")
    return str(pathlib.Path(build) / "tests" / "hooks" / "sekishod_test_hooks")


class WatchdogSekishod(Sekishod):
    """The test-hooks binary started with the watchdog environment systemd gives a service."""

    def argv(self):
        env = "export WATCHDOG_USEC=%d WATCHDOG_PID=$$ SEKISHO_TEST_STALL_MS=%d; exec \"$0\" \"$@\"" % (
            WATCHDOG_USEC, STALL_MS)
        return ["/bin/sh", "-c", env, self.binary, "--config", str(self.config_path)]


@pytest.fixture
def watched(tmp_path, knot, request):
    binary = hooks_binary()
    assert os.access(binary, os.X_OK), \
        "sekishod_test_hooks not built at %s (cmake --build build, or set SEKISHOD_TEST_HOOKS)" % binary
    sk = WatchdogSekishod(tmp_path / "watchdog", [knot.addresses[0]], binary=binary)
    try:
        sk.start()
        yield sk
    finally:
        died = sk.proc is not None and sk.proc.poll() is not None and sk.proc.returncode < 0
        sk.stop()
        rep = getattr(request.node, "rep_call", None)
        if died or (rep is not None and rep.failed):
            print("----- %s (last 6000 chars) -----\n%s" % (sk.stderr_path, sk.stderr()[-6000:]))
            print("----- notifications: %r" % sk.notify_lines())
        assert not died, "sekishod died by signal %d during the test" % -sk.proc.returncode


def pings_after(sk, marker):
    lines = sk.notify_lines()
    return lines[lines.index(marker) + 1:].count(PING) if marker in lines else 0


def test_pings_stop_while_a_loop_is_stuck_and_resume_after(watched):
    sk = watched
    # The loops turn: pings arrive (the first after half of WATCHDOG_USEC).
    assert wait_until(lambda: sk.notify_lines().count(PING) >= 3, 10), \
        "no watchdog pings with WATCHDOG_USEC=%d: %r" % (WATCHDOG_USEC, sk.notify_lines())
    assert query_udp("127.0.0.1", sk.port, "www.test.example.", timeout=3).answer

    sk.signal(signal.SIGUSR2)
    assert sk.wait_notify(RESUMED, STALL_MS / 1000 + 15), \
        "the stall did not end: %r\n%s" % (sk.notify_lines(), sk.stderr()[-3000:])
    lines = sk.notify_lines()
    during = lines[lines.index(STALLED):lines.index(RESUMED)]
    # A ping may still go out in the stall's first second (the loop's last heartbeat is recent);
    # after that every one is withheld, and each withheld ping is logged.
    assert during.count(PING) <= 1, \
        "%d watchdog pings while loop 0 was stuck for %d ms: %r" % (during.count(PING), STALL_MS, during)
    assert sk.stderr().count(NOT_RESPONDING) >= 2, \
        "no 'worker loop not responding' error for loop 0:\n%s" % sk.stderr()[-3000:]

    # Once the loop turns again, so do the pings, and the errors stop.
    assert wait_until(lambda: pings_after(sk, RESUMED) >= 2, 10), \
        "no pings after the loop resumed: %r" % sk.notify_lines()
    errors = sk.stderr().count(NOT_RESPONDING)
    assert wait_until(lambda: pings_after(sk, RESUMED) >= 4, 10), sk.notify_lines()
    assert sk.stderr().count(NOT_RESPONDING) == errors, sk.stderr()[-3000:]
    assert query_udp("127.0.0.1", sk.port, "www.test.example.", timeout=3).answer
