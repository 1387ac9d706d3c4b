"""Connections and descriptors under attack (issue 19, item 3), with real sockets on loopback:

- a TCP or DoT frame trickled in byte by byte is cut off at server.tcp.frame_timeout_ms from its
  first byte, long before the idle timeout that every byte used to renew; whole frames spaced
  wider than that deadline are still answered on the same connection;
- server.tcp.max_connections_per_address: the connection over the cap from one address is closed
  at once while other addresses (Python sockets, kdig +tcp) are served;
- with tenants configured, a plain TCP client in no tenant's network is closed on accept (UDP
  still answers it REFUSED + EDE 18), and a DoT client there without a device token is closed
  after the handshake while one with a token is served;
- under `prlimit --nofile=256`, a flood of uncached names toward a silent upstream is answered
  SERVFAIL + EDE 0 once the loop's upstream sockets are in use (counted, logged), while TCP
  clients are still accepted and cached names answered, and the server resolves again after.

Every count asserted is sekishod's own (/metrics); wall-time bounds are kept far from the
behaviour they separate (a 1 s frame deadline against a 30 s idle timeout).
"""
import random
import re
import socket
import ssl
import subprocess
import threading
import time

import dns.message
import dns.rcode
import pytest

from clients import KDIG, frame, kdig, make_query, query_tcp, query_udp, tcp_read_message, wait_closed
from metrics_scrape import scrape, start_with_metrics
from netutil import Listen, wait_until
from policy_fixtures import ask, edes, kdig_from
from sekishod import deep_merge
from tls_fixtures import PUBLIC_NAME, TOKEN, encrypted_config, make_pki, tls_context

FRAME_TIMEOUT_MS = 1000
IDLE_MS = 30000
NAME = "www.test.example."


def closed(sk, reason):
    return scrape(sk.metrics_port).get(("sekisho_tcp_connections_closed_total", 'reason="%s"' % reason), 0)


