"""sekisho-intercept forwarding, streamed (issue 6): allowed URLs of a deep-check host reach a
local HTTPS origin and come back as they flow, never held whole.

- a 64 MiB download, byte-exact by sha256, while the client first reads slowly through a small
  socket buffer: the intercept's peak RSS (VmHWM) must stay far below the body's size;
- a chunked response from the origin passed on (HTTP/1.1 re-chunked, HTTP/2 DATA frames);
- chunked and HTTP/2 uploads of several MiB hashed by the origin, and a 48 MiB upload to an
  origin that waits before reading: held back by the window, not buffered (VmHWM again);
- a client gone mid-download costs only its request; an origin gone mid-response gives the
  client a cut transfer (never a complete-looking one); HEAD keeps the origin's length;
- two requests on one client connection served over one origin connection (the origin reports
  its connection; the intercept logs the reuse);
- a WebSocket echo through the 101 upgrade (python3-websocket client, the origin answers frames);
- an origin only on ::1 (AAAA) reached when allow_private covers ::1, refused when it does not.

The origin is a small threaded Python HTTPS server (stdlib only) with its own test CA; the
tenant, the store and the CA come from test_intercept.py's module fixture.
"""
import hashlib
import http.client
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import websocket

from netutil import wait_until
from test_intercept import CLIENT, curl, make_origin_certs, run, setup, start_forwarding_intercept  # noqa: F401 (fixture)
from upstreams import ScriptedUpstream

MIB = 1024 * 1024

ORIGIN = r'''
import base64, hashlib, http.server, os, socket, ssl, struct, sys, threading, time
BLOCK = os.urandom(1048583)  # a prime size: an offset slip anywhere changes the hash
CONNECTIONS = [0]
LOCK = threading.Lock()

def pattern(size):
    left = size
    while left:
        piece = BLOCK[:min(left, len(BLOCK))]
        left -= len(piece)
        yield piece

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def setup(self):
        super().setup()
        with LOCK:
            CONNECTIONS[0] += 1
    def size(self):
        q = self.path.partition("?")[2]
        return int(dict(p.split("=") for p in q.split("&") if p).get("size", "0"))
    def reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        path = self.path.partition("?")[0]
        if path == "/news/big":
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(self.size()))
            self.end_headers()
            for piece in pattern(self.size()):
                self.wfile.write(piece)
        elif path == "/news/chunked":
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for piece in pattern(self.size()):
                for i in range(0, len(piece), 100003):
                    part = piece[i:i + 100003]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/news/cut":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("content-length", str(10 * 1048576))
            self.end_headers()
            self.wfile.write(BLOCK)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/news/sha256":
            h = hashlib.sha256()
            for piece in pattern(self.size()):
                h.update(piece)
            self.reply(h.hexdigest().encode())
        elif path == "/news/conn":
            with LOCK:
                n = CONNECTIONS[0]
            self.reply(("peer=%s:%d accepted=%d" % (self.client_address[0], self.client_address[1], n)).encode())
        elif path == "/news/ws":
            self.websocket()
        else:
            self.reply(("origin saw %s" % self.path).encode())
    def do_POST(self):
        h, n = hashlib.sha256(), 0
        if self.path.startswith("/news/slow"):
            time.sleep(2)  # an origin slower than the client: the upload must wait, not pile up
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                h.update(data)
                n += len(data)
                self.rfile.read(2)
            framing = "chunked"
        else:
            left = int(self.headers["content-length"])
            while left:
                data = self.rfile.read(min(left, 65536))
                h.update(data)
                n += len(data)
                left -= len(data)
            framing = "length"
        self.reply(("%s %d %s" % (h.hexdigest(), n, framing)).encode())
    do_PUT = do_POST
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", str(self.size()))
        self.end_headers()
    def websocket(self):
        key = self.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.send_response(101)
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header("sec-websocket-accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        r = self.rfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", r.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", r.read(8))[0]
            mask = r.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(n)))
            if opcode == 1:
                data = b"echo: " + data
            out = bytes([0x80 | opcode])
            if len(data) < 126:
                out += bytes([len(data)])
            elif len(data) < 65536:
                out += bytes([126]) + struct.pack("!H", len(data))
            else:
                out += bytes([127]) + struct.pack("!Q", len(data))
            self.wfile.write(out + data)
            self.wfile.flush()
            if opcode == 8:
                return

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[3] else socket.AF_INET
    daemon_threads = True

srv = Server((sys.argv[3], 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
'''


