"""Admin API end to end: a real sekishod with admin.listen and metrics_listen, real HTTP clients
(http.client over HTTP/1.1, curl over HTTP/2), real DNS queries (dnspython) from the tenants'
source addresses, and the files on disk (tenants.d YAML, audit log, query log).

One sekishod serves the whole module (start-up is the slow part). No test depends on another or
on their order: each starts from the tenants.d files as written at start-up (restored and
reloaded by the autouse `baseline` fixture when a test changed them), makes the DNS traffic it
asserts on itself (acme_traffic), and reads only the audit lines it caused.
"""
import datetime
import http.client
import json
import math
import pathlib
import re
import signal
import subprocess
import time
import zoneinfo

import pytest

from netutil import Listen, free_port
from policy_fixtures import CLI, ask, edes, make_store, rcode
from sekishod import Sekishod
from upstreams import ScriptedUpstream

ACME, BETA, LEGACY = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def make_token(role, tenant=None, name=None):
    cmd = [CLI, "admin", "token", "--role", role]
    if tenant:
        cmd += ["--tenant", tenant]
    if name:
        cmd += ["--name", name]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)
    token = re.search(r"^token: (\S+)$", p.stdout, re.M).group(1)
    digest = re.search(r"sha256: ([0-9a-f]{64})", p.stdout).group(1)
    assert token not in p.stdout.split("\n", 1)[1], "the YAML entry must not hold the token"
    return token, digest


class Admin:
    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host
    def call(self, method, path, token=None, body=None, headers=None, source="127.0.0.1", raw=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=(source, 0))
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode()
            headers = {k.lower(): v for k, v in r.getheaders()}
            return r.status, (json.loads(text) if headers.get("content-type", "").startswith("application/json") else text), headers
        finally:
            c.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("admin")
    upstream = ScriptedUpstream().start()  # answers every A query
    store = make_store(d / "categories", ["casino.example,gambling", "malware.example,malware"])
    op, op_digest = make_token("operator", name="root")
    acme, acme_digest = make_token("tenant-admin", "acme")
    beta, beta_digest = make_token("tenant-admin", "beta")
    cfg = {
        "category_db": str(store),
        "tenants": [{"id": "legacy", "networks": [LEGACY + "/32"], "policy": "shared"}],
        "policies": {"shared": {"deny": ["legacy-deny.example"]}},
        "querylog": {"directory": str(d / "querylog")},
        # A feed whose status file says it was refused (written below as sekisho-feed writes it):
        # the Feeds panel and /api/v1/feeds show it; sekishod itself ignores feeds.
        "feeds": [{"name": "lists", "kind": "http", "url": "https://lists.example/hosts.txt", "format": "hosts",
                   "categories": ["malware"]}],
        "feed_service": {"state_directory": str(d / "feed-status")},
        "admin": {
            "listen": [Listen("127.0.0.1", "admin")],
            "metrics_listen": [Listen("127.0.0.1", "metrics")],
            "audit_log": str(d / "audit.jsonl"),
            "tokens": [
                {"name": "root", "role": "operator", "sha256": op_digest},
                {"name": "acme-admin", "role": "tenant-admin", "tenant": "acme", "sha256": acme_digest},
                {"name": "beta-admin", "role": "tenant-admin", "tenant": "beta", "sha256": beta_digest},
            ],
        },
    }
    (d / "feed-status").mkdir()
    (d / "feed-status" / "lists.json").write_text(json.dumps({
        "name": "lists", "kind": "http", "last_attempt": 1765000100, "last_success": 1765000000,
        "last_result": "refused", "entries": 240, "etag": '"5f1-abc"', "consecutive_failures": 1,
        "failures_total": 1, "refusals_total": 1, "last_refusal": "shrink: the update would remove 200 of the "
        "source's 240 entries (83.3%), more than the 50% allowed",
        "last_error": "refused (shrink): the update would remove 200 of the source's 240 entries (83.3%), more than "
                      "the 50% allowed"}))
    sk = Sekishod(d / "sk", [upstream.address], cfg)
    tenants_d = d / "sk" / "tenants.d"
    tenants_d.mkdir(parents=True)
    (tenants_d / "acme.yaml").write_text(
        'tenants:\n  - id: acme\n    networks: ["%s/32"]\n    policy: acme\n    max_devices: 2\n'
        'policies:\n  acme:\n    deny: ["acme-deny.example"]\n' % ACME)
    (tenants_d / "beta.yaml").write_text(
        'tenants:\n  - id: beta\n    networks: ["%s/32"]\n    policy: shared\n' % BETA)
    sk.start()
    env = type("Env", (), {})()
    env.sk, env.dir, env.tenants_d = sk, d, tenants_d
    env.tenant_files = {p.name: p.read_text() for p in tenants_d.iterdir()}
    env.api = Admin(sk.ports["admin"])
    env.metrics_port = sk.ports["metrics"]
    env.op, env.acme, env.beta = op, acme, beta
    yield env
    code, _ = sk.terminate()
    err = sk.stderr()
    sk.stop()
    upstream.stop()
    assert code == 0, err[-3000:]


