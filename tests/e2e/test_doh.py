"""DNS over HTTPS (RFC 8484) end to end: a real sekishod with a test CA's certificate, real clients
(kdig +https, curl --doh-url and raw curl over HTTP/2 and HTTP/1.1, openssl s_client, dnsperf -m doh).

Tenants (tls_fixtures.encrypted_config): `beta` by source address 127.0.0.1 (blocks nothing),
`acme` by the device token in /dns-query/{token} (blocks blocked.example with NXDOMAIN + EDE 17).
Covered: GET and POST, Cache-Control = smallest TTL, the token's tenant (not the address's) with its
EDE and the device in the query log, each HTTP error status over both HTTP versions, ALPN h2 and
http/1.1, TLS garbage and slow clients not harming plain DNS, a short dnsperf run with nothing lost,
HTTP/2 limits seen by nghttp (the stream limit in SETTINGS, 431 for oversized headers).
"""
import base64
import http.server
import socket
import subprocess
import threading
import time

import dns.message
import dns.rdatatype
import pytest

from clients import KDIG, make_query, query_udp, dnsperf
from netutil import wait_until
from policy_fixtures import query_log
from tls_fixtures import (BLOCKED, DEVICE, TOKEN, PUBLIC_NAME, curl_doh, make_pki, start_encrypted)
from upstreams import default_answer

WEB = "web.example"  # the scripted upstream answers 127.0.0.1 for it: curl can fetch from it


def b64(wire):
    return base64.urlsafe_b64encode(wire).rstrip(b"=").decode()


def edes(msg):
    return [(int(o.code), o.text) for o in (msg.options or []) if o.otype == 15]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def upstream(scripted):
    up = scripted()

    def handler(q, transport):
        r = default_answer(q)
        if q.question[0].name.to_text().lower() == WEB + "." and q.question[0].rdtype == dns.rdatatype.A:
            r = default_answer(q, addr="127.0.0.1")
        return r

    up.handler = handler
    return up


@pytest.fixture
def doh(sekishod, upstream, pki, tmp_path):
    sk, doh_port, dot_port = start_encrypted(sekishod, upstream, pki, querylog_dir=tmp_path / "querylog")
    sk.doh_port, sk.logdir = doh_port, tmp_path / "querylog"
    return sk


def url(sk, path="/dns-query", query=""):
    return "https://127.0.0.1:%d%s%s" % (sk.doh_port, path, ("?" + query) if query else "")


def kdig_https(sk, pki, name, path="/dns-query", get=False):
    cmd = [KDIG, "@127.0.0.1", "-p", str(sk.doh_port), "+https=%s" % path, "+tls-ca=%s" % pki["ca"],
           "+tls-hostname=%s" % PUBLIC_NAME, "+timeout=3", "+retry=0", name, "A"]
    if get:
        cmd.insert(4, "+https-get")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=15)


# ----------------------------------------------------------------------------------- real clients

def test_kdig_https_post_and_get(doh, pki):
    for get in (False, True):
        p = kdig_https(doh, pki, "kdig.example", get=get)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "HTTP/2-%s" % ("GET" if get else "POST") in p.stdout and "status: 200" in p.stdout, p.stdout
        assert "NOERROR" in p.stdout and "192.0.2.1" in p.stdout, p.stdout


def test_curl_resolves_through_doh_and_fetches(doh, pki):
    """curl resolves web.example only through sekishod's DoH (token path), then fetches from it."""
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from " + self.headers.get("Host", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        port = web.server_address[1]
        p = subprocess.run(["curl", "-sS", "--max-time", "5", "--doh-url", url(doh, "/dns-query/" + TOKEN),
                            "--cacert", str(pki["ca"]), "http://%s:%d/" % (WEB, port)],
                           capture_output=True, text=True, timeout=15)
        assert p.returncode == 0 and p.stdout == "hello from %s:%d" % (WEB, port), p.stdout + p.stderr
        # a blocked name for the token's tenant does not resolve at all (NXDOMAIN)
        p = subprocess.run(["curl", "-sS", "--max-time", "5", "--doh-url", url(doh, "/dns-query/" + TOKEN),
                            "--cacert", str(pki["ca"]), "http://%s:%d/" % (BLOCKED, port)],
                           capture_output=True, text=True, timeout=15)
        assert p.returncode != 0 and "resolve" in p.stderr.lower(), p.stdout + p.stderr
    finally:
        web.shutdown()


