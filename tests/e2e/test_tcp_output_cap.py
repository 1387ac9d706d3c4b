"""The TCP output cap (README "TCP"): a client that does not read its answers is cut off after
1 MiB of queued output, so one such client cannot make sekishod hold an unbounded amount of memory.

A real sekishod forwarding to knotd; the ~2 kB TXT RRset big.test.example (zones/test.example.zone)
is cached first, so every later query for it is answered at once, about 50 times its size in
output. The client keeps its receive buffer small (SO_RCVBUF before connect, so the kernel cannot
absorb the answers on its behalf), sends a few thousand such queries on one connection without
reading, and only then reads: sekishod must have closed the connection having delivered no more
than the cap plus what the kernels can buffer, far fewer than all the answers. A client that does
read gets every answer on the same kind of connection (the cut is about not reading, not volume).

The number of queries is computed from this host's TCP buffer limits so that "everything
delivered" and "cut off near 1 MiB" cannot be confused; every send and read is bounded in time.
"""
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

from clients import frame, make_query, query_tcp
from metrics_scrape import scrape, start_with_metrics

CAP = 1 << 20                  # README: 1 MiB of queued output
READ_CHUNK = 16384             # sekishod reads a TCP connection 16 KiB at a time
SMALL_RCVBUF = 4096
BIG = "big.test.example."


def sysctl_max(path):
    with open(path) as f:
        return int(f.read().split()[-1])


@pytest.fixture
def server(sekishod, knot):
    # A long idle timeout: the only reason for sekishod to close the connection is the cap. The
    # metrics listener tells when sekishod has stopped taking queries from the connection.
    return start_with_metrics(sekishod, [knot.addresses[0]], {"server": {"tcp": {"idle_timeout_ms": 60000}}})


def tcp_queries(sk):
    return scrape(sk.metrics_port).get(("sekisho_queries_total", 'transport="tcp"'), 0)


def wait_until_server_is_done(sk, expected, deadline):
    """Waits (without reading) until sekishod has taken `expected` TCP queries in all, or has
    taken none for a second (it stopped reading that connection, or closed it). Reading before
    that would let a slow server's answers drain as they are produced, and the test would no
    longer be about a client that does not read."""
    last, still_since = tcp_queries(sk), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = tcp_queries(sk)
        if now >= expected:
            return
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            return


def warm(sk):
    r = query_tcp("127.0.0.1", sk.port, BIG, "TXT", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 10, r
    return len(r.to_wire())


def queries(n, first_id=0):
    """n framed queries for the cached big TXT, ids first_id.. (mod 2^16)."""
    wire = bytearray(make_query(BIG, "TXT", qid=0).to_wire())
    out = []
    for i in range(n):
        struct.pack_into("!H", wire, 0, (first_id + i) & 0xFFFF)
        out.append(frame(bytes(wire)))
    return b"".join(out)


def plan(answer_len):
    """How many queries make the two outcomes impossible to confuse on this host, and the most
    output a cut-off client can possibly receive."""
    framed_answer = answer_len + 2
    query_len = len(frame(make_query(BIG, "TXT").to_wire()))
    # One read's queries are answered together before the queue is looked at again.
    one_read = (READ_CHUNK // query_len + 1) * framed_answer
    kernel = sysctl_max("/proc/sys/net/ipv4/tcp_wmem") + 4 * SMALL_RCVBUF + 65536
    most_if_cut = CAP + one_read + kernel
    n = 2 * most_if_cut // framed_answer + 1
    assert n <= 30000, "tcp_wmem max is %d bytes: too large to test the 1 MiB cap with a bounded load" % kernel
    return n, most_if_cut


def read_all(s, deadline, stop_after):
    """Reads until EOF / reset, or until stop_after bytes; returns (bytes, how it ended)."""
    got = bytearray()
    while len(got) < stop_after:
        if time.monotonic() > deadline:
            return bytes(got), "deadline"
        try:
            chunk = s.recv(1 << 16)
        except ConnectionResetError:
            return bytes(got), "reset"
        except socket.timeout:
            return bytes(got), "timeout"
        if not chunk:
            return bytes(got), "eof"
        got += chunk
    return bytes(got), "complete"


def frames_in(data):
    """The complete RFC 7766 frames at the start of data, as DNS messages (bytes)."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        n = struct.unpack("!H", data[pos:pos + 2])[0]
        if pos + 2 + n > len(data):
            break
        out.append(data[pos + 2:pos + 2 + n])
        pos += 2 + n
    return out


def check_answer(msg, answer_len):
    """A full answer for the big TXT: the length of the first one and NOERROR (the header's low
    nibble); returns its ID. (Parsing thousands of 2 kB answers with dnspython would be the test's
    main cost.)"""
    assert len(msg) == answer_len and msg[3] & 0x0F == 0, dns.message.from_wire(msg)
    return struct.unpack("!H", msg[:2])[0]


def test_a_client_that_does_not_read_is_cut_off_near_1_mib(server):
    answer_len = warm(server)
    n, most_if_cut = plan(answer_len)
    payload = queries(n)

    before = tcp_queries(server)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)  # before connect: sets the window
    s.settimeout(20)
    s.connect(("127.0.0.1", server.port))
    sent_all = True
    try:
        s.sendall(payload)        # not reading meanwhile
    except (ConnectionResetError, BrokenPipeError):
        sent_all = False          # already cut off while we were still sending
    wait_until_server_is_done(server, before + n, time.monotonic() + 60)
    s.settimeout(5)
    data, ended = read_all(s, time.monotonic() + 60, n * (answer_len + 2))
    s.close()

    got = frames_in(data)
    assert ended in ("eof", "reset"), (
        "the connection was not closed: %s after %d of %d answers (%d bytes; sent all queries: %s)"
        % (ended, len(got), n, len(data), sent_all))
    assert len(got) < n, "all %d answers (%d bytes) were delivered to a client that did not read" % (n, len(data))
    assert len(data) <= most_if_cut, (
        "%d bytes reached a client that did not read: more than the 1 MiB cap plus one read's answers "
        "and the kernels' buffers (%d)" % (len(data), most_if_cut))
    for msg in got:
        check_answer(msg, answer_len)
    # Only that connection was cut: sekishod serves on.
    assert server.alive()
    assert query_tcp("127.0.0.1", server.port, BIG, "TXT", timeout=5).rcode() == dns.rcode.NOERROR


def test_a_client_that_reads_gets_every_answer(server):
    """The same volume on one connection, with at most 64 answers (~140 kB) owed at a time: the cap
    is on output queued for a client, not on what a connection may carry."""
    answer_len = warm(server)
    n, _ = plan(answer_len)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    deadline = time.monotonic() + 60
    received = 0
    try:
        for start in range(0, n, 64):
            batch = min(64, n - start)
            s.sendall(queries(batch, first_id=start))
            data, ended = read_all(s, deadline, batch * (answer_len + 2))
            got = frames_in(data)
            assert ended == "complete" and len(got) == batch, \
                "%s after %d of %d answers in all" % (ended, received + len(got), n)
            assert sorted(check_answer(m, answer_len) for m in got) == \
                sorted((start + i) & 0xFFFF for i in range(batch))
            received += batch
    finally:
        s.close()
    assert received == n