def audit(env):
    path = env.dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(autouse=True)
def baseline(env):
    """The tenants as at start-up: files a test changed (policies, devices, forks) are written
    back and sekishod reloads them before the next test."""
    files = {p.name: p.read_text() for p in env.tenants_d.iterdir()}
    if files != env.tenant_files:
        for name in set(files) - set(env.tenant_files):
            (env.tenants_d / name).unlink()
        for name, text in env.tenant_files.items():
            (env.tenants_d / name).write_text(text)
        n = len(env.sk.notify_lines())
        env.sk.signal(signal.SIGHUP)
        assert env.sk.wait_notify("STATUS=configuration reloaded", 5.0, after=n), \
            "baseline reload: %r\n%s" % (env.sk.notify_lines()[n:], env.sk.stderr()[-3000:])
    yield


def acme_traffic(env):
    """acme blocks gambling with NXDOMAIN, and asks 8 names over UDP: 2 blocked (gambling), 6
    resolved. What the stats, metrics, query-log and dashboard tests count on."""
    status, body, _ = env.api.call("PUT", "/api/v1/tenants/acme/policy", token=env.acme,
                                   body={"block": ["gambling"], "deny": ["acme-deny.example"], "action": "nxdomain"})
    assert status == 200, body
    for name in ("casino.example.", "www.casino.example."):
        r = ask(env.sk.port, name, source=ACME)
        assert rcode(r) == "NXDOMAIN" and (17, "category=gambling tenant=acme") in edes(r), r
    for i in range(6):
        assert rcode(ask(env.sk.port, "traffic%d.example." % i, source=ACME)) == "NOERROR"


def test_healthz_needs_no_token_and_everything_else_does(env):
    assert env.api.call("GET", "/healthz")[0] == 200
    status, body, headers = env.api.call("GET", "/api/v1/tenants")
    assert status == 401 and headers["www-authenticate"] == "Bearer" and body["error"]
    assert env.api.call("GET", "/api/v1/tenants", token="sk_nope")[0] == 401
    assert env.api.call("GET", "/metrics")[0] == 401
    assert env.api.call("GET", "/metrics", token=env.acme)[0] == 403
    assert env.api.call("GET", "/metrics", token=env.op)[0] == 200


