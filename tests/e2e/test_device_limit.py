"""tests/e2e/test_device_limit.py — a tenant's max_devices crossed, end to end (issue 4).

The tenant allows 3 devices; 5 distinct client addresses of its network (127.0.0.2–.6) ask.
What happens, by design: every query is still answered (the limit is a licensing signal, not
a filter: refusing the 4th device would cut a user off mid-day for a counting matter), and the
crossing is logged once — a warning naming the tenant, the device count and the limit — when
the 4th distinct address appears; more devices past the limit log nothing more.
"""
import re
import time

from policy_fixtures import ask, policy_overrides, rcode, rdatas, describe, tenant

REAL = "192.0.2.1"  # the scripted upstream's answer for any A query
WARNING = "tenant has more devices than max_devices"


def crossings(sk):
    return [l for l in sk.stderr().splitlines() if WARNING in l]


def test_crossing_max_devices_is_logged_once_and_answers_continue(sekishod, scripted):
    sk = sekishod([scripted().address], policy_overrides(
        None, [tenant("acme", ["127.0.0.0/8"], "open", max_devices=3)], {"open": {"block": ["malware"]}}))
    clients = ["127.0.0.%d" % i for i in range(2, 7)]
    for n, client in enumerate(clients, start=1):
        for q in range(2):  # a device asking twice is still one device
            r = ask(sk.port, "d%d-%d.example.net." % (n, q), source=client)
            assert rcode(r) == "NOERROR" and rdatas(r, "A") == {REAL}, describe(r)
        if n == 3:
            time.sleep(0.5)  # the writer thread has seen them all: 3 devices, no crossing yet
            assert crossings(sk) == [], sk.stderr()[-2000:]
    deadline = time.monotonic() + 5
    while not crossings(sk) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the 5th device must not log again
    lines = crossings(sk)
    assert len(lines) == 1, sk.stderr()[-3000:]
    assert re.search(r"\btenant=acme devices=4 max_devices=3\b", lines[0]), lines[0]
    assert sk.alive()