def connect_from(source, port, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(s, name=NAME):
    q = make_query(name, "A")
    s.sendall(frame(q.to_wire()))
    r = tcp_read_message(s, timeout=3)
    assert r.id == q.id and r.rcode() == dns.rcode.NOERROR, r
    return r


def trickle(send, data, every, still_open):
    """Sends data one byte at a time, `every` seconds apart, until the server closes; returns
    (bytes sent when it closed or None, seconds from the first byte)."""
    t0 = time.monotonic()
    for i in range(len(data)):
        try:
            send(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return i, time.monotonic() - t0
        time.sleep(every)
        if not still_open():
            return i + 1, time.monotonic() - t0
    return None, time.monotonic() - t0


def peer_open(s):
    """False once the peer has closed `s` (EOF or reset). What it sent before (DoT: session
    tickets) is read and dropped, so that the end behind it can be seen."""
    s.setblocking(False)
    try:
        while True:
            if s.recv(65536) == b"":
                return False
    except BlockingIOError:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False
    finally:
        s.setblocking(True)


@pytest.fixture
def tcp_server(sekishod, knot):
    return start_with_metrics(sekishod, [knot.addresses[0]], {
        "server": {"tcp": {"idle_timeout_ms": IDLE_MS, "frame_timeout_ms": FRAME_TIMEOUT_MS,
                           "max_connections_per_address": 4}}})


# ------------------------------------------------------------------------------------- slowloris

def test_trickled_tcp_frame_is_cut_at_its_deadline(tcp_server):
    sk = tcp_server
    # A long name, so that trickling the whole frame would take far longer than the deadline.
    data = frame(make_query("a-rather-long-label-to-trickle-in." * 3 + "test.example.", "A").to_wire())
    s = connect_from("127.0.0.5", sk.port)
    try:
        sent, took = trickle(s.send, data[:-1], 0.2, lambda: peer_open(s))
    finally:
        s.close()
    assert sent is not None, "a frame trickled for %.1f s (every byte renewing the idle timer) was never cut" % took
    assert took < IDLE_MS / 1000 / 2, "cut after %.1f s: the idle timeout, not the frame deadline" % took
    assert closed(sk, "frame_timeout") == 1
    # Only that connection: a real client is served over TCP.
    data_k, p = kdig("127.0.0.1", sk.port, "www.test.example", "A", tcp=True)
    assert data_k and data_k.get("RCODE") == 0, p.stdout + p.stderr


def test_whole_frames_spaced_wider_than_the_deadline_are_answered(tcp_server):
    """The deadline is per frame: a client idle between whole frames keeps its connection."""
    sk = tcp_server
    s = connect_from("127.0.0.6", sk.port)
    try:
        for _ in range(3):
            exchange(s)
            time.sleep(FRAME_TIMEOUT_MS / 1000 * 1.3)
        exchange(s)
    finally:
        s.close()
    assert closed(sk, "frame_timeout") == 0


def dot_handshake(pki, port, source="127.0.0.1", sni=PUBLIC_NAME):
    """A DoT client over memory BIOs, so the test decides how its ciphertext reaches the socket."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(5)
    raw.bind((source, 0))
    raw.connect(("127.0.0.1", port))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context(pki, ["dot"]).wrap_bio(incoming, outgoing, server_hostname=sni)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            chunk = raw.recv(65536)
            if not chunk:
                raise EOFError("closed during the handshake")
            incoming.write(chunk)
    raw.sendall(outgoing.read())
    return raw, tls, incoming, outgoing


@pytest.fixture
def dot_server(sekishod, knot, tmp_path):
    pki = make_pki(tmp_path / "pki")
    cfg = deep_merge(encrypted_config(pki), {
        "server": {"tcp": {"idle_timeout_ms": IDLE_MS, "frame_timeout_ms": FRAME_TIMEOUT_MS,
                           "max_connections_per_address": 3}},
        "admin": {"metrics_listen": [Listen("127.0.0.1", "metrics")]}})
    sk = sekishod([knot.addresses[0]], cfg)
    sk.metrics_port, sk.dot_port, sk.doh_port, sk.pki = sk.ports["metrics"], sk.ports["dot"], sk.ports["doh"], pki
    return sk


@pytest.mark.parametrize("how", ["tls_record_split", "frame_split_into_records"])
def test_trickled_dot_frame_is_cut_at_its_deadline(dot_server, how):
    """Bytes of one TLS record trickled (the record never decrypts), or one TLS record per byte of
    the frame (each decrypts, the frame never completes): cut at the frame deadline either way."""
    sk = dot_server
    raw, tls, _, outgoing = dot_handshake(sk.pki, sk.dot_port)
    data = frame(make_query("a-rather-long-label-to-trickle-in." * 3 + "test.example.", "A").to_wire())
    try:
        if how == "tls_record_split":
            tls.write(data)
            sent, took = trickle(raw.send, outgoing.read()[:-1], 0.2, lambda: peer_open(raw))
        else:
            def send_record(b):
                tls.write(b)
                raw.sendall(outgoing.read())
            sent, took = trickle(send_record, data[:-1], 0.2, lambda: peer_open(raw))
    finally:
        raw.close()
    assert sent is not None, "a DoT frame trickled for %.1f s was never cut (%s)" % (took, how)
    assert took < IDLE_MS / 1000 / 2, "cut after %.1f s: the idle timeout, not the frame deadline" % took
    assert closed(sk, "frame_timeout") == 1


# -------------------------------------------------------------------------------- per-address cap

def test_connections_per_address_are_capped(tcp_server):
    sk = tcp_server
    held = [connect_from("127.0.0.2", sk.port) for _ in range(4)]
    try:
        for s in held:
            exchange(s)
        extra = connect_from("127.0.0.2", sk.port)
        waited = wait_closed(extra, 5)
        extra.close()
        assert waited is not None, "a fifth connection from 127.0.0.2 was kept (cap 4)"
        assert closed(sk, "per_address_limit") == 1
        # Other addresses are served meanwhile, and the held connections still are.
        other = connect_from("127.0.0.3", sk.port)
        exchange(other)
        other.close()
        data, p = kdig("127.0.0.1", sk.port, "www.test.example", "A", tcp=True)
        assert data and data.get("RCODE") == 0, p.stdout + p.stderr
        for s in held:
            exchange(s)
        # One closes: a new connection from that address is taken again.
        held.pop().close()

        def served_again():
            s = connect_from("127.0.0.2", sk.port)
            try:
                exchange(s)
                return True
            except (EOFError, ConnectionResetError, socket.timeout):
                return False
            finally:
                s.close()
        wait_until(served_again, 5, interval=0.1, what="a connection from 127.0.0.2 served after one closed")
    finally:
        for s in held:
            s.close()


def kdig_doh(sk):
    cmd = [KDIG, "@127.0.0.1", "-p", str(sk.doh_port), "+https=/dns-query", "+tls-ca=%s" % sk.pki["ca"],
           "+tls-hostname=%s" % PUBLIC_NAME, "+timeout=3", "+retry=0", "www.test.example", "A"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=15)


def test_tcp_dot_and_doh_share_one_count_per_address(dot_server):
    sk = dot_server  # max_connections_per_address: 3
    dots = [dot_handshake(sk.pki, sk.dot_port)[0] for _ in range(2)]
    plain = connect_from("127.0.0.1", sk.port)
    try:
        exchange(plain)
        doh = connect_from("127.0.0.1", sk.doh_port)  # the fourth from 127.0.0.1
        waited = wait_closed(doh, 5)
        doh.close()
        assert waited is not None, "a DoH connection over the per-address cap was kept"
        assert scrape(sk.metrics_port).get(
            ("sekisho_doh_connections_closed_total", 'reason="per_address_limit"'), 0) == 1
        # Once the plain TCP connection is gone, a real DoH client from that address is served.
        plain.close()
        wait_until(lambda: "NOERROR" in kdig_doh(sk).stdout, 10, interval=0.2,
                   what="kdig over DoH served once a connection was freed")
    finally:
        plain.close()
        for s in dots:
            s.close()


# ------------------------------------------------------------------------------ outside every tenant

@pytest.fixture
def tenant_server(sekishod, knot):
    return start_with_metrics(sekishod, [knot.addresses[0]], {
        "tenants": [{"id": "acme", "networks": ["127.0.0.2/32"], "policy": "office"}],
        "policies": {"office": {"deny": ["denied.example"]}}})


def test_tcp_client_outside_every_tenant_is_closed_on_accept(tenant_server):
    sk = tenant_server
    s = connect_from("127.0.0.9", sk.port)
    try:
        try:
            s.sendall(frame(make_query(NAME, "A").to_wire()))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            got = s.recv(65535)
        except ConnectionResetError:
            got = b""
    finally:
        s.close()
    assert got == b"", "a client in no tenant got %r over TCP instead of a closed connection" % got
    assert closed(sk, "not_in_tenant") == 1
    p = kdig_from("127.0.0.9", sk.port, "www.test.example", extra=("+tcp",))[1]
    assert "status:" not in p.stdout and '"RCODE"' not in p.stdout, p.stdout
    # UDP still says why; a tenant's client is served over TCP (Python and kdig).
    r = ask(sk.port, NAME, source="127.0.0.9")
    assert r.rcode() == dns.rcode.REFUSED and [c for c, _ in edes(r)] == [18], r
    assert ask(sk.port, NAME, source="127.0.0.2", tcp=True).rcode() == dns.rcode.NOERROR
    data, p = kdig_from("127.0.0.2", sk.port, "www.test.example", extra=("+tcp",))
    assert data and data.get("RCODE") == 0, p.stdout + p.stderr


def test_dot_client_outside_every_tenant_needs_a_token(dot_server):
    sk = dot_server
    # 127.0.0.9 is in neither acme's nor beta's network (tls_fixtures).
    raw, tls, incoming, outgoing = dot_handshake(sk.pki, sk.dot_port, source="127.0.0.9")
    try:
        assert wait_closed(raw, 5) is not None, "a DoT client in no tenant, without a token, was kept"
    finally:
        raw.close()
    assert closed(sk, "not_in_tenant") == 1
    # With acme's device token in the server name it is served.
    raw, tls, incoming, outgoing = dot_handshake(sk.pki, sk.dot_port, source="127.0.0.9",
                                                 sni="%s.%s" % (TOKEN, PUBLIC_NAME))
    try:
        q = make_query(NAME, "A")
        tls.write(frame(q.to_wire()))
        raw.sendall(outgoing.read())
        buf = b""
        deadline = time.monotonic() + 5
        while True:
            try:
                buf += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            if len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                break
            assert time.monotonic() < deadline, "no answer over DoT with a device token"
            chunk = raw.recv(65536)
            assert chunk, "closed without an answer"
            incoming.write(chunk)
        r = dns.message.from_wire(buf[2:2 + int.from_bytes(buf[:2], "big")])
        assert r.id == q.id and r.rcode() == dns.rcode.NOERROR, r
    finally:
        raw.close()


# ----------------------------------------------------------------------------- descriptor exhaustion

NOFILE = 256


def test_descriptor_exhaustion_answers_servfail_and_keeps_serving(sekishod, scripted):
    up = scripted("normal")
    sk = sekishod([up.address], {
        "server": {"tcp": {"max_connections": 32}},
        "forwarding": {"timeout_ms": 1500, "attempts": 2},
        "admin": {"metrics_listen": [Listen("127.0.0.1", "metrics")]}}, start=False)
    sk.wrapper = ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"]
    sk.start()
    sk.metrics_port = sk.ports["metrics"]
    share = re.search(r'upstream sockets.*per_thread=(\d+)', sk.stderr())
    assert share, "no 'upstream sockets' line at start:\n" + sk.stderr()[-2000:]
    per_thread = int(share.group(1))
    assert per_thread * 2 < NOFILE, "the upstream sockets (%d per thread) could take every descriptor" % per_thread

    # Cached while the upstream answers; then it falls silent and a flood of fresh names comes.
    assert query_udp("127.0.0.1", sk.port, "cached.flood.example.", "A", timeout=3).rcode() == dns.rcode.NOERROR
    up.behaviour = "silent"
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.7", 0))
    flood.settimeout(0.05)
    n = 3 * NOFILE
    answers = []

    def collect():  # meanwhile, so that no answer waits in a full socket buffer
        deadline = time.monotonic() + 10
        while len(answers) < n and time.monotonic() < deadline:
            try:
                answers.append(dns.message.from_wire(flood.recv(65535)))
            except socket.timeout:
                continue
    collector = threading.Thread(target=collect)
    collector.start()
    for i in range(n):
        q = make_query("r%d-%08x.flood.example." % (i, random.getrandbits(32)), "A")
        flood.sendto(q.to_wire(), ("127.0.0.1", sk.port))
        if i % 32 == 31:
            time.sleep(0.002)  # paced: a burst would overflow the kernel's buffers, not sekishod

    # While the flood's queries hold their sockets: TCP clients are accepted and cached names
    # answered, over TCP (Python, kdig) and UDP.
    for _ in range(10):
        assert query_tcp("127.0.0.1", sk.port, "cached.flood.example.", "A", timeout=3).rcode() == dns.rcode.NOERROR
    data, p = kdig("127.0.0.1", sk.port, "cached.flood.example", "A", tcp=True)
    assert data and data.get("RCODE") == 0, p.stdout + p.stderr
    assert query_udp("127.0.0.1", sk.port, "cached.flood.example.", "A", timeout=3).rcode() == dns.rcode.NOERROR

    collector.join()
    flood.close()
    answered, limited = len(answers), 0
    for r in answers:
        assert r.rcode() == dns.rcode.SERVFAIL, r
        texts = [t for c, t in edes(r) if c == 0]
        if texts and "upstream socket limit reached" in texts[0]:
            limited += 1
    assert answered == n, "%d of %d flood queries unanswered" % (n - answered, n)
    assert limited > 0, "no flood query was answered SERVFAIL + EDE 0 for the socket limit"
    m = scrape(sk.metrics_port)
    assert m[("sekisho_forwarder_socket_limit_total", "")] == limited
    assert m[("sekisho_forwarder_upstream_sockets_open", "")] <= 2 * per_thread
    assert "upstream socket limit reached" in sk.stderr()

    # Afterwards: the sockets are given back and the server resolves again.
    up.behaviour = "normal"
    wait_until(lambda: scrape(sk.metrics_port)[("sekisho_forwarder_upstream_sockets_open", "")] == 0, 10,
               what="upstream sockets closed after the flood")
    r = query_udp("127.0.0.1", sk.port, "after.flood.example.", "A", timeout=3)
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    assert sk.alive()
