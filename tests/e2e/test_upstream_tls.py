"""Encrypted upstreams: DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484, POST over HTTP/2)
from sekishod to its upstreams.

The upstream is real: a second sekishod ("back") serving DoT and DoH on loopback with a test CA's
certificate, forwarding to knotd. The sekishod under test ("front") forwards to it with
`transport: tls` or `transport: https` (each test runs with both). Covered: answers resolve; many
queries share a few kept-open connections (the back's own DoT/DoH query count against `ss`'s
count of connections, and the front's handshake and reuse counters); a wrong CA, a wrong tls_name
and a wrong pin are refused (SERVFAIL + EDE 23 naming the certificate,
sekisho_upstream_tls_failures_total); a right pin is accepted with no CA at all; failover from a
refused upstream to a healthy one; the back killed and started again on the same port is
reconnected to; a later connection resumes the TLS session.
"""
import concurrent.futures
import subprocess
import time

import dns.rcode

from clients import addresses, ede_codes, query_udp
from metrics_scrape import scrape, start_with_metrics
from netutil import Listen, wait_until
from tls_fixtures import PUBLIC_NAME, issue, make_pki, start_encrypted

import pytest

# The front runs 2 loops (the harness's default), each with up to 4 connections per upstream.
MAX_CONNECTIONS = 2 * 4


def _pin(cert_path):
    """RFC 7469 pin-sha256 of a certificate's public key, by the openssl CLI."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-pubkey", "-noout"], capture_output=True,
                         check=True, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True, timeout=10).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True,
                            timeout=10).stdout
    return subprocess.run(["base64"], input=digest, capture_output=True, check=True, timeout=10).stdout.decode().strip()


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def back(sekishod, knot, pki):
    """sekishod serving DoT (and DoH) with the test CA's certificate, forwarding to knotd; /metrics on."""
    sk, doh, dot = start_encrypted(sekishod, knot, pki,
                                   extra={"admin": {"metrics_listen": [Listen("127.0.0.1", "metrics")]}})
    sk.metrics_port = sk.ports["metrics"]
    return sk


@pytest.fixture(params=["tls", "https"])
def transport(request):
    return request.param


def _port(back, transport):
    return back.ports["dot"] if transport == "tls" else back.ports["doh"]


def _back_label(transport):
    return 'transport="%s"' % ("dot" if transport == "tls" else "doh")


def _tls(back, transport, **kw):
    if transport == "tls":
        up = {"address": "127.0.0.1:%d" % back.ports["dot"], "transport": "tls"}
    else:
        up = {"url": "https://127.0.0.1:%d/dns-query" % back.ports["doh"], "transport": "https"}
    up.update(kw)
    return up


def _front(sekishod, upstreams, **forwarding):
    fw = {"timeout_ms": 2000, "attempts": 2}
    fw.update(forwarding)
    return start_with_metrics(sekishod, upstreams, {"forwarding": fw})


def _series(port, name, labels=""):
    return scrape(port).get((name, labels), 0)


def _upstream(port, name, back, transport, extra=""):
    label = 'upstream="127.0.0.1:%d"' % _port(back, transport)
    return _series(port, name, ",".join(x for x in (extra, label) if x))


def _connections(port):
    """Every TCP connection to 127.0.0.1:port in any state (TIME-WAIT included)."""
    out = subprocess.run(["ss", "-tanH", "dst", "127.0.0.1:%d" % port], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def _ask_all(port, names, workers=16):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda n: query_udp("127.0.0.1", port, n, "A", timeout=6.0), names))


