"""Helpers for the DoH / DoT end-to-end tests (test_doh.py, test_dot.py).

- make_pki(): a test CA and a server certificate made by the openssl CLI in a temp dir
  (ECDSA P-256; SAN dns.test, *.dns.test, localhost, 127.0.0.1); issue() mints another leaf.
- encrypted_config(): the server.listen.doh/dot, server.tls and public_name keys plus two tenants:
  `acme` (source 127.0.0.2, device taro-iphone with TOKEN, blocks blocked.example) and `beta`
  (source 127.0.0.1, where curl/kdig come from, blocks nothing).
- dot_query(): one DNS exchange over TLS from Python (SNI and ALPN chosen by the test).
- curl_doh(): one raw RFC 8484 request with curl (HTTP/2 or HTTP/1.1), status/headers/body back.
- tenant_ca(): a tenant's inspection CA made by `sekisho ca init`, its certificate exported (for
  the sekisho-intercept tests).

Everything listens on loopback; every subprocess and socket read is bounded.
"""
import pathlib
import socket
import ssl
import struct
import subprocess
import time

import dns.message

from clients import make_query
from netutil import Listen, hostport
from policy_fixtures import CLI
from sekishod import deep_merge

PUBLIC_NAME = "dns.test"
TOKEN = "k7q2m9x4p8"
DEVICE = "taro-iphone"
ACME, BETA = "127.0.0.2", "127.0.0.1"
BLOCKED = "blocked.example"


def _openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args), p.stderr))
    return p


def issue(d, name, cn=PUBLIC_NAME):
    """A leaf for `cn` signed by the CA in `d`; returns (cert path, key path)."""
    d = pathlib.Path(d)
    ext = d / ("%s.ext" % name)
    ext.write_text("subjectAltName=DNS:%s,DNS:*.%s,DNS:localhost,IP:127.0.0.1\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
                   % (PUBLIC_NAME, PUBLIC_NAME))
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "%s.key" % name, cwd=d)
    _openssl("req", "-new", "-key", "%s.key" % name, "-subj", "/CN=%s/O=%s" % (cn, name), "-out", "%s.csr" % name,
             cwd=d)
    _openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "30", "-extfile", ext.name, "-out", "%s.pem" % name, cwd=d)
    return d / ("%s.pem" % name), d / ("%s.key" % name)


def make_pki(d):
    d = pathlib.Path(d)
    d.mkdir(parents=True, exist_ok=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=sekisho test CA", "-days", "30",
             "-out", "ca.pem", cwd=d)
    cert, key = issue(d, "server")
    return {"dir": d, "ca": d / "ca.pem", "cert": cert, "key": key}


def _listen(name, port):
    return Listen("127.0.0.1", name) if port is None else hostport("127.0.0.1", port)


def encrypted_config(pki, doh_port=None, dot_port=None, extra_tenant_fields=None, querylog_dir=None):
    """Ports None: picked by the harness at start (sk.ports["doh"], sk.ports["dot"])."""
    cfg = {
        "server": {
            "listen": {"doh": [_listen("doh", doh_port)], "dot": [_listen("dot", dot_port)]},
            "tls": {"cert": str(pki["cert"]), "key": str(pki["key"])},
            "public_name": PUBLIC_NAME,
        },
        "tenants": [
            {"id": "acme", "name": "ACME", "networks": [ACME + "/32"], "policy": "office",
             "devices": [{"name": DEVICE, "token": TOKEN}]},
            {"id": "beta", "name": "Beta", "networks": [BETA + "/32"], "policy": "lenient"},
        ],
        "policies": {
            "office": {"deny": [BLOCKED], "action": "nxdomain"},
            "lenient": {"deny": ["nothing-blocked.example"], "action": "nxdomain"},
        },
    }
    if querylog_dir is not None:
        cfg["querylog"] = {"directory": str(querylog_dir)}
    return cfg


def start_encrypted(sekishod, upstream, pki, querylog_dir=None, extra=None):
    """sekishod with DoH and DoT on fresh loopback ports (retried by the harness when one is
    taken meanwhile), `extra` merged into the config; returns (sekishod, doh_port, dot_port)."""
    sk = sekishod([upstream.address], deep_merge(encrypted_config(pki, querylog_dir=querylog_dir), extra))
    return sk, sk.ports["doh"], sk.ports["dot"]


def tls_context(pki, alpn=None):
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def dot_connect(pki, port, sni=PUBLIC_NAME, alpn=("dot",), timeout=3.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    ctx = tls_context(pki, list(alpn) if alpn else None)
    ctx.check_hostname = sni is not None and not sni.startswith("*")
    s = ctx.wrap_socket(raw, server_hostname=sni)
    s.settimeout(timeout)
    return s


def recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise socket.timeout("timed out with %d/%d bytes" % (len(buf), n))
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d/%d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_dns(s, timeout=3.0):
    deadline = time.monotonic() + timeout
    n = struct.unpack("!H", recv_exact(s, 2, deadline))[0]
    return dns.message.from_wire(recv_exact(s, n, deadline))


def dot_query(pki, port, name, rdtype="A", sni=PUBLIC_NAME, alpn=("dot",)):
    q = make_query(name, rdtype)
    s = dot_connect(pki, port, sni=sni, alpn=alpn)
    try:
        w = q.to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        r = read_dns(s)
    finally:
        s.close()
    assert r.id == q.id
    return r


def curl_doh(pki, url, http1=False, method=None, data=None, content_type=None, timeout=10, extra=()):
    """Returns (status, http_version, headers dict (lower-case names), body bytes)."""
    d = pki["dir"]
    body_path, head_path = d / "curl.body", d / "curl.head"
    cmd = ["curl", "-sS", "--max-time", "5", "--cacert", str(pki["ca"]),
           "--http1.1" if http1 else "--http2", "-o", str(body_path), "-D", str(head_path),
           "-w", "%{http_code} %{http_version}"]
    if method:
        cmd += ["-X", method]
    if data is not None:
        data_path = d / "curl.data"
        data_path.write_bytes(data)
        cmd += ["--data-binary", "@%s" % data_path]
    if content_type is not None:
        cmd += ["-H", "content-type: %s" % content_type]
    cmd += list(extra) + [url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "%s\n%s" % (" ".join(cmd), p.stderr)
    status, version = p.stdout.split()
    headers = {}
    for line in head_path.read_text(errors="replace").splitlines()[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return int(status), version, headers, body_path.read_bytes()


def tenant_ca(directory, tenant="acme"):
    """`sekisho ca init` of `tenant`'s inspection CA in directory/ca, and its certificate exported
    to directory/<tenant>-ca.pem, what a client trusts. Returns (ca_dir, ca_pem)."""
    directory = pathlib.Path(directory)
    ca_dir = directory / "ca"
    p = subprocess.run([CLI, "ca", "init", "--dir", str(ca_dir), "--tenant", tenant], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([CLI, "ca", "export", "--dir", str(ca_dir), "--tenant", tenant], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    ca_pem = directory / ("%s-ca.pem" % tenant)
    ca_pem.write_bytes(p.stdout)
    return ca_dir, ca_pem