def start_origin(d, host):
    proc = subprocess.Popen(["/usr/bin/python3", "-c", ORIGIN, str(d / "leaf.pem"), str(d / "leaf.key"), host],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, int(proc.stdout.readline())


def only_aaaa(q, transport):
    """videos.example lives on ::1 only: AAAA ::1, no A."""
    r = dns.message.make_response(q)
    if q.question[0].rdtype == dns.rdatatype.AAAA:
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "AAAA", "::1"))
    return r


@pytest.fixture(scope="module")
def origins(setup):  # noqa: F811 (the fixture imported above)
    d = setup["tmp"] / "stream-origin"
    make_origin_certs(d)
    v4, v4_port = start_origin(d, "127.0.0.1")
    v6, v6_port = start_origin(d, "::1")
    dns4 = ScriptedUpstream(addr="127.0.0.1").start()
    dns6 = ScriptedUpstream().start()
    dns6.handler = only_aaaa
    yield {"v4": {"port": v4_port, "ca": d / "ca.pem", "dns": dns4},
           "v6": {"port": v6_port, "ca": d / "ca.pem", "dns": dns6}}
    for u in (dns4, dns6):
        u.stop()
    for p in (v4, v6):
        p.kill()
        p.wait(5)


@pytest.fixture(scope="module")
def proxy(setup, origins):  # noqa: F811
    icpt, port = start_forwarding_intercept(setup, origins["v4"], "stream", ["127.0.0.0/8"])
    yield {"proc": icpt, "port": port}
    code = icpt.proc.poll()
    icpt.stop()
    assert code is None, "sekisho-intercept died:\n" + icpt.stderr()[-3000:]