def test_queries_resolve_over_few_kept_open_connections(sekishod, back, pki, transport):
    front = _front(sekishod, [_tls(back, transport, tls_name=PUBLIC_NAME, ca_file=str(pki["ca"]))])
    r = query_udp("127.0.0.1", front.port, "www.test.example.", "A", timeout=6.0)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == {"192.0.2.1"}, r
    before_dot = _series(back.metrics_port, "sekisho_queries_total", _back_label(transport))
    names = ["tls%03d.test.example." % i for i in range(200)]
    for name, r in zip(names, _ask_all(front.port, names)):
        assert r.rcode() == dns.rcode.NXDOMAIN, (name, r)
        assert [rr.name.to_text() for rr in r.authority] == ["test.example."], r
    # Every miss reached the back over DoT, on a handful of connections.
    assert _series(back.metrics_port, "sekisho_queries_total", _back_label(transport)) - before_dot == 200
    conns = _connections(_port(back, transport))
    assert 1 <= len(conns) <= MAX_CONNECTIONS, "201 queries over %d connections" % len(conns)
    m = front.metrics_port
    opened = _upstream(m, "sekisho_upstream_tcp_connections_opened_total", back, transport)
    assert opened == len(conns), (opened, conns)
    handshakes = (_upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="new"') +
                  _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="resumed"'))
    assert handshakes == opened
    assert _upstream(m, "sekisho_upstream_tcp_queries_reused_total", back, transport) == 201 - opened
    assert _upstream(m, "sekisho_upstream_tls_failures_total", back, transport) == 0
    assert _upstream(m, "sekisho_upstream_failures_total", back, transport) == 0


def _refused(front, back, name):
    r = query_udp("127.0.0.1", front.port, name, "A", timeout=8.0)
    assert r.rcode() == dns.rcode.SERVFAIL, r
    assert 23 in ede_codes(r), r
    text = " ".join(o.text or "" for o in (r.options or []) if o.otype == 15)
    return text


@pytest.mark.parametrize("case", ["wrong_ca", "wrong_name", "wrong_pin"])
def test_refused_certificate_is_servfail_with_ede_and_counted(sekishod, back, pki, tmp_path, case, transport):
    if case == "wrong_ca":
        other = make_pki(tmp_path / "other")
        up = _tls(back, transport, tls_name=PUBLIC_NAME, ca_file=str(other["ca"]))
        why = "certificate refused: unable to get local issuer certificate"
    elif case == "wrong_name":
        up = _tls(back, transport, tls_name="not-the-server.test", ca_file=str(pki["ca"]))
        why = "certificate refused: hostname mismatch"
    else:
        other_cert, _ = issue(pki["dir"], "other")
        up = _tls(back, transport, tls_name=PUBLIC_NAME, spki_pin=_pin(other_cert))
        why = "certificate refused: the certificate's public key does not match the pin"
    front = _front(sekishod, [up])
    text = _refused(front, back, "refused.test.example.")
    assert why in text, text
    m = front.metrics_port
    assert _upstream(m, "sekisho_upstream_tls_failures_total", back, transport) == 2  # both attempts
    assert _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="new"') == 0
    assert _upstream(m, "sekisho_upstream_failures_total", back, transport) == 2
    # Nothing reached the back's resolver.
    assert _series(back.metrics_port, "sekisho_queries_total", _back_label(transport)) == 0


def test_right_pin_decides_without_ca_or_name(sekishod, back, pki, transport):
    """The pin alone: no ca_file (the test CA is in no system store) and no tls_name."""
    front = _front(sekishod, [_tls(back, transport, spki_pin=_pin(pki["cert"]))])
    r = query_udp("127.0.0.1", front.port, "www.test.example.", "A", timeout=6.0)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == {"192.0.2.1"}, r
    assert _upstream(front.metrics_port, "sekisho_upstream_tls_failures_total", back, transport) == 0


def test_failover_from_refused_upstream_to_healthy_one(sekishod, back, pki, tmp_path, transport):
    other_cert, _ = issue(pki["dir"], "other")
    bad = _tls(back, transport, tls_name=PUBLIC_NAME, spki_pin=_pin(other_cert))
    good = {"address": "127.0.0.1:%d" % back.ports["dns"], "transport": "tcp"}
    front = _front(sekishod, [bad, good])
    for i in range(12):
        r = query_udp("127.0.0.1", front.port, "fo%d.test.example." % i, "A", timeout=8.0)
        assert r.rcode() == dns.rcode.NXDOMAIN, r
    s = scrape(front.metrics_port)
    label = 'upstream="127.0.0.1:%d"' % _port(back, transport)
    failures = s[("sekisho_upstream_tls_failures_total", label)]
    # 3 failures mark it down; then the healthy one is asked first and the refused one not again.
    assert failures == 3, failures
    assert s[("sekisho_upstream_up", label)] == 0


def test_idle_connection_closes_and_the_next_resumes_the_session(sekishod, back, pki, transport):
    front = _front(sekishod, [_tls(back, transport, tls_name=PUBLIC_NAME, ca_file=str(pki["ca"]))], tcp_idle_timeout_ms=100)
    m = front.metrics_port
    r = query_udp("127.0.0.1", front.port, "first.test.example.", "A", timeout=6.0)
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert wait_until(lambda: _upstream(m, "sekisho_upstream_tcp_connections_open", back, transport) == 0, timeout=5)
    r = query_udp("127.0.0.1", front.port, "second.test.example.", "A", timeout=6.0)
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert _upstream(m, "sekisho_upstream_tcp_connections_opened_total", back, transport) == 2
    assert _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="new"') == 1
    assert _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="resumed"') == 1


def test_back_restarted_is_reconnected(sekishod, back, pki, transport):
    front = _front(sekishod, [_tls(back, transport, tls_name=PUBLIC_NAME, ca_file=str(pki["ca"]))], tcp_idle_timeout_ms=100000)
    r = query_udp("127.0.0.1", front.port, "before.test.example.", "A", timeout=6.0)
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    m = front.metrics_port
    assert _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="new"') == 1
    back.stop()
    r = query_udp("127.0.0.1", front.port, "during.test.example.", "A", timeout=8.0)
    assert r.rcode() == dns.rcode.SERVFAIL, r
    back.start()  # the same ports
    assert wait_until(lambda: query_udp("127.0.0.1", front.port, "after%f.test.example." % time.monotonic(), "A",
                                 timeout=6.0).rcode() == dns.rcode.NXDOMAIN, timeout=15)
    assert _upstream(m, "sekisho_upstream_tcp_connections_opened_total", back, transport) >= 2
    # The restarted back knows none of the old sessions (its ticket keys are new): a full handshake.
    assert _upstream(m, "sekisho_upstream_tls_handshakes_total", back, transport, 'session="new"') >= 2
