"""UDP and TCP transport (issue 2): real clients over IPv4 and IPv6, RFC 7766 pipelining and
out-of-order answers, idle timeout, frame errors and the connection limit."""
import socket
import struct
import time

import dns.flags
import dns.rcode
import pytest

from clients import (addresses, dig, frame, kdig, make_query, query_tcp, query_udp, rcode_text,
                     tcp_connect, tcp_read_message, wait_closed)

HOSTS = ["127.0.0.1", "::1"]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_kdig(resolver, host, tcp):
    data, p = kdig(host, resolver.port, "www.test.example", "A", tcp=tcp)
    assert data and "RCODE" in data, "kdig gave no answer: rc=%d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    assert data["RCODE"] == 0, data
    assert data["QR"] and data["RA"], data
    got = [(rr["NAME"], rr["TYPEname"], rr.get("rdataA")) for rr in data.get("answerRRs", [])]
    assert got == [("www.test.example.", "A", "192.0.2.1")], data


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dig(resolver, host, tcp):
    msg, p = dig(host, resolver.port, "www.test.example", "AAAA", tcp=tcp)
    assert msg is not None, "dig gave no message: rc=%d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    assert msg["status"] == "NOERROR", msg
    assert "ra" in msg["flags"].split(), msg
    answers = [a.split() for a in msg.get("ANSWER_SECTION", [])]
    assert [(a[0], a[3], a[4]) for a in answers] == [("www.test.example.", "AAAA", "2001:db8::1")], msg
    assert ("TCP" if tcp else "UDP") in p.stdout


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_cname_chain_and_nxdomain(resolver, transport):
    q = query_udp if transport == "udp" else query_tcp
    r = q("127.0.0.1", resolver.port, "chain1.test.example.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    owners = [rr.name.to_text() for rr in r.answer]
    assert owners == ["chain1.test.example.", "chain2.test.example.", "chain3.test.example.",
                      "www.test.example."], r
    assert addresses(r) == {"192.0.2.1"}
    r = q("::1", resolver.port, "does-not-exist.test.example.", "A")
    assert rcode_text(r) == "NXDOMAIN", r


def test_tcp_pipelining(resolver):
    """RFC 7766 §6.2.1.1: several queries sent at once on one connection are all answered; each
    answer carries its query's ID."""
    names = ["www.test.example."] + ["n%02d.test.example." % i for i in range(9)]
    qs = [make_query(n, "A", qid=1000 + i) for i, n in enumerate(names)]
    s = tcp_connect("127.0.0.1", resolver.port)
    try:
        s.sendall(b"".join(frame(q.to_wire()) for q in qs))
        got = {}
        for _ in qs:
            r = tcp_read_message(s, timeout=3)
            assert r.id not in got, "duplicate answer for ID %d" % r.id
            got[r.id] = r
    finally:
        s.close()
    assert sorted(got) == sorted(q.id for q in qs)
    for q in qs:
        r = got[q.id]
        assert r.question[0].name == q.question[0].name, (q, r)
        assert r.rcode() == dns.rcode.NOERROR, r
        assert r.answer, r
    assert addresses(got[1003]) == {"198.51.100.3"}


def test_tcp_out_of_order(sekishod, scripted):
    """RFC 7766 §7: a slow upstream answer must not hold back a later fast one on the same
    connection."""
    up = scripted()

    def handler(q, transport):
        from upstreams import Action, default_answer
        slow = q.question[0].name.labels[0].lower() == b"slow"
        return Action().send(default_answer(q), 1.0 if slow else 0.0)
    up.handler = handler
    sk = sekishod([up.address], {"forwarding": {"timeout_ms": 3000, "attempts": 1}})
    q1 = make_query("slow.ooo.example.", qid=1)
    q2 = make_query("fast.ooo.example.", qid=2)
    s = tcp_connect("127.0.0.1", sk.port)
    try:
        s.sendall(frame(q1.to_wire()) + frame(q2.to_wire()))
        first = tcp_read_message(s, timeout=4)
        second = tcp_read_message(s, timeout=4)
    finally:
        s.close()
    assert (first.id, second.id) == (2, 1), \
        "answers arrived in order %s; expected the fast one (2) first" % [first.id, second.id]


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_connection_reused(resolver, host):
    """Several sequential queries on one TCP connection."""
    s = tcp_connect(host, resolver.port)
    try:
        for i in range(5):
            q = make_query("n%02d.test.example." % i, "A")
            s.sendall(frame(q.to_wire()))
            r = tcp_read_message(s, timeout=3)
            assert r.id == q.id and addresses(r) == {"198.51.100.%d" % (i + 1)}, r
    finally:
        s.close()


def test_tcp_idle_timeout(sekishod, knot):
    sk = sekishod([knot.addresses[0]], {"server": {"tcp": {"idle_timeout_ms": 1000}}})
    silent = tcp_connect("127.0.0.1", sk.port)
    used = tcp_connect("127.0.0.1", sk.port)
    try:
        q = make_query("www.test.example.")
        used.sendall(frame(q.to_wire()))
        assert tcp_read_message(used, 3).id == q.id
        t_silent = wait_closed(silent, 5)
        t_used = wait_closed(used, 5)
    finally:
        silent.close()
        used.close()
    assert t_silent is not None, "silent connection still open 5 s after connect (idle 1 s)"
    assert 0.5 <= t_silent <= 3.0, "silent connection closed after %.2f s, idle timeout 1 s" % t_silent
    assert t_used is not None, "connection still open after its query with idle timeout 1 s"


def _still_answers(sk, conn):
    q = make_query("www.test.example.")
    conn.sendall(frame(q.to_wire()))
    r = tcp_read_message(conn, 3)
    assert r.id == q.id and addresses(r) == {"192.0.2.1"}
    r = query_udp("127.0.0.1", sk.port, "www.test.example.")
    assert addresses(r) == {"192.0.2.1"}


def test_tcp_truncated_frame_closes_only_that_connection(resolver):
    other = tcp_connect("127.0.0.1", resolver.port)
    bad = tcp_connect("127.0.0.1", resolver.port)
    try:
        wire = make_query("www.test.example.").to_wire()
        # length says 200 bytes, only the query's bytes follow, then the client stops sending
        bad.sendall(struct.pack("!H", 200) + wire)
        bad.shutdown(socket.SHUT_WR)
        t = wait_closed(bad, 5)
        assert t is not None, "server kept a half-closed connection with a truncated frame open 5 s"
        _still_answers(resolver, other)
    finally:
        bad.close()
        other.close()
    assert resolver.alive()


def test_tcp_oversized_frame_closes_only_that_connection(sekishod, knot):
    """A frame far larger than any query (64 KiB of junk) closes that connection before the idle
    timeout (10 s); the server keeps answering other connections."""
    sk = sekishod([knot.addresses[0]], {"server": {"tcp": {"idle_timeout_ms": 10000}}})
    other = tcp_connect("127.0.0.1", sk.port)
    bad = tcp_connect("127.0.0.1", sk.port)
    try:
        junk = make_query("www.test.example.").to_wire()
        junk += b"\xff" * (65535 - len(junk))
        try:
            bad.settimeout(3)
            bad.sendall(struct.pack("!H", 65535) + junk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # closed while we were still sending: fine
        t = wait_closed(bad, 5)
        assert t is not None, "connection with a 65535-byte junk frame still open after 5 s"
        _still_answers(sk, other)
    finally:
        bad.close()
        other.close()
    assert sk.alive()


def test_tcp_connection_limit(sekishod, knot):
    limit = 4
    sk = sekishod([knot.addresses[0]], {"server": {"tcp": {"max_connections": limit}}})
    conns = []
    try:
        for _ in range(limit):
            c = tcp_connect("127.0.0.1", sk.port)
            conns.append(c)
            q = make_query("www.test.example.")
            c.sendall(frame(q.to_wire()))
            assert tcp_read_message(c, 3).id == q.id
        extra = tcp_connect("127.0.0.1", sk.port)
        try:
            q = make_query("www.test.example.")
            try:
                extra.sendall(frame(q.to_wire()))
            except (BrokenPipeError, ConnectionResetError):
                pass
            t = wait_closed(extra, 3)
            assert t is not None, "connection %d beyond max_connections=%d was served / kept open" % (
                limit + 1, limit)
        finally:
            extra.close()
        # the existing ones still work, and UDP is unaffected
        for c in conns:
            q = make_query("www.test.example.")
            c.sendall(frame(q.to_wire()))
            assert tcp_read_message(c, 3).id == q.id
        assert addresses(query_udp("127.0.0.1", sk.port, "www.test.example.")) == {"192.0.2.1"}
        # closing one frees a slot
        conns.pop().close()
        deadline = time.monotonic() + 3
        while True:
            c = tcp_connect("127.0.0.1", sk.port)
            try:
                q = make_query("www.test.example.")
                c.sendall(frame(q.to_wire()))
                if tcp_read_message(c, 2).id == q.id:
                    conns.append(c)
                    break
            except (EOFError, ConnectionResetError, socket.timeout):
                c.close()
                if time.monotonic() > deadline:
                    raise AssertionError("no new TCP connection accepted after one was closed")
                time.sleep(0.1)
    finally:
        for c in conns:
            c.close()
