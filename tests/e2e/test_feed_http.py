"""HTTP(S) list feeds (issue 18): a real nginx serves lists over TLS (a test CA) on a loopback port; the
real sekisho-feed (`--once`, one process per step, so every step is also a restart) downloads them into
the category store that a running sekishod reads.

- the first download (200, Content-Encoding gzip from nginx) is imported: `sekisho db lookup` lists the
  names and sekishod blocks them
- the second attempt is conditional (If-None-Match from the status file) and gets 304: nginx's access
  log shows the conditional request and its 304, the store's generation does not move
- an HTML 503 error page, an HTML page served as 200, an empty body, a truncated .gz, a list that would
  shrink the source by more than half, and a list naming `com` are refused: the previous entries stay
  (db lookup and a real query to sekishod), the status file, `sekisho feed status` and /metrics say why
- a changed list (a .gz body) is applied; the shrinking list is applied with limits.allow_shrink
- TLS with an unknown CA (the feed's ca_file, or the system's CAs) is refused
"""
import gzip
import json
import os
import pathlib
import subprocess

import pytest

from metrics_scrape import scrape
from netutil import Listen
from nginx_server import Nginx
from policy_fixtures import CLI, ask, rdatas
from sekishod import Sekishod
from tls_fixtures import make_pki

BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or pathlib.Path(__file__).resolve().parents[2] / "build")
FEED = os.environ.get("SEKISHO_FEED") or str(BUILD / "feed" / "sekisho-feed")
CLIENT = "127.0.0.2"

V1 = "# a test list\nbad1.test.example\nbad2.test.example\nbad3.test.example\nbad4.test.example\n"
V2 = "# the next version\nbad1.test.example\nbad2.test.example\nbad3.test.example\nbad5.test.example\n"
ERROR_PAGE = ("<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
              "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
              "</body>\r\n</html>\r\n")


def feed_config(tmp, url, ca, **extra):
    feed = {"name": "lists", "kind": "http", "url": url, "format": "domains", "categories": ["malware"],
            "ca_file": str(ca), "timeout_ms": 3000, "download_timeout_ms": 10000, "retry": 1}
    feed.update(extra)
    if feed.get("ca_file") is None:
        del feed["ca_file"]
    return {
        "category_db": str(tmp / "store"),
        "blockpage": {"ipv4": "192.0.2.10", "ttl": 60},
        "tenants": [{"id": "acme", "networks": ["127.0.0.0/8"], "policy": "office"}],
        "policies": {"office": {"block": ["malware"], "action": "blockpage"}},
        "feeds": [feed],
        "feed_service": {"state_directory": str(tmp / "feed-state")},
        "admin": {"metrics_listen": [Listen("127.0.0.1", "metrics")]},
    }


