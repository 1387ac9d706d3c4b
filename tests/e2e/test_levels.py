"""Policy levels, read-only and holidays end to end (issue 21 items 1, 3, 5; README "Levels").

DNS: a real sekishod with a category store built by the real CLI, its query log, admin API and
/metrics; kdig from the tenants' loopback addresses for each level — allow (resolves), monitor
(resolves, logged `monitored` with its category, counted in the stats API, the query-log API
and /metrics), read_only (the intercept address, EDE 4), unblock (blocked, the level named),
block — and a whole policy in mode monitor. Schedules on a calendar date (today, UTC) and an
override that expired yesterday against one that runs until tomorrow.

Intercept: sekisho-intercept in front of a local HTTPS origin (test_intercept's) for a read-only
host: curl's GET and HEAD reach the origin; POST, PUT, PATCH, DELETE, a GET with a body and a
WebSocket upgrade get the 403 block page with the reason "posting is restricted" (書き込み規制 in
Japanese); each request is logged like any other URL decision.
"""
import datetime
import json
import re
import subprocess
import time

import pytest

from clients import KDIG
from metrics_scrape import scrape
from netutil import Listen, clear_of_utc_midnight
from policy_fixtures import CLI, make_store, policy_overrides, query_log, tenant
from sekishod import Sekishod
from test_admin import Admin, make_token
from test_intercept import INTERCEPT, ORIGIN, curl, field, make_origin_certs, run

# test_intercept's origin, answering HEAD as well (the headers GET would send, no body).
HEAD = '''    def do_HEAD(self):
        self.send_response(200)
        self.send_header("x-origin", "yes")
        self.send_header("content-length", "0")
        self.end_headers()
    def do_POST(self):'''
ORIGIN_WITH_HEAD = ORIGIN.replace("    def do_POST(self):", HEAD)
assert ORIGIN_WITH_HEAD != ORIGIN
from upstreams import ScriptedUpstream

ACME, WATCH, SCHOOL = "127.0.0.2", "127.0.0.3", "127.0.0.4"
REAL = "192.0.2.1"          # the scripted upstream's answer for any A query
BLOCKPAGE = "127.0.0.1"     # the block-page address, where sekisho-intercept listens
STORE_ROWS = [
    "casino.example,gambling", "games.example,games", "social.example,social", "videos.example,forums",
    "news.example,news", "shop.example,shopping", "chat.example,chat", "blog.example,blog",
]
ACME_POLICY = {"block": ["gambling"], "unblock": ["games"], "monitor": ["social"], "read_only": ["forums"]}
WATCH_POLICY = {"mode": "monitor", "block": ["gambling"], "deny": ["denied.example"]}


