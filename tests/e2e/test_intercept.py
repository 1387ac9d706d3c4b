"""sekisho-intercept end to end (issue 6): the block page over HTTP and HTTPS with real curl and
openssl, certificates minted from a tenant CA made by `sekisho ca init`, a refused SNI, the
incident ID shared with sekishod's query log, the deep-inspection DNS answer via kdig, and
allowed URLs forwarded to a local HTTPS origin (Python's http.server in TLS with a test CA):
bytes compared by hash both ways, a private origin refused unless allow_private covers it.

Both processes read the same YAML shape; sekisho-intercept is started with the sekishod launcher
(same READY=1 readiness over NOTIFY_SOCKET). Clients are told apart by loopback source address:
127.0.0.0/24 is tenant acme, 127.0.1.0/24 no tenant.
"""
import hashlib
import os
import pathlib
import re
import stat
import subprocess
import time

import pytest

from clients import KDIG
from netutil import Listen, wait_until
from policy_fixtures import CLI, make_store, policy_overrides, query_log, tenant
from sekishod import Sekishod
from upstreams import ScriptedUpstream

BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or
                     pathlib.Path(__file__).resolve().parents[2] / "build")
INTERCEPT = os.environ.get("SEKISHO_INTERCEPT") or str(BUILD / "intercept" / "sekisho-intercept")
CLIENT = "127.0.0.5"      # tenant acme
STRANGER = "127.0.1.9"    # no tenant
ACME_NAME = "ACME 株式会社"
CONTACT = "IT desk, ext. 1234"


def run(cmd, timeout=20, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)


def make_url_source(root):
    """A UT1-style directory: adult/urls lists videos.example/adult (URL entries only)."""
    d = root / "ut1" / "adult"
    d.mkdir(parents=True)
    (d / "urls").write_text("videos.example/adult\n")
    return root / "ut1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, knot):
    tmp = tmp_path_factory.mktemp("intercept")
    store = make_store(tmp / "categories", ["casino.example,gambling", "news.example,news"])
    p = run([CLI, "db", "--db", str(store), "import", "--source", "urls", "--format", "ut1",
             str(make_url_source(tmp))])
    assert p.returncode == 0, p.stderr
    ca_dir = tmp / "ca"
    p = run([CLI, "ca", "init", "--dir", str(ca_dir), "--tenant", "acme"])
    assert p.returncode == 0, p.stderr
    cfg = policy_overrides(
        store,
        [dict(tenant("acme", ["127.0.0.0/24"], "office", name=ACME_NAME), contact=CONTACT)],
        {"office": {"block": ["gambling", "adult"], "deny": ["badsite.example"], "deep_inspection": True}},
        blockpage={"ipv4": "127.0.0.1", "ttl": 60})
    cfg["querylog"] = {"directory": str(tmp / "querylog")}
    cfg["intercept"] = {
        "listen": {"http": [Listen("127.0.0.1", "http")], "https": [Listen("127.0.0.1", "https")]},
        "ca_dir": str(ca_dir),
        "cert_cache_dir": str(tmp / "certs"),
    }
    dns = Sekishod(tmp / "sekishod", [knot.addresses[0]], cfg)
    dns.start()
    icpt = Sekishod(tmp / "intercept", [knot.addresses[0]], cfg, binary=INTERCEPT, name="sekisho-intercept")
    icpt.start()
    ca_pem = tmp / "acme-ca.pem"
    p = run([CLI, "ca", "export", "--dir", str(ca_dir), "--tenant", "acme"])
    assert p.returncode == 0, p.stderr
    ca_pem.write_bytes(p.stdout)
    yield {"tmp": tmp, "dns": dns, "intercept": icpt, "http": icpt.ports["http"], "https": icpt.ports["https"],
           "ca_dir": ca_dir, "ca_pem": ca_pem}
    for proc in (icpt, dns):
        code = proc.proc.poll()
        proc.stop()
        assert code is None, "%s died during the tests (code %s):\n%s" % (proc.name, code, proc.stderr()[-3000:])


def curl(url, port, name, source=CLIENT, lang=None, cacert=None, extra=(), output="-"):
    """curl from `source` with name:port pinned to 127.0.0.1; returns (status, body, CompletedProcess)."""
    cmd = ["curl", "-sS", "--max-time", "10", "--interface", source, "--resolve", "%s:%d:127.0.0.1" % (name, port),
           "-o", str(output), "-w", "\n%{http_code}"]
    if lang:
        cmd += ["-H", "Accept-Language: " + lang]
    if cacert:
        cmd += ["--cacert", str(cacert)]
    cmd += list(extra) + [url]
    p = run(cmd)
    out = p.stdout.decode("utf-8", "replace")
    body, _, status = out.rpartition("\n")
    return (int(status) if status.isdigit() else 0), body, p


