"""Upstream health end to end (README "Upstream selection"): round robin over healthy upstreams,
three consecutive failures mark an upstream down for 5 s (no queries meanwhile, then probed again by
live traffic), and when every upstream is down the one whose back-off ends first is tried.

Scripted upstreams record every query they receive, so each test asserts exactly which upstream got
which query; failures are SERVFAIL answers (immediate, no timeouts to wait for), and whether
sekishod holds an upstream down is read from its own /metrics (sekisho_upstream_up,
sekisho_upstream_failures_total), not inferred from wall time. One event loop (server.threads 1)
makes the round robin's order exact; every query is a fresh name, so nothing comes from the cache.
"""
import itertools
import time

import dns.rcode

from clients import query_udp
from metrics_scrape import start_with_metrics, upstream_series
from netutil import wait_until

ONE_LOOP = {"server": {"threads": 1}, "forwarding": {"timeout_ms": 1000, "attempts": 1}}
_names = itertools.count()


def fresh(tag):
    return "h%d.%s.health.example." % (next(_names), tag)


def owner(name, ups):
    """Which of the named upstreams received `name` (exactly one must have)."""
    got = [label for label, u in ups.items() if u.count(name)]
    assert len(got) == 1, "%s reached %s (%r)" % (name, got or "no upstream",
                                                  {label: u.queries() for label, u in ups.items()})
    return got[0]


def up(sk, u):
    return upstream_series(sk.metrics_port, "sekisho_upstream_up", u.address)


def test_round_robin_spreads_queries_evenly(sekishod, scripted):
    ups = {"a": scripted(), "b": scripted(), "c": scripted()}
    sk = start_with_metrics(sekishod, [u.address for u in ups.values()], ONE_LOOP)
    order = []
    for _ in range(30):
        name = fresh("rr")
        r = query_udp("127.0.0.1", sk.port, name, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, r
        order.append(owner(name, ups))
    # Each consecutive three queries went to all three upstreams, in one fixed rotation.
    assert all(sorted(order[i:i + 3]) == ["a", "b", "c"] for i in range(0, 30, 3)), order
    assert order[3:] == order[:-3], order
    for label, u in ups.items():
        assert u.count() == 10, (label, u.queries())
        assert upstream_series(sk.metrics_port, "sekisho_upstream_queries_total", u.address) == 10


def test_three_failures_mark_an_upstream_down_until_probed_again(sekishod, scripted):
    bad, good = scripted("servfail"), scripted()
    sk = start_with_metrics(sekishod, [bad.address, good.address],
                            {"server": {"threads": 1}, "forwarding": {"timeout_ms": 1000, "attempts": 2}})
    # While `bad` is up, round robin gives it the first attempt of every query (after `good`
    # answered, the rotation is back at `bad`); its SERVFAIL sends the second attempt to `good`.
    for i in range(3):
        assert up(sk, bad) == 1, "marked down after %d failures" % i
        name = fresh("fail")
        r = query_udp("127.0.0.1", sk.port, name, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, r
        assert bad.count(name) == 1 and good.count(name) == 1, (bad.queries(), good.queries())
    assert upstream_series(sk.metrics_port, "sekisho_upstream_failures_total", bad.address) == 3
    assert up(sk, bad) == 0, "three consecutive failures must mark the upstream down"
    assert up(sk, good) == 1

    # Down: no query goes to it, every one goes straight to `good`.
    for _ in range(12):
        name = fresh("down")
        r = query_udp("127.0.0.1", sk.port, name, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, r
        assert good.count(name) == 1
    # Read the gauge after the queries: still down, so all twelve were sent inside the back-off.
    assert up(sk, bad) == 0, "the back-off is 5 s; twelve queries cannot have outlasted it"
    assert bad.count() == 3, "a down upstream was still asked: %r" % bad.queries()

    # The back-off ends by itself (the gauge turns to 1 with no query sent), and live traffic
    # probes the upstream again: the next query's first attempt is `bad`'s, which now answers.
    assert wait_until(lambda: up(sk, bad) == 1, 15, interval=0.2), "still down 15 s after 3 failures"
    assert bad.count() == 3
    bad.behaviour = "normal"
    name = fresh("probe")
    r = query_udp("127.0.0.1", sk.port, name, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR, r
    assert bad.count(name) == 1 and good.count(name) == 0, (bad.queries(), good.queries())
    # The success cleared the failures: round robin over both again.
    names = [fresh("again") for _ in range(4)]
    for n in names:
        assert query_udp("127.0.0.1", sk.port, n, timeout=5).rcode() == dns.rcode.NOERROR
    assert [bad.count(n) for n in names] == [0, 1, 0, 1], (bad.queries(), good.queries())
    assert up(sk, bad) == 1


def test_all_down_the_earliest_back_off_is_tried(sekishod, scripted):
    ups = {"a": scripted(), "b": scripted(), "c": scripted("servfail")}
    sk = start_with_metrics(sekishod, [u.address for u in ups.values()], ONE_LOOP)

    def ask_all(n, gap=0.0):
        got = []
        for _ in range(n):
            time.sleep(gap)
            name = fresh("all")
            query_udp("127.0.0.1", sk.port, name, timeout=5)  # NOERROR or SERVFAIL (one attempt)
            got.append(owner(name, ups))
        return got

    # c fails three times in the rotation and goes down first ...
    assert ask_all(9) == ["a", "b", "c"] * 3
    assert [up(sk, u) for u in ups.values()] == [1, 1, 0]
    # Distinct back-off ends (ms resolution): the order below must not rest on a tie.
    time.sleep(0.05)
    # ... then b (a and b alternate while c is down) ...
    ups["b"].behaviour = "servfail"
    assert ask_all(6) == ["a", "b"] * 3
    assert [up(sk, u) for u in ups.values()] == [1, 0, 0]
    time.sleep(0.05)
    # ... then a, the only one left, and last.
    ups["a"].behaviour = "servfail"
    assert ask_all(3) == ["a"] * 3
    assert [up(sk, u) for u in ups.values()] == [0, 0, 0]

    # All down. The rotation would go on with b (after a); the earliest back-off is c's, then
    # b's, then a's; each failed try restarts that upstream's back-off, so the order is c, b, a.
    # All of this happens well inside the 5 s back-off, which the gauges confirm afterwards.
    # (The gaps keep the restarted back-offs' ends apart on the server's millisecond clock.)
    assert ask_all(3, gap=0.05) == ["c", "b", "a"]
    assert [up(sk, u) for u in ups.values()] == [0, 0, 0]
    # An answer from the one tried brings it back at once.
    ups["c"].behaviour = "normal"
    time.sleep(0.05)
    name = fresh("back")
    r = query_udp("127.0.0.1", sk.port, name, timeout=5)
    assert owner(name, ups) == "c" and r.rcode() == dns.rcode.NOERROR, r
    assert [up(sk, u) for u in ups.values()] == [0, 0, 1]
