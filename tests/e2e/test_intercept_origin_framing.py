"""sekisho-intercept forwarding: how the origin's response is framed, read by the one strict HTTP/1
parser (net/http/http1_parser.h).

A response whose framing cannot be trusted (RFC 9112 §6.3 items 3 to 5: a malformed, listed or
conflicting Content-Length, Transfer-Encoding with Content-Length, a coding other than chunked;
§5.2: obs-fold) reaches the client as a clear 502 naming the problem, never as a body guessed
by reading until the origin closes. A response with neither Content-Length nor Transfer-Encoding
is legitimately read until close (§6.3 item 8) and comes through whole. After each bad response
the intercept goes on serving.

The origin is a raw TLS socket server (stdlib) answering each path with canned bytes and then
closing, so it can say what a real HTTP library would refuse to write.
"""
import subprocess

import pytest

from test_intercept import curl, make_origin_certs, setup, start_forwarding_intercept  # noqa: F401 (fixture)
from upstreams import ScriptedUpstream

RAW_ORIGIN = r'''
import socket, ssl, sys, threading
H = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
CANNED = {
    "/news/bad-length": H + "content-length: 5x\r\n\r\nhello",
    "/news/listed-length": H + "content-length: 5, 5\r\n\r\nhello",
    "/news/two-lengths": H + "content-length: 5\r\ncontent-length: 4\r\n\r\nhello",
    "/news/te-and-length": H + "transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "/news/gzip-coding": H + "transfer-encoding: gzip\r\n\r\nhello",
    "/news/obs-fold": H + "x-folded: a\r\n  b\r\ncontent-length: 5\r\n\r\nhello",
    "/news/bad-status": "HTTP/1.1 2OO OK\r\ncontent-length: 5\r\n\r\nhello",
    "/news/until-close": H + "\r\nall of it, until the close",
    "/news/length": H + "content-length: 5\r\n\r\nhello",
}

def serve(conn):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                return
            head += data
        path = head.split(b" ")[1].decode()
        conn.sendall(CANNED.get(path, H + "content-length: 9\r\n\r\nnot found").encode())
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        conn.close()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
while True:
    raw, _ = srv.accept()
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'''


@pytest.fixture(scope="module")
def proxy(setup):  # noqa: F811 (the fixture imported above)
    d = setup["tmp"] / "raw-origin"
    make_origin_certs(d)
    origin = subprocess.Popen(["/usr/bin/python3", "-c", RAW_ORIGIN, str(d / "leaf.pem"), str(d / "leaf.key")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(origin.stdout.readline())
    dns = ScriptedUpstream(addr="127.0.0.1").start()
    icpt, icpt_port = start_forwarding_intercept(setup, {"port": port, "ca": d / "ca.pem", "dns": dns}, "raw-origin",
                                                 ["127.0.0.0/8"])
    yield {"proc": icpt, "port": icpt_port}
    code = icpt.proc.poll()
    icpt.stop()
    dns.stop()
    origin.kill()
    origin.wait(5)
    assert code is None, "sekisho-intercept died:\n" + icpt.stderr()[-3000:]


def get(setup, port, path, version="--http1.1"):
    return curl("https://videos.example:%d%s" % (port, path), port, "videos.example", cacert=setup["ca_pem"],
                extra=[version])


@pytest.mark.parametrize("path,why", [
    ("/news/bad-length", "malformed Content-Length"),
    ("/news/listed-length", "malformed Content-Length"),
    ("/news/two-lengths", "conflicting Content-Length"),
    ("/news/te-and-length", "both Transfer-Encoding and Content-Length"),
    ("/news/gzip-coding", "unsupported transfer coding"),
    ("/news/obs-fold", "obsolete header line folding"),
    ("/news/bad-status", "malformed status code"),
])
def test_an_untrustworthy_response_is_a_clear_502(setup, proxy, path, why):  # noqa: F811
    for version in ("--http1.1", "--http2"):
        status, body, p = get(setup, proxy["port"], path, version)
        assert status == 502, (version, status, body, p.stderr)
        assert "invalid response from videos.example" in body and why in body, (version, body)
    # The intercept goes on serving, over a fresh origin connection.
    status, body, p = get(setup, proxy["port"], "/news/length")
    assert (status, body) == (200, "hello"), (status, body, p.stderr)


def test_a_response_without_length_or_coding_is_read_until_close(setup, proxy):  # noqa: F811
    for version in ("--http1.1", "--http2"):
        status, body, p = get(setup, proxy["port"], "/news/until-close", version)
        assert (status, body) == (200, "all of it, until the close"), (version, status, body, p.stderr)