def field(body, element_id):
    m = re.search(r'id="%s"[^>]*>([^<]*)<' % re.escape(element_id), body)
    return m.group(1) if m else None


def test_ca_init_refuses_overwrite_and_exports_pem_and_der(setup):
    acme = setup["ca_dir"] / "acme"
    assert stat.S_IMODE((acme / "ca.key").stat().st_mode) == 0o600
    before = (acme / "ca.crt").read_bytes()
    p = run([CLI, "ca", "init", "--dir", str(setup["ca_dir"]), "--tenant", "acme"])
    assert p.returncode == 1 and b"already exists" in p.stderr, p
    assert (acme / "ca.crt").read_bytes() == before
    assert setup["ca_pem"].read_bytes() == before
    der = run([CLI, "ca", "export", "--dir", str(setup["ca_dir"]), "--tenant", "acme", "--der"]).stdout
    again = run(["openssl", "x509", "-inform", "DER", "-outform", "PEM"], input=der).stdout
    assert again == before
    text = run(["openssl", "x509", "-noout", "-text", "-in", str(setup["ca_pem"])]).stdout.decode()
    assert "CA:TRUE, pathlen:0" in text and "prime256v1" in text, text
    p = run([CLI, "ca", "export", "--dir", str(setup["ca_dir"]), "--tenant", "nobody"])
    assert p.returncode == 1 and b"cannot open" in p.stderr


def test_minted_leaf_verifies_with_openssl(setup):
    p = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % setup["https"], "-servername", "www.casino.example",
             "-showcerts"], input=b"", timeout=10)
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", p.stdout, re.S)
    assert pems, p.stdout + p.stderr
    leaf = setup["tmp"] / "leaf.pem"
    leaf.write_bytes(pems[0])
    v = run(["openssl", "verify", "-CAfile", str(setup["ca_pem"]), "-verify_hostname", "www.casino.example",
             "-purpose", "sslserver", str(leaf)])
    assert v.returncode == 0 and b": OK" in v.stdout, v
    wrong = run(["openssl", "verify", "-CAfile", str(setup["ca_pem"]), "-verify_hostname", "other.example", str(leaf)])
    assert wrong.returncode != 0
    text = run(["openssl", "x509", "-noout", "-text", "-in", str(leaf)]).stdout.decode()
    assert "DNS:www.casino.example" in text and "CA:FALSE" in text
    # Cached on disk for the next process, key included, readable by the service only.
    cached = setup["tmp"] / "certs" / "acme" / "www.casino.example.pem"
    assert cached.exists() and stat.S_IMODE(cached.stat().st_mode) == 0o600
    # The same certificate on the next handshake (memory cache), not a new one.
    p2 = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % setup["https"], "-servername",
              "www.casino.example"], input=b"", timeout=10)
    assert pems[0].split(b"\n")[1] in p2.stdout


def test_blockpage_http_in_japanese_and_english(setup):
    port = setup["http"]
    status, body, _ = curl("http://casino.example:%d/some/path" % port, port, "casino.example", lang="ja,en;q=0.8")
    assert status == 403, body
    assert field(body, "category") == "ギャンブル"
    assert field(body, "blocked-name") == "casino.example"
    assert ACME_NAME in body and CONTACT in body
    assert field(body, "detail") == "category=gambling tenant=acme"  # the EDE text of the DNS answer
    assert re.fullmatch(r"[0-9A-F]{5}-[0-9A-F]{5}", field(body, "incident") or "")
    assert field(body, "inspection").startswith("有効")
    status, body, _ = curl("http://casino.example:%d/" % port, port, "casino.example", lang="en-US,en;q=0.9")
    assert status == 403 and field(body, "category") == "Gambling" and '<html lang="en">' in body
    # The switch link: ?lang=en wins over a Japanese browser.
    status, body, _ = curl("http://casino.example:%d/?lang=en" % port, port, "casino.example", lang="ja")
    assert status == 403 and field(body, "category") == "Gambling"
    status, body, _ = curl("http://www.badsite.example:%d/" % port, port, "www.badsite.example", lang="en")
    assert status == 403 and field(body, "detail") == "list=deny rule=badsite.example tenant=acme"
    status, body, _ = curl("http://news.example:%d/" % port, port, "news.example")
    assert status == 404 and "not blocked" in body


def test_blockpage_https_with_tenant_ca(setup):
    port = setup["https"]
    for lang, category in (("ja", "ギャンブル"), ("en", "Gambling")):
        status, body, p = curl("https://www.casino.example:%d/" % port, port, "www.casino.example", lang=lang,
                               cacert=setup["ca_pem"])
        assert status == 403, (body, p.stderr)
        assert field(body, "category") == category
        assert field(body, "blocked-name") == "www.casino.example"
    # Without the tenant CA the client refuses the certificate (it is not a public one).
    status, _, p = curl("https://www.casino.example:%d/" % port, port, "www.casino.example")
    assert status == 0 and p.returncode == 60, p.stderr


