"""Upstream TCP connection reuse (RFC 7766 §6.2.1): with `transport: tcp`, cache misses are
pipelined on a few kept-open connections per loop instead of one connection per query; answers
are matched by ID and question whatever their order; an upstream that closes after each answer
still gets every query answered, and a query the upstream dropped unanswered is sent again; idle connections close after 10 s; a stream that is not DNS
fails the attempt at once; forwarding.tcp_connections_per_upstream and tcp_idle_timeout_ms change
both limits; a connection on which a query timed out with nothing answered since is retired, so
the retry opens a fresh one (one that still answers others stays). /metrics counts the
connections opened, open, retired and the queries re-sent."""
import concurrent.futures
import http.client
import ipaddress
import subprocess
import time

import dns.message
import dns.rcode

from clients import addresses, ede_codes, query_udp
from netutil import Listen
from test_admin import parse_prometheus
from upstreams import Action, default_answer

# sekishod.py starts 2 loops; each keeps up to 4 connections per upstream (TcpPool).
MAX_CONNECTIONS = 2 * 4
SLOW = {"forwarding": {"timeout_ms": 3000, "attempts": 2}}


def _tcp(address):
    return {"address": address, "transport": "tcp"}


def _addr_for(i):
    return str(ipaddress.IPv4Address("10.0.0.0") + i + 1)


def _indexed_handler(delay_for=lambda name: 0.0):
    """Answers qN.reuse.example A with 10.0.x.y (N + 1): an answer given to the wrong query shows."""
    def handler(q, transport):
        name = q.question[0].name.to_text()
        r = default_answer(q)
        label = q.question[0].name.labels[0].decode()
        if label.startswith("q") and label[1:].isdigit():
            r = default_answer(q, addr=_addr_for(int(label[1:])))
        return Action().send(r, delay_for(name))
    return handler


def _ask_all(port, names, workers=32, timeout=6.0):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda n: query_udp("127.0.0.1", port, n, "A", timeout=timeout), names))


