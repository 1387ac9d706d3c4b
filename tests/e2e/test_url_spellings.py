"""Every spelling of a listed URL is blocked, and no spelling of another URL is (issue 19).

A store lists `etsy.example/au/market/listed_item` (UT1 `urls`), and a URL with a query and one
with an encoded '/' (lines of a domain list). `sekisho db lookup` must find the listed entry for every
generated spelling (percent-encoded unreserved characters, `.` and `..` segments, repeated
slashes, case, query, fragment, port, scheme, trailing dot) and none for spellings of other paths.
Then a real sekisho-intercept with deep inspection answers the same spellings, sent as is by curl
(`--path-as-is`) over HTTP and HTTPS: the listed ones get the block page naming the entry, the
others reach a local origin (Python's http.server) that echoes the path it was asked for.
"""
import os
import pathlib
import random
import re
import subprocess

import pytest

from netutil import Listen
from policy_fixtures import CLI, db_import, policy_overrides, tenant
from sekishod import Sekishod
from tls_fixtures import tenant_ca
from upstreams import ScriptedUpstream

BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or
                     pathlib.Path(__file__).resolve().parents[2] / "build")
INTERCEPT = os.environ.get("SEKISHO_INTERCEPT") or str(BUILD / "intercept" / "sekisho-intercept")
CLIENT = "127.0.0.5"  # tenant acme
HOST = "etsy.example"
LISTED = "/au/market/listed_item"
ENTRY = "example.etsy/au/market/listed_item"

# The spellings (`%5F` for `_`, `/x/../au/…`, `/au//market/…`, `/AU/market/…`) and more.
SPELLINGS = [
    LISTED, "/au/market/listed%5Fitem", "/x/../au/market/listed_item", "/au//market/listed_item",
    "/AU/market/listed_item", "/au/./market/listed_item", "/au/market/listed_item/", "/au/market/listed_item?ref=1",
    "/%61u/market/listed%5fitem", "/au/market/x/%2e%2E/listed_item", "///AU//Market///Listed_Item//",
    "/au/market/listed_item/more/below",
]
# Other paths: must not be blocked (no over-blocking).
OTHERS = [
    "/au/market/listed_items", "/au/market%2Flisted_item", "/au/market/listed_item/../other", "/au/market",
    "/au/marketlisted_item", "/au/market/listed%2Ditem", "/au/market/listed_item%3F", "/x/au/market/listed_item",
]


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)