def tls_socket(setup, port, rcvbuf=None):
    """A TLS connection from the tenant's client address to the intercept, for videos.example."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.bind((CLIENT, 0))
    raw.settimeout(20)
    raw.connect(("127.0.0.1", port))
    ctx = ssl.create_default_context(cafile=str(setup["ca_pem"]))
    return ctx.wrap_socket(raw, server_hostname="videos.example")


def https_get(setup, port, path, rcvbuf=None):
    conn = http.client.HTTPSConnection("videos.example", port, timeout=20)
    conn.sock = tls_socket(setup, port, rcvbuf)
    conn.request("GET", path)
    return conn, conn.getresponse()


def memory_kib(pid, field):
    text = open("/proc/%d/status" % pid).read()
    return int(re.search(r"^%s:\s+(\d+) kB" % field, text, re.M).group(1))


def origin_sha256(setup, port, size):
    status, digest, p = curl("https://videos.example:%d/news/sha256?size=%d" % (port, size), port, "videos.example",
                             cacert=setup["ca_pem"])
    assert status == 200, p.stderr
    return digest


def test_64mib_download_streams_with_bounded_memory_for_a_slow_reader(setup, proxy):  # noqa: F811
    size = 64 * MIB
    port, pid = proxy["port"], proxy["proc"].proc.pid
    want = origin_sha256(setup, port, size)
    before = memory_kib(pid, "VmRSS")
    conn, res = https_get(setup, port, "/news/big?size=%d" % size, rcvbuf=64 * 1024)
    assert res.status == 200 and int(res.getheader("content-length")) == size
    h, got = hashlib.sha256(), 0
    slow_until = time.monotonic() + 2.0
    while time.monotonic() < slow_until:  # ~1.3 MB/s while the origin could send all of it at once
        data = res.read(64 * 1024)
        h.update(data)
        got += len(data)
        time.sleep(0.05)
    slow_part = got
    while True:
        data = res.read(1024 * 1024)
        if not data:
            break
        h.update(data)
        got += len(data)
    conn.close()
    growth_mib = (memory_kib(pid, "VmHWM") - before) / 1024
    print("slow phase read %.1f MiB; peak RSS growth %.1f MiB" % (slow_part / MIB, growth_mib))
    assert slow_part < 8 * MIB, "the slow phase was not slow"
    assert got == size and h.hexdigest() == want
    assert growth_mib < 24, "peak RSS grew by %.1f MiB for a 64 MiB body: it was buffered" % growth_mib


def test_chunked_origin_response_over_http1_and_http2(setup, proxy, tmp_path):  # noqa: F811
    port, size = proxy["port"], 9 * MIB + 5
    want = origin_sha256(setup, port, size)
    for version in ("--http1.1", "--http2"):
        out = tmp_path / ("chunked" + version)
        status, _, p = curl("https://videos.example:%d/news/chunked?size=%d" % (port, size), port, "videos.example",
                            cacert=setup["ca_pem"], output=out, extra=[version, "-D", str(out) + ".head"])
        assert status == 200, p.stderr
        head = (tmp_path / (out.name + ".head")).read_text().lower()
        if version == "--http1.1":
            assert "transfer-encoding: chunked" in head, head
        else:
            assert head.startswith("http/2 200"), head
        assert out.stat().st_size == size and hashlib.sha256(out.read_bytes()).hexdigest() == want


def test_chunked_and_http2_uploads_reach_the_origin_intact(setup, proxy, tmp_path):  # noqa: F811
    port = proxy["port"]
    body = os.urandom(6 * MIB + 11)
    f = tmp_path / "upload.bin"
    f.write_bytes(body)
    want = hashlib.sha256(body).hexdigest()
    url = "https://videos.example:%d/news/upload" % port
    status, got, p = curl(url, port, "videos.example", cacert=setup["ca_pem"],
                          extra=["--http1.1", "-v", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + str(f)])
    assert status == 200 and got == "%s %d chunked" % (want, len(body)), (got, p.stderr)
    # curl asked "Expect: 100-continue": answered by the intercept, not left to curl's 1 s wait.
    assert b"> Expect: 100-continue" in p.stderr and b"< HTTP/1.1 100 Continue" in p.stderr, p.stderr[-1500:]
    status, got, p = curl(url, port, "videos.example", cacert=setup["ca_pem"],
                          extra=["--http2", "--data-binary", "@" + str(f)])
    assert status == 200 and got == "%s %d length" % (want, len(body)), (got, p.stderr)
    # HTTP/2 without content-length (curl streams stdin): sent on to the origin chunked.
    with open(f, "rb") as stdin:
        p = run(["curl", "-sS", "--max-time", "10", "--http2", "--interface", CLIENT,
                 "--resolve", "videos.example:%d:127.0.0.1" % port, "--cacert", str(setup["ca_pem"]),
                 "-T", "-", "-X", "POST", url], stdin=stdin)
    assert p.stdout.decode() == "%s %d chunked" % (want, len(body)), (p.stdout, p.stderr)


def test_sequential_requests_reuse_one_origin_connection(setup, proxy):  # noqa: F811
    port = proxy["port"]
    url = "https://videos.example:%d/news/conn" % port
    # One curl, two URLs: one client connection (curl reuses it), two requests in a row.
    p = run(["curl", "-sS", "--max-time", "10", "--http1.1", "--interface", CLIENT,
             "--resolve", "videos.example:%d:127.0.0.1" % port, "--cacert", str(setup["ca_pem"]),
             "-w", "\n", url, url])
    lines = p.stdout.decode().split()
    peers = [l for l in lines if l.startswith("peer=")]
    assert len(peers) == 2, (p.stdout, p.stderr)
    assert peers[0] == peers[1], "two origin connections: %s" % peers
    accepted = [int(l.split("=")[1]) for l in lines if l.startswith("accepted=")]
    assert accepted[0] == accepted[1]
    logged = [l for l in proxy["proc"].stderr().splitlines() if "msg=forwarded" in l and "path=/news/conn " in l]
    assert "origin_connection=reused" in logged[-1], logged


def test_websocket_echo_through_the_upgrade(setup, proxy):  # noqa: F811
    port = proxy["port"]
    ws = websocket.create_connection("wss://videos.example:%d/news/ws" % port, socket=tls_socket(setup, port),
                                     timeout=10)
    try:
        ws.send("hello through sekisho")
        assert ws.recv() == "echo: hello through sekisho"
        blob = os.urandom(300 * 1024)
        ws.send_binary(blob)
        assert ws.recv() == blob
    finally:
        ws.close()
    assert wait_until(lambda: "tunnel closed" in proxy["proc"].stderr(), 5), proxy["proc"].stderr()[-2000:]


def test_ipv6_origin_reached_only_when_allowed(setup, origins):  # noqa: F811
    icpt, port = start_forwarding_intercept(setup, origins["v6"], "v6", ["127.0.0.0/8", "::1/128"])
    try:
        status, body, p = curl("https://videos.example:%d/news/conn" % port, port, "videos.example",
                               cacert=setup["ca_pem"])
        assert status == 200 and body.startswith("peer=::1:"), (body, p.stderr)
    finally:
        icpt.stop()
    icpt, port = start_forwarding_intercept(setup, origins["v6"], "v6-refused", ["127.0.0.0/8"])
    try:
        status, body, _ = curl("https://videos.example:%d/news/conn" % port, port, "videos.example",
                               cacert=setup["ca_pem"])
        assert status == 502 and "::1" in body and "non-public address" in body, body
    finally:
        icpt.stop()


def test_client_gone_mid_download_then_service_goes_on(setup, proxy):  # noqa: F811
    port = proxy["port"]
    for version in ("--http1.1", "--http2"):
        p = run(["curl", "-sS", "-o", "/dev/null", version, "--limit-rate", "2M", "--max-time", "1",
                 "--interface", CLIENT, "--resolve", "videos.example:%d:127.0.0.1" % port,
                 "--cacert", str(setup["ca_pem"]), "https://videos.example:%d/news/big?size=%d" % (port, 64 * MIB)])
        assert p.returncode == 28, p.stderr  # curl's own timeout: the transfer was cut by the client
    assert wait_until(lambda: proxy["proc"].stderr().count("outcome=\"client gone\"") >= 2, 5), \
        proxy["proc"].stderr()[-2000:]
    status, body, p = curl("https://videos.example:%d/news/after" % port, port, "videos.example",
                           cacert=setup["ca_pem"])
    assert status == 200 and body == "origin saw /news/after", (body, p.stderr)
    # HEAD: the origin's length, no body.
    p = run(["curl", "-sS", "-I", "--interface", CLIENT, "--resolve", "videos.example:%d:127.0.0.1" % port,
             "--cacert", str(setup["ca_pem"]), "https://videos.example:%d/news/big?size=12345" % port])
    assert p.returncode == 0 and "content-length: 12345" in p.stdout.decode().lower(), (p.stdout, p.stderr)
    assert wait_until(lambda: 'path="/news/big?size=12345" status=200 bytes=0 outcome=ok' in proxy["proc"].stderr(), 5), \
        proxy["proc"].stderr()[-2000:]


def test_upload_to_a_slow_origin_is_held_back_not_buffered(setup, proxy, tmp_path):  # noqa: F811
    port, pid = proxy["port"], proxy["proc"].proc.pid
    body = os.urandom(48 * MIB)
    f = tmp_path / "big-upload.bin"
    f.write_bytes(body)
    before = memory_kib(pid, "VmRSS")
    status, got, p = curl("https://videos.example:%d/news/slowupload" % port, port, "videos.example",
                          cacert=setup["ca_pem"], extra=["--http1.1", "--data-binary", "@" + str(f)])
    assert status == 200 and got == "%s %d length" % (hashlib.sha256(body).hexdigest(), len(body)), (got, p.stderr)
    growth_mib = (memory_kib(pid, "VmHWM") - before) / 1024
    assert growth_mib < 24, "peak RSS grew by %.1f MiB for a 48 MiB upload: it was buffered" % growth_mib


def test_origin_gone_mid_response_cuts_the_client_transfer(setup, proxy):  # noqa: F811
    port = proxy["port"]
    for version, code in (("--http1.1", 18), ("--http2", 92)):  # partial file / HTTP/2 stream error
        p = run(["curl", "-sS", "-o", "/dev/null", version, "--max-time", "10", "--interface", CLIENT,
                 "--resolve", "videos.example:%d:127.0.0.1" % port, "--cacert", str(setup["ca_pem"]),
                 "https://videos.example:%d/news/cut" % port])
        assert p.returncode == code, (version, p.returncode, p.stderr)
    status, body, p = curl("https://videos.example:%d/news/after-cut" % port, port, "videos.example",
                           cacert=setup["ca_pem"])
    assert status == 200 and body == "origin saw /news/after-cut", (body, p.stderr)


def test_many_concurrent_clients_over_http1_and_http2(setup, proxy):  # noqa: F811
    """h2load from 127.0.0.1 (also tenant acme): every request answered by the origin, none failed."""
    port = proxy["port"]
    for proto in (["--h1"], []):
        p = run(["h2load", "-n", "600", "-c", "12", "-m", "4"] + proto +
                ["--connect-to=127.0.0.1:%d" % port, "https://videos.example:%d/news/small" % port], timeout=60)
        out = p.stdout.decode()
        print(proto, re.search(r"finished in .*", out).group(0))
        assert re.search(r"requests: 600 total, 600 started, 600 done, 600 succeeded, 0 failed", out), out
        assert "status codes: 600 2xx" in out, out
    assert proxy["proc"].proc.poll() is None


def test_many_large_http2_streams_on_one_connection(setup, proxy):  # noqa: F811
    """60 concurrent 2 MiB downloads on one HTTP/2 connection: the connection's own write queue
    stays bounded (streams wait in their buffers), so none is cut."""
    port = proxy["port"]
    p = run(["h2load", "-n", "60", "-c", "1", "-m", "60", "--connect-to=127.0.0.1:%d" % port,
             "https://videos.example:%d/news/big?size=%d" % (port, 2 * MIB)], timeout=60)
    out = p.stdout.decode()
    assert re.search(r"requests: 60 total, 60 started, 60 done, 60 succeeded, 0 failed", out), out
    assert proxy["proc"].proc.poll() is None
