"""Bad input (issue 2): an unreadable header is dropped, QDCOUNT != 1 and other malformed queries get
FORMERR, unknown opcodes NOTIMP, QR=1 is ignored; garbage never crashes or wedges the server."""
import random
import socket
import struct

import dns.message
import dns.opcode
import dns.rcode
import pytest

from clients import (addresses, frame, make_query, query_udp, tcp_connect, tcp_read_message,
                     udp_exchange_raw, udp_send_raw, wait_closed)


def header(qid=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = b"\x03www\x04test\x07example\x00" + struct.pack("!HH", 1, 1)


def reply(resolver, wire, timeout=1.0):
    data = udp_exchange_raw("127.0.0.1", resolver.port, wire, timeout)
    return None if data is None else data


def parse_header(data):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 0xF, "rcode": flags & 0xF,
            "qd": qd, "an": an}


def assert_alive(resolver):
    r = query_udp("127.0.0.1", resolver.port, "www.test.example.", timeout=2)
    assert addresses(r) == {"192.0.2.1"}, r
    assert resolver.alive()


def assert_tcp_answers(s):
    """A well-formed query on TCP connection `s` gets its answer."""
    q = make_query("www.test.example.")
    s.sendall(frame(q.to_wire()))
    assert tcp_read_message(s, 3).id == q.id


@pytest.mark.parametrize("size", [0, 1, 2, 5, 11])
def test_short_garbage_gets_no_answer(resolver, size):
    data = reply(resolver, bytes(range(0x40, 0x40 + size)), timeout=0.7)
    assert data is None, "a %d-byte datagram was answered: %r" % (size, data)
    assert_alive(resolver)


@pytest.mark.parametrize("qd", [0, 2])
def test_qdcount_not_one_formerr(resolver, qd):
    body = QUESTION * qd
    data = reply(resolver, header(qd=qd) + body)
    assert data is not None, "QDCOUNT=%d got no answer; expected FORMERR" % qd
    h = parse_header(data)
    assert h["id"] == 0x4242 and h["qr"] == 1
    assert h["rcode"] == dns.rcode.FORMERR, "QDCOUNT=%d answered with rcode %d" % (qd, h["rcode"])
    assert h["an"] == 0
    assert_alive(resolver)


@pytest.mark.parametrize("cut", [3, 8, len(QUESTION) - 2], ids=["in-label", "mid-name", "in-type"])
def test_truncated_question_formerr(resolver, cut):
    data = reply(resolver, header() + QUESTION[:cut])
    assert data is not None, "truncated question got no answer; expected FORMERR"
    h = parse_header(data)
    assert h["id"] == 0x4242 and h["qr"] == 1
    assert h["rcode"] == dns.rcode.FORMERR, "rcode %d" % h["rcode"]
    assert_alive(resolver)


def test_bad_label_formerr(resolver):
    # a compression pointer pointing forward / at itself inside the question
    data = reply(resolver, header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1))
    assert data is not None
    h = parse_header(data)
    assert h["qr"] == 1 and h["rcode"] == dns.rcode.FORMERR, h
    assert_alive(resolver)


@pytest.mark.parametrize("opcode", [1, 3, 6, 15])
def test_unknown_opcode_notimp(resolver, opcode):
    flags = 0x0100 | (opcode << 11)
    data = reply(resolver, header(flags=flags) + QUESTION)
    assert data is not None, "opcode %d got no answer; expected NOTIMP" % opcode
    h = parse_header(data)
    assert h["id"] == 0x4242 and h["qr"] == 1
    assert h["opcode"] == opcode
    assert h["rcode"] == dns.rcode.NOTIMP, "opcode %d answered with rcode %d" % (opcode, h["rcode"])
    assert_alive(resolver)


def test_qr_set_is_ignored(resolver):
    data = reply(resolver, header(flags=0x8100) + QUESTION, timeout=0.7)
    assert data is None, "a message with QR=1 was answered: %r" % data
    assert_alive(resolver)


def test_qr_set_over_tcp_not_answered(resolver):
    s = tcp_connect("127.0.0.1", resolver.port)
    try:
        s.sendall(frame(header(flags=0x8100, qid=1) + QUESTION))
        q = make_query("www.test.example.", qid=2)
        s.sendall(frame(q.to_wire()))
        r = tcp_read_message(s, 3)
        assert r.id == 2, "first message on the connection answered was ID %d (QR=1 must be ignored)" % r.id
    except (EOFError, ConnectionResetError):
        pass  # closing the connection is also acceptable
    finally:
        s.close()
    assert_alive(resolver)


def test_random_garbage_burst_then_normal_query(resolver):
    rng = random.Random(20240502)
    wires = []
    for i in range(600):
        n = rng.choice([1, 5, 12, 13, 20, 40, 100, 300, 512, 1400])
        b = bytearray(rng.getrandbits(8) for _ in range(n))
        if i % 3 == 0 and n >= 12:
            b[2] &= 0x7F      # QR=0 so it reaches the query decoder
            b[4:6] = b"\x00\x01"
        wires.append(bytes(b))
    for chunk in range(0, len(wires), 100):
        udp_send_raw("127.0.0.1", resolver.port, wires[chunk:chunk + 100])
        udp_send_raw("::1", resolver.port, wires[chunk:chunk + 100])
    assert_alive(resolver)
    # mutated real queries: flip bits in a valid query
    base = make_query("www.test.example.", edns=0).to_wire()
    for i in range(300):
        b = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        udp_send_raw("127.0.0.1", resolver.port, [bytes(b)])
    assert_alive(resolver)


def test_garbage_over_tcp_does_not_wedge(resolver):
    rng = random.Random(7)
    for i in range(20):
        s = tcp_connect("127.0.0.1", resolver.port)
        try:
            s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 3, 50, 600]))))
            s.shutdown(socket.SHUT_WR)
            wait_closed(s, 2)
        except OSError:
            pass
        finally:
            s.close()
    assert_alive(resolver)
    s = tcp_connect("127.0.0.1", resolver.port)
    try:
        assert_tcp_answers(s)
    finally:
        s.close()


def test_formerr_over_tcp_keeps_connection_usable(resolver):
    s = tcp_connect("127.0.0.1", resolver.port)
    try:
        s.sendall(frame(header(qd=2, qid=9) + QUESTION * 2))
        n = struct.unpack("!H", s.recv(2))[0]
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            assert chunk
            data += chunk
        assert parse_header(data)["rcode"] == dns.rcode.FORMERR
        assert_tcp_answers(s)
    finally:
        s.close()


def test_non_in_class_and_meta_types(resolver):
    """Queries sekishod should not forward blindly must still get an answer, never a hang."""
    for rdtype in ("AXFR", "IXFR"):
        q = make_query("test.example.", rdtype)
        r = query_udp("127.0.0.1", resolver.port, q, timeout=3, check=False)
        assert r.id == q.id and r.rcode() in (dns.rcode.NOTIMP, dns.rcode.REFUSED,
                                               dns.rcode.FORMERR), r
    assert_alive(resolver)