def test_token_picks_its_tenant_with_ede_and_device_in_the_log(doh, pki):
    q = make_query(BLOCKED, "A")
    # the source address (127.0.0.1) is beta's, which blocks nothing
    status, _, _, body = curl_doh(pki, url(doh), data=q.to_wire(), content_type="application/dns-message")
    r = dns.message.from_wire(body)
    assert status == 200 and r.rcode() == 0 and r.answer, r
    # the token is acme's device: acme's deny list applies, with acme's EDE
    status, version, headers, body = curl_doh(pki, url(doh, "/dns-query/" + TOKEN), data=q.to_wire(),
                                              content_type="application/dns-message")
    r = dns.message.from_wire(body)
    assert status == 200 and version == "2" and headers["content-type"] == "application/dns-message"
    assert r.rcode() == 3 and edes(r) == [(17, "list=deny rule=%s tenant=acme" % BLOCKED)], r
    assert r.id == q.id
    doh.terminate()  # the query-log writer drains on shutdown
    records = query_log(doh.logdir)
    mine = [x for x in records if x["name"] == BLOCKED]
    assert {(x["tenant"], x["device"], x["transport"], x["action"]) for x in mine} == {
        ("beta", "", "doh", "resolved"), ("acme", DEVICE, "doh", "blocked")}, mine


def test_cache_control_is_the_smallest_ttl(doh, pki):
    for name in ("ttl.example", "nxname.example"):
        q = make_query(name, "A")
        status, _, headers, body = curl_doh(pki, url(doh, query="dns=" + b64(q.to_wire())))
        r = dns.message.from_wire(body)
        ttls = [rr.ttl for sec in (r.answer, r.authority) for rr in sec]
        assert status == 200 and ttls, r
        assert headers["cache-control"] == "max-age=%d" % min(ttls), (headers, r)
    # a later cache hit counts down
    time.sleep(1.1)
    q = make_query("ttl.example", "A")
    _, _, headers, body = curl_doh(pki, url(doh, query="dns=" + b64(q.to_wire())))
    age = int(headers["cache-control"].split("=")[1])
    assert age == dns.message.from_wire(body).answer[0].ttl and age < 300, headers


@pytest.mark.parametrize("http1", [False, True], ids=["h2", "http1.1"])
def test_http_error_statuses(doh, pki, http1):
    wire = make_query("err.example", "A").to_wire()
    want_version = "1.1" if http1 else "2"
    cases = [
        ("bad dns param", dict(u=url(doh, query="dns=***")), 400),
        ("padded dns param", dict(u=url(doh, query="dns=" + b64(wire) + "==")), 400),
        ("missing dns param", dict(u=url(doh)), 400),
        ("not a DNS message", dict(u=url(doh), data=b"\x00\x01", ct="application/dns-message"), 400),
        ("unknown path", dict(u=url(doh, "/resolve")), 404),
        ("unknown token", dict(u=url(doh, "/dns-query/zzzzzzzz9")), 404),
        ("other method", dict(u=url(doh, query="dns=" + b64(wire)), method="PUT"), 405),
        ("body over 65535", dict(u=url(doh), data=b"\x00" * 70000, ct="application/dns-message"), 413),
        ("other content type", dict(u=url(doh), data=wire, ct="text/plain"), 415),
    ]
    for what, c, want in cases:
        status, version, headers, body = curl_doh(pki, c["u"], http1=http1, method=c.get("method"),
                                                  data=c.get("data"), content_type=c.get("ct"))
        assert status == want and version == want_version, "%s: %d %s %r" % (what, status, version, body)
        assert body.strip(), "%s: the error carries a reason" % what
        if want == 405:
            assert headers.get("allow") == "GET, POST", headers
    # the connection-level protocol still answers a good query over the same HTTP version
    status, version, _, body = curl_doh(pki, url(doh, query="dns=" + b64(wire)), http1=http1)
    assert status == 200 and version == want_version and dns.message.from_wire(body).answer


def test_alpn_h2_and_http11(doh, pki):
    for alpn in ("h2", "http/1.1"):
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % doh.doh_port, "-alpn", alpn,
                            "-servername", PUBLIC_NAME, "-CAfile", str(pki["ca"])],
                           input="", capture_output=True, text=True, timeout=10)
        assert "ALPN protocol: %s" % alpn in p.stdout, p.stdout[-2000:]
        assert "Verify return code: 0 (ok)" in p.stdout


# ------------------------------------------------------------------------------------ hostility

