"""Wildcard DNS listeners (0.0.0.0, [::]): every UDP answer leaves from the address the query was
sent to, not the kernel's default source, or a client that asked a secondary address (127.0.0.2,
a VIP) drops it as coming from the wrong server.

The clients are connected UDP sockets: the kernel delivers them only datagrams from the address
they sent to, so an answer from the wrong source is simply never seen (a timeout here). Each name
is asked twice per address: the first is a cache miss answered later from upstream
(Worker::deliver), the second a cache hit answered in the receive batch (sendmmsg)."""
import re
import socket

import dns.message
import pytest

from clients import addresses, check_response, dig, kdig, make_query
from netutil import Listen, hostport

V4_TARGETS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


@pytest.fixture
def wildcard(sekishod, knot):
    """sekishod listening on 0.0.0.0:P and [::]:P (sekishod binds [::] IPv6-only); the harness
    retries with another P when one is taken between picking it and the bind."""
    return sekishod([knot.addresses[0]],
                    {"server": {"listen": {"dns": [Listen("0.0.0.0", "dns"), Listen("::", "dns")]}}})


def ask_connected(host, port, name, timeout=2.0):
    """One query over a UDP socket connected to host:port; the parsed answer, or None when nothing
    came from host:port within `timeout`."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    q = make_query(name, "A")
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(q.to_wire())
        try:
            data = s.recv(65535)
        except socket.timeout:
            return None
    finally:
        s.close()
    r = dns.message.from_wire(data)
    check_response(q, r, "udp")
    return r


def test_listening_on_wildcards(wildcard):
    log = wildcard.stderr()
    for addr in (hostport("0.0.0.0", wildcard.port), hostport("::", wildcard.port)):
        assert re.search(r"listening.*address=%s" % re.escape(addr), log), \
            "no listening line for %s:\n%s" % (addr, log[-2000:])


@pytest.mark.parametrize("host", V4_TARGETS)
def test_udp_answer_comes_from_the_address_asked(wildcard, host):
    name = "n%02d.test.example." % (V4_TARGETS.index(host) + 1)
    for attempt in ("miss", "hit"):
        r = ask_connected(host, wildcard.port, name)
        assert r is not None, "%s answer to a query sent to %s:%d never came from that address" % (
            attempt, host, wildcard.port)
        assert addresses(r) == {"198.51.100.%d" % (V4_TARGETS.index(host) + 2)}, r


def test_ipv6_loopback_on_wildcard(wildcard):
    for attempt in ("miss", "hit"):
        r = ask_connected("::1", wildcard.port, "www.test.example.")
        assert r is not None, "%s answer over [::1] never came back" % attempt
        assert addresses(r) == {"192.0.2.1"}, r


def test_many_queries_to_two_addresses_in_one_batch(wildcard):
    """Queries to 127.0.0.2 and 127.0.0.3 interleaved, so one receive batch holds both; every
    answer must name its own query's destination. The name is cached first, so all of them are
    answered in the receive batch."""
    assert ask_connected("127.0.0.1", wildcard.port, "www.test.example.") is not None
    socks = []
    try:
        expected = {}
        for i in range(40):
            host = "127.0.0.2" if i % 2 == 0 else "127.0.0.3"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.settimeout(2.0)
            s.connect((host, wildcard.port))
            q = make_query("www.test.example.", "A")
            expected[s] = q
        for s, q in expected.items():
            s.send(q.to_wire())
        lost = []
        for s, q in expected.items():
            try:
                r = dns.message.from_wire(s.recv(65535))
            except socket.timeout:
                lost.append(s.getpeername()[0])
                continue
            check_response(q, r, "udp")
        assert not lost, "no answer from the asked address for %d queries: %s" % (len(lost), lost)
    finally:
        for s in socks:
            s.close()


def test_kdig_and_dig_to_a_secondary_address(wildcard):
    data, p = kdig("127.0.0.2", wildcard.port, "www.test.example", "A")
    assert data and data.get("RCODE") == 0, "kdig: rc=%d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    data, p = kdig("127.0.0.2", wildcard.port, "www.test.example", "A", tcp=True)
    assert data and data.get("RCODE") == 0, "kdig +tcp: rc=%d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    msg, p = dig("127.0.0.3", wildcard.port, "www.test.example", "A")
    assert msg is not None and msg["status"] == "NOERROR", "dig: %s\n%s" % (p.stdout, p.stderr)
    assert "unexpected source" not in p.stdout + p.stderr, p.stdout + p.stderr