def kdig(port, source, name):
    """kdig +edns from `source`; returns its text output (answers and EDE lines)."""
    p = subprocess.run([KDIG, "@127.0.0.1", "-p", str(port), "-b", source, name, "A", "+edns", "+timeout=2",
                        "+retry=0"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout


def answer_a(out, name):
    return re.findall(r"^%s\.\s+\d+\s+IN\s+A\s+(\S+)$" % re.escape(name), out, re.M)


@pytest.fixture(scope="module")
def dns_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levels")
    store = make_store(tmp / "categories", STORE_ROWS)
    today = clear_of_utc_midnight(120)
    school = {
        "calendar": [str(today)],   # the organisation closes today: day `holiday`
        "schedule": [
            {"block": ["shopping"], "days": ["holiday"], "timezone": "UTC"},
            {"block": ["news"], "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "timezone": "UTC"},
            {"block": ["chat"], "until": str(today - datetime.timedelta(days=1)), "timezone": "UTC"},
            {"block": ["blog"], "until": str(today + datetime.timedelta(days=1)), "timezone": "UTC"},
        ],
    }
    token, digest = make_token("tenant-admin", "acme")
    watch_token, watch_digest = make_token("tenant-admin", "watch")
    cfg = policy_overrides(store, [tenant("acme", [ACME + "/32"], "office"), tenant("watch", [WATCH + "/32"], "trial"),
                                   tenant("school", [SCHOOL + "/32"], "school")],
                           {"office": ACME_POLICY, "trial": WATCH_POLICY, "school": school},
                           blockpage={"ipv4": BLOCKPAGE, "ttl": 60})
    cfg["querylog"] = {"directory": str(tmp / "querylog")}
    cfg["admin"] = {"listen": [Listen("127.0.0.1", "admin")], "metrics_listen": [Listen("127.0.0.1", "metrics")],
                    "tokens": [{"name": "acme", "role": "tenant-admin", "tenant": "acme", "sha256": digest},
                               {"name": "watch", "role": "tenant-admin", "tenant": "watch", "sha256": watch_digest}]}
    upstream = ScriptedUpstream().start()
    sk = Sekishod(tmp / "sekishod", [upstream.address], cfg)
    sk.start()
    yield {"sk": sk, "api": Admin(sk.ports["admin"]), "token": token, "watch_token": watch_token,
           "upstream": upstream, "querylog": tmp / "querylog"}
    code = sk.proc.poll()
    sk.stop()
    upstream.stop()
    assert code is None, "sekishod died during the tests (code %s):\n%s" % (code, sk.stderr()[-3000:])


def log_records(api, token, **params):
    query = "&".join("%s=%s" % kv for kv in dict({"limit": "100"}, **params).items())
    status, body, _ = api.call("GET", "/api/v1/querylog?" + query, token=token)
    assert status == 200, body
    return body["records"]


def wait_for(what, check, timeout=5):
    """The query-log writer takes the loops' records every 50 ms: poll, bounded."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_each_level_over_dns_with_kdig(dns_setup):
    port = dns_setup["sk"].port
    out = kdig(port, ACME, "news.example")                       # allow: not listed
    assert answer_a(out, "news.example") == [REAL] and "EDE" not in out, out
    out = kdig(port, ACME, "casino.example")                     # block
    assert answer_a(out, "casino.example") == [BLOCKPAGE] and "category=gambling tenant=acme" in out, out
    out = kdig(port, ACME, "games.example")                      # unblock: blocks, carries its level
    assert answer_a(out, "games.example") == [BLOCKPAGE], out
    assert "category=games level=unblock tenant=acme" in out and "17 (Filtered)" in out, out
    out = kdig(port, ACME, "videos.example")                     # read_only: steered to the intercept
    assert answer_a(out, "videos.example") == [BLOCKPAGE], out
    assert "4 (Forged Answer)" in out and "inspect=read_only category=forums tenant=acme" in out, out
    out = kdig(port, ACME, "www.social.example")                 # monitor: resolves as if allowed
    assert answer_a(out, "www.social.example") == [REAL] and "EDE" not in out, out
    assert dns_setup["upstream"].count("www.social.example") == 1, "a monitored name is resolved upstream"
    assert dns_setup["upstream"].count("casino.example") == 0, "a blocked name never reaches the upstream"


def test_monitored_queries_are_logged_counted_and_searchable(dns_setup):
    api, token, port = dns_setup["api"], dns_setup["token"], dns_setup["sk"].port
    kdig(port, ACME, "feed.social.example")
    kdig(port, ACME, "feed.social.example")   # the cache hit is monitored too
    def monitored():
        rs = [r for r in log_records(api, token, action="monitored") if r["name"] == "feed.social.example"]
        return rs if len(rs) == 2 else None

    records = wait_for("two monitored records", monitored)
    for r in records:
        assert r["categories"] == ["social"] and r["rule"] == "category" and r["rcode"] == "NOERROR", r
    # The stats API counts them by action and by category; /metrics by outcome and per tenant.
    status, stats, _ = api.call("GET", "/api/v1/stats", token=token)
    assert status == 200 and stats["by_action"].get("monitored", 0) >= 2, stats
    assert stats["monitored_by_category"].get("social", 0) >= 2, stats
    assert "social" not in stats["blocked_by_category"], stats
    series = scrape(dns_setup["sk"].ports["metrics"])
    assert series[("sekisho_answers_total", 'outcome="monitored"')] >= 2, \
        sorted(k for k in series if k[0] == "sekisho_answers_total")
    assert series[("sekisho_tenant_queries_total", 'tenant="acme",action="monitored"')] >= 2
    # The files hold the same records.
    lines = query_log(dns_setup["querylog"])
    assert [l["action"] for l in lines if l["name"] == "feed.social.example"] == ["monitored", "monitored"]


def test_a_policy_in_monitor_mode_blocks_nothing_and_records_what_it_would(dns_setup):
    port, api, token = dns_setup["sk"].port, dns_setup["api"], dns_setup["watch_token"]
    out = kdig(port, WATCH, "casino.example")
    assert answer_a(out, "casino.example") == [REAL] and "EDE" not in out, out
    out = kdig(port, WATCH, "www.denied.example")
    assert answer_a(out, "www.denied.example") == [REAL], out
    def monitored():
        rs = log_records(api, token, action="monitored")
        return rs if len(rs) == 2 else None

    records = wait_for("the monitor-mode records", monitored)
    by_name = {r["name"]: r for r in records}
    assert by_name["casino.example"]["categories"] == ["gambling"], records
    assert by_name["www.denied.example"]["rule"] == "deny_list", records
    assert by_name["www.denied.example"]["rule_text"] == "denied.example", records
    # The policy reads back with its mode (the JSON body through config/schema.h, as YAML).
    status, body, _ = api.call("GET", "/api/v1/tenants/watch/policy", token=token)
    assert status == 200 and body["mode"] == "monitor" and body["block"] == ["gambling"], body
    # /api/v1/check says what enforce would do, and that it is only monitored.
    status, body, _ = api.call("GET", "/api/v1/check?tenant=watch&name=casino.example", token=token)
    assert status == 200 and body["verdict"] == "monitor" and body["level"] == "block", body
    assert body["category"] == "gambling" and body["detail"] == "category=gambling tenant=watch", body


def test_schedules_on_a_calendar_date_and_an_override_with_an_expiry(dns_setup):
    port = dns_setup["sk"].port
    out = kdig(port, SCHOOL, "shop.example")     # days: [holiday], and today is in the calendar
    assert answer_a(out, "shop.example") == [BLOCKPAGE] and "category=shopping schedule=" in out, out
    assert "holiday" in out, out
    out = kdig(port, SCHOOL, "news.example")     # every weekday, but today is day `holiday`
    assert answer_a(out, "news.example") == [REAL], out
    out = kdig(port, SCHOOL, "chat.example")     # expired yesterday
    assert answer_a(out, "chat.example") == [REAL], out
    out = kdig(port, SCHOOL, "blog.example")     # until tomorrow
    assert answer_a(out, "blog.example") == [BLOCKPAGE] and "until" in out, out


def test_a_category_at_two_levels_is_refused_by_check_config(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("server: {listen: {dns: [\"127.0.0.1:5353\"]}}\nupstreams: [\"127.0.0.1:53\"]\n"
                   "tenants: [{id: a, networks: [\"127.0.0.0/8\"], policy: p}]\n"
                   "policies:\n  p:\n    block: [games]\n    monitor: [games]\n    mode: log\n")
    p = run([CLI, "check-config", str(cfg)])
    err = p.stderr.decode() + p.stdout.decode()
    assert p.returncode != 0, err
    assert "'log' is not a policy mode (enforce | monitor)" in err, err


# ------------------------------------------------------------------------------ read-only over the intercept

@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readonly")
    store = make_store(tmp / "categories", ["videos.example,forums", "casino.example,gambling"])
    ca_dir = tmp / "ca"
    p = run([CLI, "ca", "init", "--dir", str(ca_dir), "--tenant", "acme"])
    assert p.returncode == 0, p.stderr
    ca_pem = tmp / "acme-ca.pem"
    p = run([CLI, "ca", "export", "--dir", str(ca_dir), "--tenant", "acme"])
    assert p.returncode == 0, p.stderr
    ca_pem.write_bytes(p.stdout)
    origin_dir = tmp / "origin"
    make_origin_certs(origin_dir)
    origin = subprocess.Popen(["/usr/bin/python3", "-c", ORIGIN_WITH_HEAD, str(origin_dir / "leaf.pem"),
                               str(origin_dir / "leaf.key")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    origin_port = int(origin.stdout.readline())
    origin_dns = ScriptedUpstream(addr="127.0.0.1").start()
    cfg = policy_overrides(store, [tenant("acme", ["127.0.0.0/24"], "office")],
                           {"office": {"block": ["gambling"], "read_only": ["forums"]}},
                           blockpage={"ipv4": BLOCKPAGE, "ttl": 60})
    cfg["intercept"] = {"listen": {"http": [Listen("127.0.0.1", "http")], "https": [Listen("127.0.0.1", "https")]},
                        "ca_dir": str(ca_dir), "cert_cache_dir": str(tmp / "certs"),
                        "origin_https_port": origin_port, "origin_ca_file": str(origin_dir / "ca.pem"),
                        "allow_private": ["127.0.0.0/8"]}
    icpt = Sekishod(tmp / "intercept", [origin_dns.address], cfg, binary=INTERCEPT, name="sekisho-intercept")
    icpt.start()
    yield {"intercept": icpt, "port": icpt.ports["https"], "ca": ca_pem, "tmp": tmp}
    code = icpt.proc.poll()
    icpt.stop()
    origin_dns.stop()
    origin.kill()
    origin.wait(5)
    assert code is None, "sekisho-intercept died during the tests (code %s):\n%s" % (code, icpt.stderr()[-3000:])


def test_read_only_host_reads_pass_and_posting_gets_the_block_page(read_only):
    port, ca = read_only["port"], read_only["ca"]
    url = "https://videos.example:%d/board/thread?id=7" % port
    status, body, p = curl(url, port, "videos.example", cacert=ca)
    assert status == 200 and body == "origin saw /board/thread?id=7 host=videos.example", (body, p.stderr)
    status, _, p = curl(url, port, "videos.example", cacert=ca, extra=["-I"])
    assert status == 200 and b"x-origin: yes" in p.stdout, p.stdout
    for method in ["POST", "PUT", "PATCH", "DELETE"]:
        status, body, p = curl(url, port, "videos.example", cacert=ca, extra=["-X", method, "--data", "hello"])
        assert status == 403 and "x-origin" not in body, (method, status, body[:300], p.stderr)
        assert field(body, "detail") == "posting is restricted inspect=read_only category=forums tenant=acme", \
            (method, field(body, "detail"))
    # An upload is a POST; a GET with a body still uploads.
    upload = read_only["tmp"] / "upload.bin"
    upload.write_bytes(b"x" * 100000)
    status, body, _ = curl(url, port, "videos.example", cacert=ca, extra=["-F", "file=@" + str(upload)])
    assert status == 403 and "Posting is restricted" in body, body[:500]
    status, body, _ = curl(url, port, "videos.example", cacert=ca, extra=["-X", "GET", "--data", "x=1"])
    assert status == 403, body[:300]
    # The Japanese page says 書き込み規制.
    status, body, _ = curl(url, port, "videos.example", cacert=ca, lang="ja", extra=["-X", "POST", "--data", "a"])
    assert status == 403 and "書き込み規制" in body, body[:500]


def test_read_only_refuses_websocket_upgrades(read_only):
    port, ca = read_only["port"], read_only["ca"]
    status, body, p = curl("https://videos.example:%d/socket" % port, port, "videos.example", cacert=ca,
                           extra=["--http1.1", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                                  "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    assert status == 403 and "Posting is restricted" in body, (status, body[:300], p.stderr)


def test_read_only_decisions_are_logged_like_url_decisions(read_only):
    port, ca = read_only["port"], read_only["ca"]
    curl("https://videos.example:%d/logged" % port, port, "videos.example", cacert=ca, extra=["-X", "POST", "--data", "a"])
    curl("https://videos.example:%d/logged" % port, port, "videos.example", cacert=ca)
    err = read_only["intercept"].stderr()
    assert re.search(r'msg=request .*host=videos\.example\S* method=POST path=/logged status=403 incident=\S+', err), \
        err[-2000:]
    assert re.search(r'msg=request .*host=videos\.example method=GET path=/logged status=forwarding', err), err[-2000:]