def _sockets_to(port):
    """Every TCP socket to 127.0.0.1:port in any state (TIME-WAIT included): connections opened."""
    out = subprocess.run(["ss", "-tanH", "dst", "127.0.0.1:%d" % port], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def _with_metrics(overrides):
    """overrides plus a metrics listener (its port: sk.ports["metrics"] once started)."""
    return dict(overrides, admin={"metrics_listen": [Listen("127.0.0.1", "metrics")]})


def _tcp_series(metrics_port, upstream):
    c = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        assert r.status == 200, text
    finally:
        c.close()
    series = parse_prometheus(text)
    label = 'upstream="%s"' % upstream
    return {name: series[(name, label)] for name in ("sekisho_upstream_tcp_connections_opened_total",
                                                      "sekisho_upstream_tcp_queries_resent_total",
                                                      "sekisho_upstream_tcp_connections_retired_total",
                                                      "sekisho_upstream_tcp_connections_open")}


def test_knot_200_misses_over_few_connections(sekishod, knot):
    sk = sekishod([_tcp(knot.addresses[0])], _with_metrics(SLOW))
    metrics_port = sk.ports["metrics"]
    assert _tcp_series(metrics_port, knot.addresses[0])["sekisho_upstream_tcp_connections_opened_total"] == 0
    before = _sockets_to(knot.port)
    names = ["r%03d.test.example." % i for i in range(200)]
    answers = _ask_all(sk.port, names)
    for name, r in zip(names, answers):
        assert r.rcode() == dns.rcode.NXDOMAIN, (name, r)
        assert r.question[0].name.to_text() == name
        assert [rr.name.to_text() for rr in r.authority] == ["test.example."], r
    opened = _sockets_to(knot.port) - before
    assert 1 <= len(opened) <= MAX_CONNECTIONS, "200 queries over %d connections to knot" % len(opened)
    # /metrics counts the same connections (none has reached its idle timeout yet).
    tcp = _tcp_series(metrics_port, knot.addresses[0])
    assert tcp["sekisho_upstream_tcp_connections_opened_total"] == len(opened), (tcp, opened)
    assert tcp["sekisho_upstream_tcp_connections_open"] == len(opened), (tcp, opened)
    assert tcp["sekisho_upstream_tcp_queries_resent_total"] == 0, tcp


def test_scripted_counts_accepts_and_answers_match(sekishod, scripted):
    up = scripted()
    up.handler = _indexed_handler(lambda name: 0.01)
    sk = sekishod([_tcp(up.address)], SLOW)
    names = ["q%d.reuse.example." % i for i in range(200)]
    answers = _ask_all(sk.port, names)
    for i, r in enumerate(answers):
        assert r.rcode() == dns.rcode.NOERROR, r
        assert addresses(r) == {_addr_for(i)}, (names[i], r)
    assert up.count(transport="tcp") == 200
    assert 1 <= up.tcp_accepts <= MAX_CONNECTIONS, "%d connections for 200 queries" % up.tcp_accepts


def test_out_of_order_answers_matched(sekishod, scripted):
    """q0 is answered 0.8 s late; the others, pipelined on the same connections, overtake it."""
    up = scripted()
    up.handler = _indexed_handler(lambda name: 0.8 if name.startswith("q0.") else 0.2)
    sk = sekishod([_tcp(up.address)], SLOW)
    names = ["q%d.order.example." % i for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        slow = pool.submit(query_udp, "127.0.0.1", sk.port, names[0], "A", 6.0)
        time.sleep(0.05)
        rest = list(pool.map(lambda n: query_udp("127.0.0.1", sk.port, n, "A", timeout=6.0), names[1:]))
        answers = [slow.result()] + rest
    for i, r in enumerate(answers):
        assert addresses(r) == {_addr_for(i)}, (names[i], r)
    seen = up.queries(transport="tcp")
    first = [s for s in seen if s.qname == names[0]][0]
    overtaking = [s for s in seen if s.peer == first.peer and s.time > first.time and s.time < first.time + 0.5]
    assert overtaking, "no query was pipelined behind the slow one: %r" % seen
    assert up.tcp_accepts <= MAX_CONNECTIONS


def test_upstream_closing_after_each_answer(sekishod, scripted):
    up = scripted()
    up.handler = _indexed_handler(lambda name: 0.02)
    up.tcp_close_after_answer = True
    sk = sekishod([_tcp(up.address)], SLOW)
    names = ["q%d.close.example." % i for i in range(60)]
    answers = _ask_all(sk.port, names, workers=20)
    for i, r in enumerate(answers):
        assert r.rcode() == dns.rcode.NOERROR, (names[i], r)
        assert addresses(r) == {_addr_for(i)}, (names[i], r)
    assert up.tcp_accepts >= 60  # one answer per connection


def test_query_on_a_connection_the_upstream_closes_is_resent(sekishod, scripted):
    """The upstream drops the connection with our query unanswered (as a server closing an idle
    connection just as we use it): the query goes out again on a new connection within the same
    attempt, so even with a single attempt the client gets its answer."""
    up = scripted()
    sk = sekishod([_tcp(up.address)], _with_metrics({"forwarding": {"timeout_ms": 2000, "attempts": 1}}))
    metrics_port = sk.ports["metrics"]
    up.tcp_close_unanswered = 1
    r = query_udp("127.0.0.1", sk.port, "dropped.reuse.example.", timeout=4)
    assert r.rcode() == dns.rcode.NOERROR, r
    assert addresses(r) == {"192.0.2.1"}, r
    assert up.count("dropped.reuse.example.", transport="tcp") == 2
    assert up.tcp_accepts == 2
    tcp = _tcp_series(metrics_port, up.address)
    assert tcp["sekisho_upstream_tcp_queries_resent_total"] == 1, tcp
    assert tcp["sekisho_upstream_tcp_connections_opened_total"] == 2, tcp
    assert tcp["sekisho_upstream_tcp_connections_open"] == 1, tcp  # the first one was closed by the upstream


def test_idle_connections_close_after_timeout(sekishod, scripted):
    up = scripted()
    sk = sekishod([_tcp(up.address)], SLOW)
    for i in range(10):  # one after the other: one connection per loop carries them all
        r = query_udp("127.0.0.1", sk.port, "idle%d.reuse.example." % i, timeout=4)
        assert addresses(r) == {"192.0.2.1"}, r
    opened = up.tcp_accepts
    assert 1 <= opened <= 2, "%d connections for 10 queries one after the other" % opened
    time.sleep(2)
    assert up.tcp_peer_closes == 0, "closed before the idle timeout"
    deadline = time.monotonic() + 12
    while up.tcp_peer_closes < opened and time.monotonic() < deadline:
        time.sleep(0.2)
    assert up.tcp_peer_closes == opened, "idle connections still open 14 s after their last answer"
    assert up.tcp_accepts == opened


def test_non_dns_stream_fails_the_attempt_at_once(sekishod, scripted):
    up = scripted()
    up.handler = lambda q, transport: Action().send(b"\x01\x02\x03")  # a 3-byte "message"
    sk = sekishod([_tcp(up.address)], SLOW)
    t0 = time.monotonic()
    r = query_udp("127.0.0.1", sk.port, "garbage.reuse.example.", timeout=8)
    took = time.monotonic() - t0
    assert r.rcode() == dns.rcode.SERVFAIL, r
    assert 23 in ede_codes(r), "EDE %s" % ede_codes(r)
    assert took < 1.5, "garbage waited for the %d ms timeout (%.1f s)" % (SLOW["forwarding"]["timeout_ms"], took)


def test_configured_limits_one_connection_short_idle(sekishod, scripted):
    """tcp_connections_per_upstream: 1 pipelines 40 concurrent misses on one connection per loop;
    tcp_idle_timeout_ms: 300 closes them well before the default 10 s."""
    up = scripted()
    up.handler = _indexed_handler(lambda name: 0.05)
    config = dict(SLOW, forwarding=dict(SLOW["forwarding"], tcp_connections_per_upstream=1, tcp_idle_timeout_ms=300))
    sk = sekishod([_tcp(up.address)], config)
    names = ["q%d.limit.example." % i for i in range(40)]
    answers = _ask_all(sk.port, names, workers=40)
    for i, r in enumerate(answers):
        assert addresses(r) == {_addr_for(i)}, (names[i], r)
    assert 1 <= up.tcp_accepts <= 2, "%d connections with a limit of 1 per loop (2 loops)" % up.tcp_accepts
    deadline = time.monotonic() + 3
    while up.tcp_peer_closes < up.tcp_accepts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert up.tcp_peer_closes == up.tcp_accepts, "idle connections still open after 3 s with a 300 ms timeout"


ONE_LOOP_QUICK_TIMEOUT = {"server": {"threads": 1},
                          "forwarding": {"timeout_ms": 400, "attempts": 2, "tcp_connections_per_upstream": 1}}


def test_silent_connection_retired_and_the_retry_opens_a_fresh_one(sekishod, scripted):
    """The upstream's first TCP connection is accepted but never read (a hung server process).
    The first attempt times out on it; the retry must not queue behind it again but open a new
    connection and get the answer. Fails when the pool keeps the silent connection: the retry
    goes back to it (idle, under the limit of 1) and the query ends in SERVFAIL."""
    up = scripted()
    up.tcp_hang_connections = 1
    sk = sekishod([_tcp(up.address)], _with_metrics(ONE_LOOP_QUICK_TIMEOUT))
    metrics_port = sk.ports["metrics"]
    r = query_udp("127.0.0.1", sk.port, "hung.retire.example.", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == {"192.0.2.1"}, r
    assert up.tcp_accepts == 2, "%d connections: the retry did not open a new one" % up.tcp_accepts
    assert up.count("hung.retire.example.", transport="tcp") == 1  # the hung one never read its copy
    # The retired connection closes (nothing is left on it); the new one stays for reuse.
    tcp = _tcp_series(metrics_port, up.address)
    assert tcp["sekisho_upstream_tcp_connections_retired_total"] == 1, tcp
    assert tcp["sekisho_upstream_tcp_connections_opened_total"] == 2, tcp
    assert tcp["sekisho_upstream_tcp_connections_open"] == 1, tcp
    # Later queries go on the fresh connection.
    assert addresses(query_udp("127.0.0.1", sk.port, "after.retire.example.")) == {"192.0.2.1"}
    assert up.tcp_accepts == 2


def test_connection_answering_others_is_kept_when_one_query_times_out(sekishod, scripted):
    """One slow answer is not a dead connection: while slow.keep.example waits (its attempts
    time out), other queries on the same connection are answered, so it is not retired."""
    up = scripted()

    def handler(q, transport):
        name = q.question[0].name.to_text()
        return Action().send(default_answer(q), 2.0 if name.startswith("slow.") else 0.0)

    up.handler = handler
    sk = sekishod([_tcp(up.address)], _with_metrics(ONE_LOOP_QUICK_TIMEOUT))
    metrics_port = sk.ports["metrics"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(query_udp, "127.0.0.1", sk.port, "slow.keep.example.", "A", timeout=5)
        time.sleep(0.05)
        for i in range(12):  # answered on the same connection every 100 ms while the slow one waits
            assert addresses(query_udp("127.0.0.1", sk.port, "f%d.keep.example." % i)) == {"192.0.2.1"}
            time.sleep(0.1)
        slow.result()
    tcp = _tcp_series(metrics_port, up.address)
    assert tcp["sekisho_upstream_tcp_connections_retired_total"] == 0, tcp
    assert up.tcp_accepts == 1, "%d connections for one loop with a limit of 1" % up.tcp_accepts