def test_garbage_and_slow_clients_do_not_harm_the_dns_listener(doh, pki):
    slow = []
    for _ in range(20):  # connect and say nothing (no ClientHello)
        s = socket.create_connection(("127.0.0.1", doh.doh_port), timeout=2)
        slow.append(s)
    garbage = socket.create_connection(("127.0.0.1", doh.doh_port), timeout=3)
    garbage.sendall(b"\x16\x03\x01\x00\x05hello" + bytes(range(256)) * 4)
    t0 = time.monotonic()
    try:
        closed = garbage.recv(4096) is not None  # an alert and/or EOF, never a hang
        while garbage.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        closed = True
    assert closed and time.monotonic() - t0 < 2.5
    # plain DNS and DoH keep answering meanwhile
    r = query_udp("127.0.0.1", doh.port, "still.example", "A")
    assert r.answer
    assert kdig_https(doh, pki, "still-doh.example").returncode == 0
    for s in slow:
        s.close()
    assert doh.alive()


def test_dnsperf_doh_loses_nothing(sekishod, knot, pki):
    # Forwarding to knotd: nothing may be lost, which a Python upstream sharing 2 cores with
    # dnsperf and sekishod cannot promise.
    doh, doh_port, _ = start_encrypted(sekishod, knot, pki)
    doh.doh_port = doh_port
    names = [("n%02d.test.example" % i, "A") for i in range(50)]
    for method in ("GET", "POST"):
        res = dnsperf("127.0.0.1", doh.doh_port, names, duration=2, rate=1000, clients=2,
                      extra=["-m", "doh", "-O", "doh-uri=%s" % url(doh), "-O", "doh-method=%s" % method])
        assert res["completed"] and res["lost"] == 0, res["output"]
        assert "NOERROR" in res["rcodes"], res["output"]


def test_late_answers_reach_their_streams_and_sigterm_drains_them(sekishod, pki, upstream):
    """Answers that wait for a slow upstream go back to the right HTTP/2 stream (and HTTP/1.1
    request); SIGTERM while they wait still delivers them before sekishod exits 0."""
    # The upstream holds each answer 1.5 s (the forwarding timeout allows 4 s, the drain 8 s), and
    # SIGTERM is sent once it holds all three queries: the answers are surely still owed then.
    upstream.delay = 1.5
    doh, doh_port, _ = start_encrypted(sekishod, upstream, pki, extra={
        "server": {"drain_timeout_ms": 8000}, "forwarding": {"timeout_ms": 4000, "attempts": 1}})
    doh.doh_port = doh_port
    procs = []
    for i, http1 in enumerate((False, False, True)):
        q = make_query("late%d.example" % i, "A")
        (doh.dir / ("late%d.bin" % i)).write_bytes(q.to_wire())
        procs.append((q, subprocess.Popen(
            ["curl", "-sS", "--max-time", "10", "--cacert", str(pki["ca"]), "--http1.1" if http1 else "--http2",
             "-H", "content-type: application/dns-message", "--data-binary", "@%s" % (doh.dir / ("late%d.bin" % i)),
             "-o", str(doh.dir / ("late%d.out" % i)), "-w", "%{http_code}", url(doh)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    parked = wait_until(lambda: all(upstream.count("late%d.example" % i) == 1 for i in range(3)), 10)
    code, took = doh.terminate()
    assert parked, "the queries did not all reach the upstream: %r" % upstream.queries()
    for i, (q, p) in enumerate(procs):
        out, err = p.communicate(timeout=15)
        assert out == "200", (out, err)
        r = dns.message.from_wire((doh.dir / ("late%d.out" % i)).read_bytes())
        assert r.id == q.id and r.question[0].name == q.question[0].name and r.answer, r
    # Exit once the answers are out (1.5 s after the queries), not at the 8 s drain timeout.
    assert code == 0 and took < 6, (code, took)


# --------------------------------------------------------------------------- HTTP/2 limits (nghttp)

NGHTTP = "/usr/bin/nghttp"


def nghttp(args, timeout=15):
    return subprocess.run([NGHTTP, "-nv", "--no-verify-peer", "-t", "5"] + args,
                          capture_output=True, text=True, timeout=timeout)


def test_http2_advertises_the_stream_limit_and_refuses_oversized_headers(doh, pki):
    wire = make_query("limits.example", "A").to_wire()
    ok = nghttp([url(doh, query="dns=" + b64(wire))])
    # server.tcp.max_pipelined (default 128) is the DoH stream limit, announced in SETTINGS.
    assert "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128" in ok.stdout, ok.stdout[-3000:]
    assert ":status: 200" in ok.stdout
    # 40 KiB of request headers is over the 16 KiB limit: that request is refused, not served.
    big = nghttp(["-H", "x-padding: " + "a" * 40000, url(doh, query="dns=" + b64(wire))])
    out = big.stdout + big.stderr
    assert ":status: 200" not in out and ":status: 431" in out, out[-3000:]
    # The connection-level damage stays on that connection: a fresh one is served.
    again = nghttp([url(doh, query="dns=" + b64(wire))])
    assert ":status: 200" in again.stdout