def test_failed_attempts_are_rate_limited_per_source(env):
    guesser = "127.0.0.9"
    # Token-less requests (any web page can make a browser send them) count for nothing.
    assert [env.api.call("GET", "/api/v1/me", source=guesser)[0] for _ in range(12)] == [401] * 12
    statuses = [env.api.call("GET", "/api/v1/me", token="sk_guess%d" % i, source=guesser)[0] for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    status, _, headers = env.api.call("GET", "/api/v1/me", token="sk_guess_more", source=guesser)
    assert status == 429 and int(headers["retry-after"]) > 0
    # A valid token always works, from that address too (issue 19: the operator was locked out).
    assert env.api.call("GET", "/api/v1/me", token=env.op, source=guesser)[0] == 200
    assert env.api.call("GET", "/api/v1/me", token=env.op, source="127.0.0.10")[0] == 200


def test_policy_change_is_persisted_audited_and_decides_the_next_query(env):
    audited = len(audit(env))
    r = ask(env.sk.port, "casino.example.", source=ACME)
    assert rcode(r) == "NOERROR" and not edes(r)
    status, policy, headers = env.api.call("GET", "/api/v1/tenants/acme/policy", token=env.acme)
    assert status == 200 and policy["deny"] == ["acme-deny.example"]
    etag = headers["etag"]
    status, body, headers = env.api.call("PUT", "/api/v1/tenants/acme/policy", token=env.acme,
                                         body={"block": ["gambling"], "deny": ["acme-deny.example", "extra.example"],
                                               "action": "nxdomain"},
                                         headers={"If-Match": etag})
    assert status == 200, body
    new_etag = headers["etag"]
    assert new_etag != etag
    yaml = (env.tenants_d / "acme.yaml").read_text()
    assert "gambling" in yaml and "extra.example" in yaml and "nxdomain" in yaml
    # Visible to the very next DNS query: no SIGHUP, no wait.
    r = ask(env.sk.port, "casino.example.", source=ACME)
    assert rcode(r) == "NXDOMAIN" and (17, "category=gambling tenant=acme") in edes(r), r
    r = ask(env.sk.port, "www.extra.example.", source=ACME)
    assert rcode(r) == "NXDOMAIN"
    # Other tenants are untouched.
    assert rcode(ask(env.sk.port, "casino.example.", source=BETA)) == "NOERROR"
    # A writer holding the old ETag is refused and changes nothing.
    status, body, _ = env.api.call("PUT", "/api/v1/tenants/acme/policy", token=env.acme, body={"deny": []},
                                   headers={"If-Match": etag})
    assert status == 412, body
    assert (env.tenants_d / "acme.yaml").read_text() == yaml
    lines = [a for a in audit(env)[audited:] if a["what"] == "set policy"]
    assert len(lines) == 1
    assert lines[0]["who"] == "acme-admin" and lines[0]["tenant"] == "acme"
    assert lines[0]["before"]["block"] == [] and lines[0]["after"]["block"] == ["gambling"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", lines[0]["time"])
    # check answers what the DNS path just did.
    status, check, _ = env.api.call("GET", "/api/v1/check?tenant=acme&name=casino.example", token=env.acme)
    assert status == 200 and check["verdict"] == "block" and check["rule"] == "category"
    assert check["category"] == "gambling" and check["detail"] == "category=gambling tenant=acme"


def test_bad_input_is_refused_with_the_field_and_nothing_changes(env):
    before = (env.tenants_d / "acme.yaml").read_text()
    cases = [
        ('{"deny": [', 400, ""),
        ('{"dney": []}', 400, "dney"),
        ('{"deny": "x.example"}', 400, "deny"),
        ('{"block": ["no-such-category"]}', 422, "block"),
        ('{"schedule": [{"block": ["social"], "from": "25:00"}]}', 400, "schedule[0].from"),
    ]
    for raw, want, field in cases:
        status, body, _ = env.api.call("PUT", "/api/v1/tenants/acme/policy", token=env.acme, raw=raw)
        assert (status, body["field"]) == (want, field), (raw, body)
    status, _, _ = env.api.call("PUT", "/api/v1/tenants/acme/policy", token=env.acme, raw=" " * 70000)
    assert status == 413
    assert (env.tenants_d / "acme.yaml").read_text() == before


def test_tenant_admin_never_sees_another_tenant(env):
    for path in ["/api/v1/tenants/beta", "/api/v1/tenants/beta/policy", "/api/v1/tenants/beta/devices",
                 "/api/v1/tenants/legacy", "/api/v1/check?tenant=beta&name=a.example",
                 "/api/v1/stats?tenant=beta", "/api/v1/querylog?tenant=beta"]:
        status, body, _ = env.api.call("GET", path, token=env.acme)
        assert status == 404, (path, body)
    assert env.api.call("PUT", "/api/v1/tenants/beta/policy", token=env.acme, body={"deny": ["x.example"]})[0] == 404
    assert env.api.call("POST", "/api/v1/tenants/beta/devices", token=env.acme, body={"name": "x"})[0] == 404
    assert env.api.call("POST", "/api/v1/reload", token=env.acme)[0] == 403
    _, listing, _ = env.api.call("GET", "/api/v1/tenants", token=env.acme)
    assert [t["id"] for t in listing["tenants"]] == ["acme"]

    acme_traffic(env)
    ask(env.sk.port, "acme-only.example.", source=ACME)
    ask(env.sk.port, "beta-only.example.", source=BETA)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the writer flushes every 50 ms
        _, everything, _ = env.api.call("GET", "/api/v1/querylog?limit=1000", token=env.op)
        names = {(r["tenant"], r["name"]) for r in everything["records"]}
        if ("acme", "acme-only.example") in names and ("beta", "beta-only.example") in names:
            break
        time.sleep(0.1)
    else:
        pytest.fail("query log lines did not appear: %r" % names)
    _, mine, _ = env.api.call("GET", "/api/v1/querylog?limit=1000", token=env.acme)
    assert mine["records"] and {r["tenant"] for r in mine["records"]} == {"acme"}
    assert mine["scan_limited"] is False and mine["next_cursor"] is None  # the whole log, read at once
    assert all("beta" not in r["name"] for r in mine["records"])
    # Newest first, and paging with the cursor neither repeats nor skips.
    _, page1, _ = env.api.call("GET", "/api/v1/querylog?limit=2", token=env.acme)
    assert len(page1["records"]) == 2 and page1["next_cursor"]
    # Newest first in the writer's order: records of the two loops may interleave by one writer
    # pass (50 ms), never more.
    stamp = lambda r: datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
    assert stamp(page1["records"][0]) >= stamp(page1["records"][1]) - 1.0
    _, page2, _ = env.api.call("GET", "/api/v1/querylog?limit=1000&cursor=" + page1["next_cursor"], token=env.acme)
    assert page1["records"] + page2["records"] == mine["records"]
    _, blocked, _ = env.api.call("GET", "/api/v1/querylog?action=blocked&name=casino", token=env.acme)
    assert blocked["records"] and all(r["action"] == "blocked" and "casino" in r["name"] for r in blocked["records"])
    _, stats, _ = env.api.call("GET", "/api/v1/stats", token=env.acme)
    assert stats["tenant"] == "acme" and stats["queries"] >= 4 and stats["blocked"] >= 2
    assert stats["blocked_by_category"].get("gambling", 0) >= 1 and stats["max_devices"] == 2


def test_shared_policy_change_forks_and_leaves_other_tenants_alone(env):
    status, body, _ = env.api.call("PUT", "/api/v1/tenants/beta/policy", token=env.beta, body={"deny": ["beta-deny.example"]})
    assert status == 200 and body["forked_from"] == "shared", body
    assert rcode(ask(env.sk.port, "beta-deny.example.", source=BETA)) == "NXDOMAIN" or \
        edes(ask(env.sk.port, "beta-deny.example.", source=BETA))
    assert not edes(ask(env.sk.port, "beta-deny.example.", source=LEGACY))
    assert edes(ask(env.sk.port, "legacy-deny.example.", source=LEGACY))
    # legacy lives in the main file: readable, never rewritten.
    status, body, _ = env.api.call("PUT", "/api/v1/tenants/legacy/policy", token=env.op, body={"deny": []})
    assert status == 409 and "tenants.d/legacy.yaml" in body["error"]


def test_devices_within_max_devices(env):
    tokens = []
    for name in ("phone", "laptop"):
        status, body, _ = env.api.call("POST", "/api/v1/tenants/acme/devices", token=env.acme, body={"name": name})
        assert status == 201, body
        assert re.fullmatch(r"[a-z0-9]{20}", body["token"])
        tokens.append(body["token"])
    status, body, _ = env.api.call("POST", "/api/v1/tenants/acme/devices", token=env.acme, body={"name": "tablet"})
    assert status == 409 and "max_devices" in body["error"] and body["field"] == "name"
    assert "tablet" not in (env.tenants_d / "acme.yaml").read_text()
    _, listing, _ = env.api.call("GET", "/api/v1/tenants/acme/devices", token=env.acme)
    assert [d["name"] for d in listing["devices"]] == ["phone", "laptop"]
    assert env.api.call("DELETE", "/api/v1/tenants/acme/devices/phone", token=env.acme)[0] == 204
    yaml = (env.tenants_d / "acme.yaml").read_text()
    assert tokens[0] not in yaml and tokens[1] in yaml
    assert [a["what"] for a in audit(env)][-3:] == ["add device", "add device", "revoke device"]


def test_categories_store_and_reload(env):
    _, cats, _ = env.api.call("GET", "/api/v1/categories", token=env.acme)
    gambling = [c for c in cats["categories"] if c["slug"] == "gambling"][0]
    assert gambling["en"] and gambling["ja"] and gambling["en"] != gambling["ja"]
    assert gambling["kind"] == "content" and gambling["group"] == "gambling", gambling
    groups = {g["slug"]: g for g in cats["groups"]}
    assert "dynamic_dns" in groups["evasion"]["categories"] and groups["evasion"]["kind"] == "security", groups["evasion"]
    assert groups["evasion"]["ja"] == "フィルタ回避"
    # Every category is in exactly one group.
    listed = [s for g in cats["groups"] for s in g["categories"]]
    assert sorted(listed) == sorted(c["slug"] for c in cats["categories"])
    status, store, _ = env.api.call("GET", "/api/v1/store", token=env.op)
    assert status == 200 and store["generation"] >= 1 and store["domain_keys"] >= 2
    assert [s["name"] for s in store["sources"]] == ["e2e"]
    status, body, _ = env.api.call("POST", "/api/v1/reload", token=env.op)
    assert status == 200 and body["generation"] > 1
    assert audit(env)[-1]["what"] == "reload"


# ------------------------------------------------------------------------------------- /metrics

METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)(?: (-?\d+))?$" % (METRIC, LABEL, LABEL))


def parse_prometheus(text):
    """Strict text format 0.0.4: HELP/TYPE before samples, families contiguous, no duplicate
    series, values that parse as floats, counters never negative. Returns {(name, labels): value}."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    types, seen, series, current = {}, set(), {}, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            m = re.fullmatch(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)" % METRIC, line)
            assert m, "line %d: bad TYPE: %r" % (n, line)
            assert m.group(1) not in types, "line %d: family %s typed twice" % (n, m.group(1))
            types[m.group(1)] = m.group(2)
            current = m.group(1)
            continue
        assert not line.startswith("#") and line.strip(), "line %d: unexpected %r" % (n, line)
        m = SAMPLE.match(line)
        assert m, "line %d: not a sample: %r" % (n, line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "line %d: %s has no TYPE" % (n, name)
        assert family == current, "line %d: %s outside its family's block" % (n, name)
        v = float(value)
        assert not math.isnan(v)
        if types[family] == "counter":
            assert v >= 0, line
        key = (name, labels)
        assert key not in series, "line %d: duplicate series %r" % (n, key)
        series[key] = v
        seen.add(family)
    return series


def test_metrics_are_valid_prometheus_text_with_live_counters(env):
    acme_traffic(env)
    assert rcode(ask(env.sk.port, "metrics-upstream.example.", source=BETA)) == "NOERROR"  # one upstream answer
    c = http.client.HTTPConnection("127.0.0.1", env.metrics_port, timeout=10)
    tenant_blocked = ("sekisho_tenant_queries_total", 'tenant="acme",action="blocked"')
    deadline = time.monotonic() + 5
    while True:  # per-tenant counts come from the query-log writer, which runs every 50 ms
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        assert r.status == 200 and r.getheader("content-type").startswith("text/plain; version=0.0.4")
        series = parse_prometheus(text)
        if series.get(tenant_blocked, 0) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert series[("sekisho_queries_total", 'transport="udp"')] >= 8
    # Every answered query lands in the latency histogram; buckets are cumulative.
    buckets = sorted((v for (n, l), v in series.items() if n == "sekisho_query_duration_seconds_bucket"))
    assert len(buckets) == 10 and buckets[-1] == series[("sekisho_query_duration_seconds_count", "")] >= 8
    assert series[("sekisho_query_duration_seconds_bucket", 'le="+Inf"')] == buckets[-1]
    # Upstream response time: a count per answered attempt and a positive sum once one was answered.
    counts = {l: v for (n, l), v in series.items() if n == "sekisho_upstream_response_seconds_count"}
    sums = {l: v for (n, l), v in series.items() if n == "sekisho_upstream_response_seconds_sum"}
    assert counts and set(counts) == set(sums)
    assert any(counts[l] >= 1 and 0 < sums[l] < counts[l] * 5 for l in counts), (counts, sums)
    assert series[("sekisho_answers_total", 'outcome="blocked"')] >= 2
    assert ("sekisho_cache_lookups_total", 'result="hit"') in series
    assert series[("sekisho_category_store_generation", "")] >= 1
    assert series.get(tenant_blocked, 0) >= 2, sorted(k for k in series if k[0] == tenant_blocked[0])
    assert series[("sekisho_upstream_up", 'upstream="%s"' % env.sk.config["upstreams"][0])] == 1
    # The metrics listener serves nothing else.
    c.request("GET", "/api/v1/tenants")
    r = c.getresponse()
    r.read()
    assert r.status == 404


def test_http2_and_dashboard(env):
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                        "http://127.0.0.1:%d/healthz" % env.api.port], capture_output=True, text=True, timeout=10)
    assert p.stdout == "200 2", p.stdout + p.stderr
    status, html, headers = env.api.call("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and html.lower().startswith("<!doctype html>")
    assert "default-src 'self'" in headers["content-security-policy"]


# ------------------------------------------------------------------------------- the dashboard

class Chromium:
    """Headless chromium driven over the DevTools protocol (python3-websocket): navigate,
    evaluate JavaScript, take screenshots. Loopback only; its profile lives in a temp dir."""

    def __init__(self, profile):
        import urllib.request
        import websocket
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=%s" % profile,
             "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and self.proc.poll() is None, "chromium did not start"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5).read())
        ws_url = [p for p in pages if p["type"] == "page"][0]["webSocketDebuggerUrl"]
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def js(self, expression):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def wait(self, expression, timeout=10, what=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.js(expression):
                return
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s" % (what or expression))

    def screenshot(self, path):
        import base64
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_dashboard_in_chromium(env, tmp_path):
    import os
    import shutil
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed (.ci/setup installs it): the dashboard is not tested")
    shots = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR", tmp_path)) / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    acme_traffic(env)
    b = Chromium(tmp_path / "chromium")
    try:
        b.send("Page.enable")
        b.send("Page.navigate", url="http://127.0.0.1:%d/" % env.api.port)
        b.wait("document.readyState === 'complete' && !!document.getElementById('login-form')", what="the page")
        assert b.js("document.documentElement.lang") == "ja"
        assert b.js("document.querySelector('[data-i18n=login]').textContent") == "ログイン"
        # A wrong token is refused on the page.
        b.js("document.getElementById('token').value = 'sk_wrong'; document.getElementById('login-form').requestSubmit()")
        b.wait("document.getElementById('login-error').textContent !== ''", what="the login error")
        before = datetime.datetime.now(datetime.timezone.utc).date()  # before the page asks for the stats
        b.js("document.getElementById('token').value = %s; document.getElementById('login-form').requestSubmit()" % json.dumps(env.acme))
        b.wait("!document.getElementById('app').hidden && document.getElementById('stat-queries').textContent !== '0'",
               what="the overview")
        assert int(b.js("document.getElementById('stat-queries').textContent")) >= 4
        assert b.js("document.querySelectorAll('#chart rect').length") == 96  # 48 hours x (queries, blocked)
        assert b.js("document.querySelectorAll('#chart-daily rect').length") == 60  # 30 days
        # The server's today (UTC): the date sampled before the page asked or after it showed it.
        title = b.js("document.querySelector('#chart-daily rect:last-of-type title').textContent")
        after = datetime.datetime.now(datetime.timezone.utc).date()
        assert str(before) in title or str(after) in title, (title, before, after)
        assert "ギャンブル" in b.js("document.getElementById('top-categories').textContent")
        assert b.js("[...document.getElementById('tenant').options].map(o => o.value).join()") == "acme"
        assert b.js("document.getElementById('feeds-tab').hidden") is True  # the feeds are the operators'
        b.screenshot(shots / "admin-overview-ja.png")

        # Policy editor: categories as checkboxes with display names; add a deny entry and save.
        b.js("document.querySelector('[data-tab=policy]').click()")
        b.wait("document.querySelectorAll('#categories input').length > 10 && "
               "document.getElementById('deny').value.includes('acme-deny.example')", what="the policy")
        assert b.js("document.querySelector('#categories input[value=gambling]').checked") is True
        assert "ギャンブル" in b.js("document.getElementById('categories').textContent")
        # Categories under their groups (大分類), each group a box of its own: tick one.
        assert "フィルタ回避" in b.js("document.getElementById('categories').textContent")
        assert b.js("document.querySelector('#categories input.group-box[data-group=evasion]').checked") is False
        b.js("document.querySelector('#categories input.group-box[data-group=evasion]').checked = true")
        b.js("document.getElementById('deny').value += '\\ndashboard.example'; document.getElementById('policy-form').requestSubmit()")
        b.wait("document.getElementById('status').textContent.startsWith('保存しました')", what="the save")
        assert "dashboard.example" in (env.tenants_d / "acme.yaml").read_text()
        _, saved, _ = env.api.call("GET", "/api/v1/tenants/acme/policy", token=env.acme)
        assert saved["block_groups"] == ["evasion"] and "gambling" in saved["block"], saved
        r = ask(env.sk.port, "www.dashboard.example.", source=ACME)
        assert rcode(r) == "NXDOMAIN" and edes(r), r

        # Schedules: add two entries, remove the first, fill the second with a window around now
        # in Tokyo time (wrapping past midnight when now is near it) that blocks malware.
        assert rcode(ask(env.sk.port, "malware.example.", source=ACME)) == "NOERROR"
        tokyo = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
        window = [(tokyo + datetime.timedelta(hours=h)).strftime("%H:%M") for h in (-1, 1)]
        b.js("document.getElementById('add-schedule').click(); document.getElementById('add-schedule').click()")
        assert b.js("document.querySelectorAll('#schedules .schedule').length") == 2
        assert "ギャンブル" in b.js("document.querySelector('#schedules .schedule').textContent")
        b.js("document.querySelector('#schedules .schedule .remove').click()")
        assert b.js("document.querySelector('#schedules .schedule legend').textContent") == "ルール 1"
        b.js("""(() => { const s = document.querySelector('#schedules .schedule');
                s.querySelector('.sched-categories input[value=malware]').checked = true;
                for (const d of s.querySelectorAll('.days input')) d.checked = true;
                s.querySelector('.from').value = %s; s.querySelector('.to').value = %s;
                s.querySelector('.timezone').value = 'Asia/Tokyo';
                document.getElementById('policy-form').requestSubmit(); })()""" % (json.dumps(window[0]), json.dumps(window[1])))
        b.wait("document.getElementById('status').textContent.startsWith('保存しました') && "
               "document.querySelectorAll('#schedules .schedule').length === 1", what="the schedule save")
        assert b.js("document.getElementById('policy-error').textContent") == ""
        _, policy, _ = env.api.call("GET", "/api/v1/tenants/acme/policy", token=env.acme)
        # Every day box ticked, holidays (the eighth) included: every day.
        assert policy["schedule"] == [{"block": ["malware"],
                                       "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"],
                                       "from": window[0], "to": window[1], "timezone": "Asia/Tokyo",
                                       "since": "", "until": ""}], policy
        yaml = (env.tenants_d / "acme.yaml").read_text()
        assert "Asia/Tokyo" in yaml and "malware" in yaml and window[0] in yaml
        r = ask(env.sk.port, "malware.example.", source=ACME)
        assert rcode(r) == "NXDOMAIN" and any(code == 15 and "schedule=" in text for code, text in edes(r)), r
        _, check, _ = env.api.call("GET", "/api/v1/check?tenant=acme&name=malware.example", token=env.acme)
        assert check["verdict"] == "block" and check["rule"] == "schedule" and "Asia/Tokyo" in check["schedule"], check
        b.js("document.getElementById('schedules').scrollIntoView()")
        b.screenshot(shots / "admin-schedule-ja.png")

        # Switch language; the query log shows the blocked query.
        b.js("document.getElementById('lang').click()")
        assert b.js("document.documentElement.lang") == "en"
        assert b.js("document.querySelector('[data-tab=log]').textContent") == "Query log"
        assert b.js("document.querySelector('#schedules .schedule legend').textContent") == "Rule 1"
        assert "Mon" in b.js("document.querySelector('#schedules .schedule .days').textContent")
        assert b.js("document.querySelector('#schedules .schedule .from').value") == window[0]  # edits survive
        b.js("document.querySelector('[data-tab=log]').click(); document.getElementById('log-name').value = 'dashboard'")
        deadline = time.monotonic() + 10
        while True:
            b.js("document.getElementById('log-form').requestSubmit()")
            time.sleep(0.3)
            cells = b.js("[...document.querySelectorAll('#log-table tbody td.blocked')].length")
            if cells:
                break
            assert time.monotonic() < deadline, "the blocked query did not appear in the log view"
        assert "www.dashboard.example" in b.js("document.getElementById('log-table').textContent")
        b.screenshot(shots / "admin-querylog-en.png")

        # Why is this blocked?
        b.js("document.querySelector('[data-tab=why]').click(); document.getElementById('why-name').value = 'casino.example';"
             "document.getElementById('why-form').requestSubmit()")
        b.wait("document.getElementById('why-result').textContent.includes('Blocked')", what="the check result")
        assert "Gambling" in b.js("document.getElementById('why-result').textContent")
        b.screenshot(shots / "admin-why-en.png")
    finally:
        b.close()
    assert (shots / "admin-overview-ja.png").stat().st_size > 1000


def test_dashboard_feeds_panel_for_operators(env, tmp_path):
    """The Feeds panel: each configured feed from GET /api/v1/feeds (the status files sekisho-feed
    writes), a refused one highlighted with why; Japanese and English."""
    import shutil
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed (.ci/setup installs it): the dashboard is not tested")
    code, body, _ = env.api.call("GET", "/api/v1/feeds", token=env.acme)
    assert code == 403, body
    code, body, _ = env.api.call("GET", "/api/v1/feeds", token=env.op)
    assert code == 200 and body["feeds"][0]["last_result"] == "refused" and body["feeds"][0]["format"] == "hosts", body
    b = Chromium(tmp_path / "chromium")
    try:
        b.send("Page.enable")
        b.send("Page.navigate", url="http://127.0.0.1:%d/" % env.api.port)
        b.wait("document.readyState === 'complete' && !!document.getElementById('login-form')", what="the page")
        b.js("document.getElementById('token').value = %s; document.getElementById('login-form').requestSubmit()" % json.dumps(env.op))
        b.wait("!document.getElementById('app').hidden && !document.getElementById('feeds-tab').hidden", what="the feeds tab")
        assert b.js("document.getElementById('feeds-tab').textContent") == "フィード"
        b.js("document.getElementById('feeds-tab').click()")
        b.wait("document.querySelectorAll('#feed-table tbody tr').length === 1", what="the feeds table")
        row = b.js("document.querySelector('#feed-table tbody tr').textContent")
        assert "lists" in row and "https://lists.example/hosts.txt" in row and "要確認 (refused)" in row, row
        assert "拒否 (shrink)" in row and "200 of the source's 240 entries" in row and '"5f1-abc"' in row, row
        assert b.js("document.querySelector('#feed-table tbody tr').className") == "feed-bad"
        b.js("document.getElementById('lang').click()")
        assert b.js("document.getElementById('feeds-tab').textContent") == "Feeds"
        b.js("document.getElementById('feeds-tab').click()")
        b.wait("document.querySelector('#feed-table tbody tr')?.textContent.includes('Needs attention (refused)')",
               what="the English table")
        assert "refused (shrink)" in b.js("document.querySelector('#feed-table tbody tr').textContent")
    finally:
        b.close()


# ------------------------------------------------------------------------------ HTTPS, start-up

def test_https_admin_with_configured_certificate(sekishod, scripted, tmp_path):
    key, cert = tmp_path / "admin.key", tmp_path / "admin.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=admin.test",
                    "-addext", "subjectAltName=DNS:admin.test,IP:127.0.0.1"], check=True, capture_output=True, timeout=20)
    token, digest = make_token("operator")
    sk = sekishod([scripted().address], {"admin": {"listen": [Listen("127.0.0.1", "admin")],
                                                    "tls": {"cert": str(cert), "key": str(key)},
                                                    "tokens": [{"name": "root", "role": "operator", "sha256": digest}]}})
    port = sk.ports["admin"]
    url = "https://127.0.0.1:%d/api/v1/me" % port
    p = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", "Authorization: Bearer " + token,
                        "-w", "\n%{http_code} %{http_version}", url], capture_output=True, text=True, timeout=10)
    body, _, tail = p.stdout.rpartition("\n")
    assert tail == "200 2" and json.loads(body)["role"] == "operator", p.stdout + p.stderr
    # Clear-text HTTP to the TLS port gets nothing useful.
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/healthz" % port],
                       capture_output=True, text=True, timeout=10)
    assert p.stdout != "200"


def test_admin_address_in_use_fails_start_up_with_its_name(sekishod, scripted):
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        s = sekishod([scripted().address], {"admin": {"listen": ["127.0.0.1:%d" % port]}}, start=False)
        s.expect_exit = True
        p = s.run_to_exit(free_port())
        assert p.returncode != 0
        assert "admin.listen 127.0.0.1:%d" % port in p.stderr, p.stderr
    finally:
        busy.close()