def respell(rng, path):
    """A random spelling of `path` (lower case, segments of unreserved characters) with the same
    canonical form: case, escapes of unreserved characters, `.`/`..` segments, repeated slashes."""
    out = ""
    for seg in path.strip("/").split("/"):
        sep = rng.choice(["/", "/", "//", "/./", "/%2e/", "/zz/../", "/q/%2E%2e/"])
        spelt = ""
        for c in seg:
            if c.isalpha() and rng.random() < 0.5:
                c = c.upper()
            if rng.random() < 0.2:
                c = "%%%02X" % ord(c) if rng.random() < 0.5 else "%%%02x" % ord(c)
            spelt += c
        out += sep + spelt
    return out + rng.choice(["", "", "/", "/.", "?a=1&b=2", "/more?x"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("urls")
    store = tmp / "categories"
    ut1 = tmp / "ut1" / "adult"
    ut1.mkdir(parents=True)
    (ut1 / "urls").write_text("%s%s\n" % (HOST, LISTED))
    p = run([CLI, "db", "--db", str(store), "import", "--source", "ut1", "--format", "ut1", str(tmp / "ut1")])
    assert p.returncode == 0, p.stderr
    # URL lines in a domain list take the same form.
    db_import(store, "list", ["https://Video.Example:8443/Watch?v=AbC&list=x#t=10", "enc.example/A%2fB/c",
                              "plain.example"], fmt="domains", category="adult")
    return {"tmp": tmp, "store": store}


def lookup(store, *urls):
    """`sekisho db lookup` of each URL: [(url, matched entry or None)] in order."""
    p = run([CLI, "db", "--db", str(store), "lookup", *urls])
    out = p.stdout.decode()
    blocks = out.split("query: ")[1:]
    assert len(blocks) == len(urls), out
    found = []
    for url, block in zip(urls, blocks):
        assert block.startswith(url + "\n") or block.startswith(url + " ("), (url, block)
        m = re.search(r"^url entry: (\S+)", block, re.M)
        found.append((url, m.group(1) if m else None))
    return found


def test_db_lookup_finds_every_spelling_and_nothing_else(store):
    s = store["store"]
    spelt = ["%s%s" % (HOST, p) for p in SPELLINGS]
    spelt += ["https://%s:443%s#reviews" % (HOST.upper(), LISTED), "http://user@%s.%s" % (HOST, LISTED)]
    rng = random.Random(19)
    spelt += [HOST + respell(rng, LISTED) for _ in range(200)]
    for url, entry in lookup(s, *spelt):
        assert entry == "etsy.example" + LISTED, url
    for url, entry in lookup(s, *["%s%s" % (HOST, p) for p in OTHERS]):
        assert entry is None, url
    # The entry with a query: its parameters in any order, among others; its path in any spelling.
    for url, entry in lookup(s, "video.example/watch?list=x&v=AbC", "VIDEO.example./%57atch/?utm=1&v=AbC&list=x",
                             "video.example/x/../watch?list=x&v=AbC#f"):
        assert entry == "video.example/watch?list=x&v=AbC", url
    for url, entry in lookup(s, "video.example/watch", "video.example/watch?v=AbC", "video.example/watch?v=abc&list=x",
                             "video.example/watch/more?v=AbC&list=x"):
        assert entry is None, url  # a parameter missing, another value (case matters in queries), another path
    for url, entry in lookup(s, "enc.example/a%2Fb/C/d", "enc.example/A%2fB//c"):
        assert entry == "enc.example/a%2Fb/c", url
    assert lookup(s, "enc.example/a/b/c") == [("enc.example/a/b/c", None)]  # %2F is not '/'
    # `verify` checks that every URL key is in the canonical form.
    p = run([CLI, "db", "--db", str(s), "verify"])
    assert p.returncode == 0 and b"problem" not in p.stdout, p.stdout


ORIGIN = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        body = ("origin saw %s" % self.path).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
'''


@pytest.fixture(scope="module")
def intercept(store):
    tmp = store["tmp"]
    ca_dir, ca_pem = tenant_ca(tmp)
    origin = subprocess.Popen(["/usr/bin/python3", "-c", ORIGIN], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    origin_port = int(origin.stdout.readline())
    dns = ScriptedUpstream(addr="127.0.0.1").start()  # every origin name is 127.0.0.1
    cfg = policy_overrides(store["store"], [tenant("acme", ["127.0.0.0/24"], "office")],
                           {"office": {"block": ["adult"], "deep_inspection": True}},
                           blockpage={"ipv4": "127.0.0.1", "ttl": 60})
    cfg["intercept"] = {
        "listen": {"http": [Listen("127.0.0.1", "http")], "https": [Listen("127.0.0.1", "https")]},
        "ca_dir": str(ca_dir), "cert_cache_dir": str(tmp / "certs"),
        "origin_http_port": origin_port, "allow_private": ["127.0.0.0/8"],
    }
    icpt = Sekishod(tmp / "intercept", [dns.address], cfg, binary=INTERCEPT, name="sekisho-intercept")
    icpt.start()
    yield {"proc": icpt, "ca_pem": ca_pem}
    code = icpt.proc.poll()
    icpt.stop()
    dns.stop()
    origin.kill()
    origin.wait(5)
    assert code is None, "sekisho-intercept died during the tests (code %s):\n%s" % (code, icpt.stderr()[-3000:])


def fetch(intercept, path, scheme="http"):
    """curl sending `path` exactly as written; returns (status, body)."""
    port = intercept["proc"].ports[scheme]
    cmd = ["curl", "-sS", "--max-time", "10", "--path-as-is", "--interface", CLIENT,
           "--resolve", "%s:%d:127.0.0.1" % (HOST, port), "-w", "\n%{http_code}",
           "%s://%s:%d%s" % (scheme, HOST, port, path)]
    if scheme == "https":
        cmd[1:1] = ["--cacert", str(intercept["ca_pem"])]
    p = run(cmd)
    body, _, status = p.stdout.decode("utf-8", "replace").rpartition("\n")
    assert status.isdigit(), (path, p.stderr)
    return int(status), body


def detail(body):
    m = re.search(r'id="detail"[^>]*>([^<]*)<', body)
    return m.group(1) if m else None


def test_intercept_blocks_every_spelling_over_http_and_https(intercept):
    rng = random.Random(20261207)
    paths = SPELLINGS + [respell(rng, LISTED) for _ in range(30)]
    for scheme in ("http", "https"):
        for path in paths if scheme == "http" else SPELLINGS:
            status, body = fetch(intercept, path, scheme)
            assert status == 403 and "origin saw" not in body, (scheme, path, status, body[:300])
            assert detail(body) == "url=%s category=adult tenant=acme" % ENTRY, (scheme, path)


def test_intercept_forwards_other_paths_to_the_origin(intercept):
    for path in OTHERS:
        status, body = fetch(intercept, path)
        assert status == 200 and body.startswith("origin saw "), (path, status, body[:300])