class Setup:
    def __init__(self, tmp, knot):
        self.tmp = tmp
        self.pki = make_pki(tmp / "pki")
        self.other_ca = make_pki(tmp / "other-pki")["ca"]
        self.nginx = Nginx(tmp / "nginx", self.pki["cert"], self.pki["key"],
                           extra_locations="        location = /down.txt { return 503; }")
        www = self.nginx.www
        (www / "503.html").write_text(ERROR_PAGE)
        (www / "list.txt").write_text(V1)
        (www / "portal.html").write_text("<!DOCTYPE html>\n<html><body>Please log in to the Wi-Fi</body></html>\n")
        (www / "empty.txt").write_text("")
        whole = gzip.compress(V1.encode() * 50)
        (www / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])
        (www / "shrunk.txt").write_text("bad1.test.example\n")
        (www / "suffix.txt").write_text(V1 + "com\n")
        (www / "v2.txt.gz").write_bytes(gzip.compress(V2.encode()))
        self.nginx.start()
        self.feed = Sekishod(tmp / "feed", [knot.address], binary=FEED, name="feed")
        self.sk = None

    def run_feed(self, path, ca="test", **extra):
        ca_file = {"test": self.pki["ca"], "other": self.other_ca, "system": None}[ca]
        self.feed.overrides = feed_config(self.tmp, self.nginx.url(path), ca_file, **extra)
        self.feed.prepare(keep=self.feed.ports)
        return subprocess.run([FEED, "--config", str(self.feed.config_path), "--once"], capture_output=True, text=True,
                              timeout=60)

    def status(self):
        return json.loads((self.tmp / "feed-state" / "lists.json").read_text())

    def cli_status(self):
        return subprocess.run([CLI, "feed", "status", "--config", str(self.feed.config_path)], capture_output=True,
                              text=True, timeout=30)

    def lookup(self, name):
        p = subprocess.run([CLI, "db", "--db", str(self.tmp / "store"), "lookup", name], capture_output=True, text=True,
                           timeout=30)
        return p.stdout

    def generation(self):
        p = subprocess.run([CLI, "db", "--db", str(self.tmp / "store"), "stats"], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        return int(next(line.split()[1] for line in p.stdout.splitlines() if line.startswith("generation:")))

    def blocked(self, name):
        return rdatas(ask(self.sk.port, name, source=CLIENT), "A") == {"192.0.2.10"}


@pytest.fixture
def setup(tmp_path, knot):
    s = Setup(tmp_path, knot)
    try:
        yield s
    finally:
        if s.sk:
            s.sk.stop()
        s.nginx.stop()
        print("----- nginx access log -----\n" + "\n".join(s.nginx.access_log()[-30:]))
        print("----- nginx error log -----\n" + (s.nginx.dir / "error.log").read_text(errors="replace")[-3000:])


def listed(out):
    return "verdict: listed" in out


def test_http_list_feed_200_304_refusals_change_and_tls(setup, knot):
    s = setup
    # 1. The first download: 200, gzip-encoded by nginx, imported.
    p = s.run_feed("/list.txt")
    assert p.returncode == 0, p.stdout + p.stderr
    st = s.status()
    assert st["last_result"] == "downloaded" and st["entries"] == 4 and st["etag"], st
    assert st["last_transfer"].startswith("200: ") and "gzip" in st["last_transfer"], st
    assert s.nginx.access_log()[-1].startswith('200 "GET /list.txt') and 'ae="gzip"' in s.nginx.access_log()[-1]
    assert listed(s.lookup("bad1.test.example")) and listed(s.lookup("www.bad4.test.example"))
    # sekishod reads the same store (and the status files, for /metrics).
    s.sk = Sekishod(s.tmp / "sekishod", [knot.address], overrides=dict(s.feed.overrides))
    s.sk.start()
    assert s.blocked("bad1.test.example.") and s.blocked("x.bad4.test.example.")
    assert rdatas(ask(s.sk.port, "short5.test.example.", source=CLIENT), "A") == {"192.0.2.5"}

    # 2. Unchanged: a conditional GET (a new process: the ETag came from the status file), 304,
    # nothing written.
    gen = s.generation()
    etag = st["etag"]
    p = s.run_feed("/list.txt")
    assert p.returncode == 0, p.stdout + p.stderr
    st = s.status()
    assert st["last_result"] == "not-modified" and st["etag"] and st["entries"] == 4, st
    # The ETag of the first answer went back as If-None-Match (nginx logs '"' as \x22; its 304 names
    # the file's strong ETag, its gzipped 200 the weak form of it).
    last = s.nginx.access_log()[-1]
    assert last.startswith('304 "GET /list.txt') and ('inm="%s"' % etag.replace('"', "\\x22")) in last, last
    assert s.generation() == gen

    # 3. What must never replace the list: each refused, the four names still listed and blocked.
    cases = [
        ("/down.txt", {}, "failed", "HTTP 503"),                     # an HTML 503 error page
        ("/portal.html", {}, "refused", "refused (markup)"),         # an HTML page served as 200
        ("/empty.txt", {}, "refused", "refused (empty)"),            # an empty body
        ("/cut.txt.gz", {}, "failed", "gzip: truncated"),            # a .gz cut in half
        ("/shrunk.txt", {}, "refused", "refused (shrink)"),          # 3 of 4 names gone
        ("/suffix.txt", {}, "refused", "refused (public-suffix)"),   # `com` among the names
    ]
    failures = 0
    for path, extra, result, says in cases:
        p = s.run_feed(path, **extra)
        assert p.returncode == 1, (path, p.stdout + p.stderr)
        failures += 1
        st = s.status()
        assert st["last_result"] == result and says in st["last_error"], (path, st)
        assert st["entries"] == 4 and st["failures_total"] == failures, (path, st)
        if result == "refused":
            assert st["last_refusal"].startswith(says[len("refused ("):-1] + ":"), (path, st)
        assert s.generation() == gen, path
        for name in ("bad1.test.example", "bad2.test.example", "bad4.test.example"):
            assert listed(s.lookup(name)), (path, name)
            assert s.blocked(name + "."), (path, name)
        c = s.cli_status()
        assert c.returncode == 1 and says in c.stdout, (path, c.stdout + c.stderr)
    assert not listed(s.lookup("com")) and not listed(s.lookup("google.com"))
    assert "'com' at line 6" in s.status()["last_error"], s.status()
    c = s.cli_status()
    assert "last refusal:  public-suffix:" in c.stdout and "failures:      6 in a row, 6 in all" in c.stdout, c.stdout
    series = scrape(s.sk.ports["metrics"])
    assert series[("sekisho_feed_failures_total", 'feed="lists"')] == 6, series
    assert series[("sekisho_feed_refusals_total", 'feed="lists"')] == 4, series
    assert series[("sekisho_feed_entries", 'feed="lists"')] == 4, series

    # 4. A changed list (a .gz body) is applied: bad5 comes, bad4 goes.
    p = s.run_feed("/v2.txt.gz")
    assert p.returncode == 0, p.stdout + p.stderr
    st = s.status()
    assert st["last_result"] == "downloaded" and st["entries"] == 4 and st["consecutive_failures"] == 0, st
    assert listed(s.lookup("bad5.test.example")) and not listed(s.lookup("bad4.test.example"))
    assert s.blocked("bad5.test.example.") and not s.blocked("bad4.test.example.")
    assert s.cli_status().returncode == 0

    # 5. The shrinking list, forced by the feed's own limit.
    p = s.run_feed("/shrunk.txt", limits={"allow_shrink": True})
    assert p.returncode == 0, p.stdout + p.stderr
    assert s.status()["entries"] == 1
    assert listed(s.lookup("bad1.test.example")) and not listed(s.lookup("bad2.test.example"))

    # 6. TLS against an unknown CA: the feed's ca_file names another CA, or none (the system's).
    gen = s.generation()
    for ca in ("other", "system"):
        p = s.run_feed("/list.txt", ca=ca)
        assert p.returncode == 1, p.stdout + p.stderr
        st = s.status()
        assert st["last_result"] == "failed" and st["last_error"].startswith("TLS: "), (ca, st)
        assert s.generation() == gen and listed(s.lookup("bad1.test.example"))