def test_refused_sni_gets_a_handshake_alert(setup):
    port = setup["https"]
    # Not blocked for acme: no certificate is minted for it.
    status, _, p = curl("https://news.example:%d/" % port, port, "news.example", cacert=setup["ca_pem"])
    assert status == 0 and p.returncode == 35, p.stderr
    s = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "www.example.org"],
            input=b"", timeout=10)
    assert b"unrecognized name" in s.stdout + s.stderr, s
    # A client outside every tenant gets nothing either, even for a blocked name.
    status, _, p = curl("https://www.casino.example:%d/" % port, port, "www.casino.example", source=STRANGER,
                        cacert=setup["ca_pem"])
    assert status == 0 and p.returncode == 35, p.stderr
    # A certificate minted for one name does not carry requests for another (domain fronting).
    status, body, _ = curl("https://www.casino.example:%d/" % port, port, "www.casino.example",
                           cacert=setup["ca_pem"], extra=["-H", "Host: videos.example"])
    assert status == 421, body
    assert not (setup["tmp"] / "certs" / "acme" / "news.example.pem").exists()
    assert not (setup["tmp"] / "certs" / "acme" / "www.example.org.pem").exists()
    log = setup["intercept"].stderr()
    assert "TLS refused" in log and "www.example.org" in log


def test_incident_id_matches_the_query_log(setup):
    # Same minute on both sides: start early in a minute.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    name = "incident.casino.example"
    k = run([KDIG, "@127.0.0.1", "-p", str(setup["dns"].port), "-b", CLIENT, name, "A", "+timeout=2", "+retry=0"])
    assert b"127.0.0.1" in k.stdout, k.stdout
    status, body, _ = curl("http://%s:%d/" % (name, setup["http"]), setup["http"], name, lang="en")
    assert status == 403
    incident = field(body, "incident")
    logdir = setup["tmp"] / "querylog"

    def logged():
        for r in query_log(logdir):
            if r["name"] == name and r["client"] == CLIENT:
                return r
        return None

    wait_until(lambda: logged() is not None, 5, what="query-log record")
    record = logged()
    assert record["action"] == "blocked" and record["incident"] == incident, (record, incident)


def test_deep_inspection_answer_and_url_verdicts(setup):
    k = run([KDIG, "@127.0.0.1", "-p", str(setup["dns"].port), "-b", CLIENT, "videos.example", "A", "+timeout=2",
             "+retry=0", "+edns"])
    out = k.stdout.decode()
    assert re.search(r"videos\.example\.\s+\d+\s+IN\s+A\s+127\.0\.0\.1", out), out
    assert "inspect=url tenant=acme" in out and "4 (Forged Answer)" in out, out
    port = setup["https"]
    status, body, p = curl("https://videos.example:%d/adult/clip?id=1" % port, port, "videos.example", lang="ja",
                           cacert=setup["ca_pem"])
    assert status == 403, (body, p.stderr)
    assert field(body, "category") == "アダルト"
    assert field(body, "detail") == "url=example.videos/adult category=adult tenant=acme"


ORIGIN = r'''
import hashlib, http.server, os, ssl, sys
BIG = os.urandom(3 * 1024 * 1024 + 17)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, body, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("x-origin", "yes")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/news/big.bin":
            return self.reply(BIG)
        if self.path == "/news/big.sha256":
            return self.reply(hashlib.sha256(BIG).hexdigest().encode(), "text/plain")
        self.reply(("origin saw %s host=%s" % (self.path, self.headers["host"])).encode(), "text/plain")
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        self.reply(hashlib.sha256(body).hexdigest().encode(), "text/plain")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
'''


def make_origin_certs(d):
    """A test CA (ca.pem) and its leaf for videos.example (leaf.pem, leaf.key) in directory d."""
    d.mkdir(exist_ok=True)
    openssl = lambda *a: run(["openssl"] + list(a), cwd=d)
    assert openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                   "-subj", "/CN=origin test CA", "-keyout", "ca.key", "-out", "ca.pem",
                   "-addext", "basicConstraints=critical,CA:TRUE").returncode == 0
    assert openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=videos.example",
                   "-keyout", "leaf.key", "-out", "leaf.csr").returncode == 0
    (d / "ext").write_text("subjectAltName=DNS:videos.example\n")
    assert openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                   "-days", "2", "-extfile", "ext", "-out", "leaf.pem").returncode == 0


@pytest.fixture(scope="module")
def origin(setup):
    """An HTTPS origin for videos.example with its own test CA; a DNS upstream answering 127.0.0.1."""
    d = setup["tmp"] / "origin"
    make_origin_certs(d)
    proc = subprocess.Popen(["/usr/bin/python3", "-c", ORIGIN, str(d / "leaf.pem"), str(d / "leaf.key")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline())
    dns = ScriptedUpstream(addr="127.0.0.1").start()
    yield {"port": port, "ca": d / "ca.pem", "dns": dns}
    dns.stop()
    proc.kill()
    proc.wait(5)


def start_forwarding_intercept(setup, origin, name, allow_private):
    cfg = dict(setup["intercept"].overrides)
    cfg["intercept"] = dict(cfg["intercept"], listen={"http": [Listen("127.0.0.1", "http")],
                                                     "https": [Listen("127.0.0.1", "https")]},
                            origin_https_port=origin["port"], origin_ca_file=str(origin["ca"]),
                            allow_private=allow_private)
    p = Sekishod(setup["tmp"] / name, [origin["dns"].address], cfg, binary=INTERCEPT, name="sekisho-intercept")
    p.start()
    return p, p.ports["https"]


def test_allowed_urls_are_forwarded_to_the_origin_bytes_intact(setup, origin):
    icpt, port = start_forwarding_intercept(setup, origin, "forwarding", ["127.0.0.0/8"])
    try:
        status, body, p = curl("https://videos.example:%d/news/today?x=1" % port, port, "videos.example",
                               cacert=setup["ca_pem"])
        assert status == 200 and body == "origin saw /news/today?x=1 host=videos.example", (body, p.stderr)
        # A multi-megabyte download, compared with the origin's own hash.
        out = setup["tmp"] / "big.bin"
        status, _, p = curl("https://videos.example:%d/news/big.bin" % port, port, "videos.example",
                            cacert=setup["ca_pem"], output=out)
        assert status == 200, (p.stderr, out.read_bytes()[:300])
        _, want, _ = curl("https://videos.example:%d/news/big.sha256" % port, port, "videos.example",
                          cacert=setup["ca_pem"])
        assert out.stat().st_size == 3 * 1024 * 1024 + 17
        assert hashlib.sha256(out.read_bytes()).hexdigest() == want
        # An upload: the origin hashes what it received.
        upload = setup["tmp"] / "upload.bin"
        upload.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
        status, got, p = curl("https://videos.example:%d/news/upload" % port, port, "videos.example",
                              cacert=setup["ca_pem"], extra=["--data-binary", "@" + str(upload)])
        assert status == 200 and got == hashlib.sha256(upload.read_bytes()).hexdigest(), (got, p.stderr)
        # The blocked path on the same host still gets the block page, not the origin.
        status, body, _ = curl("https://videos.example:%d/adult/x" % port, port, "videos.example",
                               cacert=setup["ca_pem"])
        assert status == 403 and "x-origin" not in body
        assert "forwarded" in icpt.stderr()
    finally:
        icpt.stop()


def test_private_origin_refused_without_allow_private(setup, origin):
    icpt, port = start_forwarding_intercept(setup, origin, "noprivate", [])
    try:
        status, body, _ = curl("https://videos.example:%d/news/today" % port, port, "videos.example",
                               cacert=setup["ca_pem"])
        assert status == 502 and "non-public address" in body, body
    finally:
        icpt.stop()


def test_chromium_shows_the_https_block_page_with_the_tenant_ca_trusted(setup, tmp_path):
    """Headless Chromium, the tenant CA trusted through its NSS database (no certificate-error
    flags), Japanese preferred: the DOM shows the category's Japanese name; a screenshot is kept."""
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    assert run(["certutil", "-d", "sql:%s" % nssdb, "-N", "--empty-password"]).returncode == 0
    assert run(["certutil", "-d", "sql:%s" % nssdb, "-A", "-t", "C,,", "-n", "sekisho-acme",
                "-i", str(setup["ca_pem"])]).returncode == 0
    shots = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR", tmp_path)) / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    url = "https://www.casino.example:%d/" % setup["https"]
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--accept-lang=ja",
            "--host-resolver-rules=MAP www.casino.example 127.0.0.1", "--window-size=1024,700"]
    env = dict(os.environ, HOME=str(home))
    dom = run(base + ["--dump-dom", url], timeout=60, env=env)
    text = dom.stdout.decode("utf-8", "replace")
    assert field(text, "category") == "ギャンブル", (text[-2000:], dom.stderr[-2000:])
    assert field(text, "blocked-name") == "www.casino.example"
    shot = shots / "intercept-blockpage-ja.png"
    run(base + ["--screenshot=%s" % shot, url], timeout=60, env=env)
    assert shot.exists() and shot.stat().st_size > 10000
