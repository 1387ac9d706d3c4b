"""Abuse resistance (issue 19, item 4), with real clients on loopback:

- response rate limiting: a client prefix over limits.rrl_responses_per_second gets every
  rrl_slip-th UDP answer empty with TC=1 and the others dropped, and still gets its answer over
  TCP (kdig); another prefix is untouched;
- a tenant over its query quota is refused (REFUSED + EDE 18) while another tenant, asking at the
  same time with dnsperf, is answered; counted per tenant in /metrics;
- a random-subdomain flood from tenant A toward an upstream that never answers those names hits
  the per-client and per-tenant caps on queries waiting on upstreams (SERVFAIL + EDE 0 saying
  which) while tenant B's uncached names are resolved: without the caps A takes every upstream
  socket and B gets SERVFAIL;
- ANY is answered with the synthesized HINFO of RFC 8482 and never forwarded;
- UDP answers to unverified sources are bounded by limits.unverified_udp_size (TC=1 beyond).

Counts are sekishod's own (/metrics); sources are addresses of 127.0.0.0/8 outside the /24s other
tests use, so the prefixes counted are the test's own.
"""
import random
import socket
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from clients import dnsperf, make_query, query_tcp
from metrics_scrape import scrape, start_with_metrics
from netutil import wait_until
from policy_fixtures import ask, edes, kdig_from, tenant

CACHED = "www.test.example."


def udp_burst(port, source, names, rdtype="A", payload=1232, settle=1.0, pace_every=16):
    """Sends one query per name from `source` (paced so the kernel buffers hold them all), and
    returns {qid: response or None} after collecting for `settle` seconds past the last send."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.05)
    sent, got = {}, {}
    stop = threading.Event()

    def collect():
        while not stop.is_set() or time.monotonic() < deadline[0]:
            try:
                r = dns.message.from_wire(s.recv(65535))
            except socket.timeout:
                if stop.is_set() and time.monotonic() >= deadline[0]:
                    return
                continue
            got[r.id] = r
    deadline = [time.monotonic() + 60]
    t = threading.Thread(target=collect)
    t.start()
    try:
        for i, name in enumerate(names):
            q = make_query(name, rdtype, payload=payload)
            while q.id in sent:
                q = make_query(name, rdtype, payload=payload)
            sent[q.id] = q
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            if i % pace_every == pace_every - 1:
                time.sleep(0.002)
        deadline[0] = time.monotonic() + settle
        stop.set()
        t.join(settle + 5)
    finally:
        s.close()
    return {qid: got.get(qid) for qid in sent}


def metric(sk, name, labels=""):
    return scrape(sk.metrics_port).get((name, labels), 0)


# ------------------------------------------------------------------------------------------ RRL

def test_rrl_slips_and_drops_and_the_client_gets_its_answer_over_tcp(sekishod, knot):
    sk = start_with_metrics(sekishod, [knot.addresses[0]],
                            {"limits": {"rrl_responses_per_second": 5, "rrl_slip": 2}})
    assert ask(sk.port, CACHED, source="127.0.11.1").rcode() == dns.rcode.NOERROR  # cached now
    burst = udp_burst(sk.port, "127.0.9.9", [CACHED] * 60, pace_every=60)
    full = [r for r in burst.values() if r is not None and not (r.flags & dns.flags.TC)]
    slipped = [r for r in burst.values() if r is not None and (r.flags & dns.flags.TC)]
    dropped = [qid for qid, r in burst.items() if r is None]
    assert full and all(r.answer for r in full)
    # A second's worth (5) at once, and a few more as the bucket refills while the burst is read.
    assert len(full) <= 15, "%d of 60 answered in full at 5 per second" % len(full)
    assert len(slipped) >= 10 and len(dropped) >= 10, (len(full), len(slipped), len(dropped))
    for r in slipped:  # empty, TC=1, the question echoed: the client retries over TCP
        assert not r.answer and not r.authority and r.rcode() == dns.rcode.NOERROR
        assert str(r.question[0].name) == CACHED
    assert abs(len(slipped) - len(dropped)) <= 1, "slip 2: every other limited answer is truncated"

    # Still over its rate: kdig's UDP answer is truncated or dropped, but over TCP it is answered.
    data, p = kdig_from("127.0.9.9", sk.port, "www.test.example", "A", extra=["+tcp"])
    assert data and data.get("RCODE") == 0 and data.get("ANCOUNT") == 1, p.stdout + p.stderr
    # Another prefix is not limited at all.
    for _ in range(5):
        assert ask(sk.port, CACHED, source="127.0.10.1").answer

    m = scrape(sk.metrics_port)
    assert m[("sekisho_rrl_responses_total", 'action="slipped"')] >= len(slipped)
    assert m[("sekisho_rrl_responses_total", 'action="dropped"')] >= len(dropped)
    assert 'prefix=127.0.9.0/24' in sk.stderr() and "response rate limit reached" in sk.stderr()
    # The warning is itself rate-limited: one line for the whole burst.
    assert sk.stderr().count("response rate limit reached") == 1


def test_rrl_is_per_tenant(sekishod, knot):
    """A tenant's own rrl_responses_per_second replaces the global one (0 = off) for its clients."""
    sk = start_with_metrics(sekishod, [knot.addresses[0]], {
        "limits": {"rrl_responses_per_second": 0},
        "tenants": [dict(tenant("strict", ["127.0.12.0/24"], "open"), rrl_responses_per_second=3),
                    tenant("free", ["127.0.13.0/24"], "open")],
        "policies": {"open": {"log": "none"}}})
    assert ask(sk.port, CACHED, source="127.0.13.1").answer
    strict = udp_burst(sk.port, "127.0.12.1", [CACHED] * 30, pace_every=30)
    free = udp_burst(sk.port, "127.0.13.1", [CACHED] * 30, pace_every=30)
    assert sum(1 for r in strict.values() if r is not None and r.answer) <= 10
    assert all(r is not None and r.answer for r in free.values())


# --------------------------------------------------------------------------------- tenant quota

def test_tenant_over_its_quota_is_refused_while_another_is_answered(sekishod, knot):
    sk = start_with_metrics(sekishod, [knot.addresses[0]], {
        "limits": {"tenant_queries_per_second": 0},
        "tenants": [dict(tenant("noisy", ["127.0.14.0/24"], "open"), queries_per_second=50),
                    tenant("quiet", ["127.0.15.0/24"], "open")],
        "policies": {"open": {"log": "full"}}})
    assert ask(sk.port, CACHED, source="127.0.15.1").answer
    names = [(CACHED, "A")] * 100
    results = {}

    def run(who, source):
        results[who] = dnsperf("127.0.0.1", sk.port, names, duration=2, rate=400, clients=2,
                               extra=["-a", source])
    threads = [threading.Thread(target=run, args=("noisy", "127.0.14.1")),
               threading.Thread(target=run, args=("quiet", "127.0.15.1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    noisy, quiet = results["noisy"], results["quiet"]
    assert noisy["completed"] and quiet["completed"], (noisy["output"], quiet["output"])
    assert "REFUSED" in noisy["rcodes"], noisy["output"]
    assert "REFUSED" not in quiet["rcodes"] and quiet["lost"] == 0, quiet["output"]

    # What a client of the tenant over its quota sees: REFUSED with EDE 18 naming the quota.
    seen = None
    for _ in range(200):
        r = ask(sk.port, CACHED, source="127.0.14.2")
        if r.rcode() == dns.rcode.REFUSED:
            seen = r
            break
    assert seen is not None, "200 queries in a row within a 50 qps quota"
    assert any(code == 18 and "query quota of tenant noisy" in text for code, text in edes(seen)), edes(seen)

    m = scrape(sk.metrics_port)
    refused = m[("sekisho_limited_queries_total", 'reason="tenant_quota"')]
    assert refused >= 1
    # Per tenant (the query log's statistics, a writer thread behind): over_quota for noisy only.
    wait_until(lambda: scrape(sk.metrics_port).get(
        ("sekisho_tenant_queries_total", 'tenant="noisy",action="over_quota"'), 0) == refused, 10,
        what="per-tenant over_quota count")
    assert ("sekisho_tenant_queries_total", 'tenant="quiet",action="over_quota"') not in scrape(sk.metrics_port)


# ------------------------------------------------------------------------- water torture: caps

FLOOD_ZONE = "flood.example."


def flood_upstream(scripted):
    """Never answers names under flood.example. (a slow authority under a random-subdomain
    attack); answers everything else at once."""
    up = scripted("normal")

    def handler(q, transport):
        if q.question[0].name.is_subdomain(dns.name.from_text(FLOOD_ZONE)):
            return None
        return up._real(q)
    up.handler = handler
    return up


def flood_config(up, caps):
    return {
        "forwarding": {"timeout_ms": 1500, "attempts": 2, "max_upstream_sockets": 128},
        "limits": caps,
        "tenants": [tenant("attacker", ["127.0.16.0/24"], "open"), tenant("victim", ["127.0.17.0/24"], "open")],
        "policies": {"open": {"log": "none"}},
    }


def flood_and_ask(sk, n_per_client=300):
    """Three clients of the attacker send random names under flood.example.; meanwhile the victim
    asks 20 fresh names with kdig. Returns (attacker's answers, victim's kdig results)."""
    floods = {}

    def flood(source):
        names = ["%08x.%s" % (random.getrandbits(32), FLOOD_ZONE) for _ in range(n_per_client)]
        floods[source] = udp_burst(sk.port, source, names, settle=4.0)
    threads = [threading.Thread(target=flood, args=("127.0.16.%d" % i,)) for i in (1, 2, 3)]
    # The first client alone first, so that it reaches its own cap while the tenant is still under
    # its; the other two then take the tenant to its cap.
    threads[0].start()
    time.sleep(0.3)
    for t in threads[1:]:
        t.start()
    time.sleep(0.7)  # the flood is waiting on the upstream now
    victim = []
    for i in range(20):
        data, p = kdig_from("127.0.17.1", sk.port, "victim-%d-%08x.test.example" % (i, random.getrandbits(32)), "A")
        victim.append((data, p))
    for t in threads:
        t.join(60)
    return floods, victim


def test_random_subdomain_flood_is_capped_and_another_tenant_still_resolves(sekishod, scripted):
    up = flood_upstream(scripted)
    sk = start_with_metrics(sekishod, [up.address], flood_config(
        up, {"upstream_queries_per_client": 32, "upstream_queries_per_tenant": 64}))
    floods, victim = flood_and_ask(sk)
    # The victim's uncached names (the upstream answers them at once) all resolve.
    for data, p in victim:
        assert data is not None and data.get("RCODE") == 0 and data.get("ANCOUNT") == 1, p.stdout + p.stderr
    texts = {}
    for answers in floods.values():
        for r in answers.values():
            if r is None:
                continue
            assert r.rcode() == dns.rcode.SERVFAIL, r
            for code, text in edes(r):
                texts.setdefault(text.split(" (")[0], 0)
                texts[text.split(" (")[0]] += 1
    assert texts.get("too many queries of this client waiting on upstreams", 0) > 0, texts
    assert texts.get("too many queries of this tenant waiting on upstreams", 0) > 0, texts
    m = scrape(sk.metrics_port)
    assert m[("sekisho_limited_queries_total", 'reason="upstream_per_client"')] > 0
    assert m[("sekisho_limited_queries_total", 'reason="upstream_per_tenant"')] > 0
    # The flood never held more than the tenant's cap of upstream sockets.
    assert m[("sekisho_forwarder_socket_limit_total", "")] == 0
    assert "queries waiting on upstreams capped" in sk.stderr()


def test_without_the_caps_the_flood_takes_the_victims_upstream_sockets(sekishod, scripted):
    """The same flood with the caps off (0): the attacker holds every upstream socket and the
    victim's fresh names get SERVFAIL. What the test above shows is the caps' doing."""
    up = flood_upstream(scripted)
    sk = start_with_metrics(sekishod, [up.address], flood_config(
        up, {"upstream_queries_per_client": 0, "upstream_queries_per_tenant": 0}))
    _, victim = flood_and_ask(sk)
    failed = [d for d, _ in victim if d is None or d.get("RCODE") == 2]
    assert failed, "the victim resolved everything without the caps: the flood is too small to show them"
    assert scrape(sk.metrics_port)[("sekisho_forwarder_socket_limit_total", "")] > 0


# ------------------------------------------------------------------------------ ANY and sizes

def test_any_gets_a_minimal_answer_and_is_never_forwarded(sekishod, scripted):
    up = scripted("normal")
    sk = start_with_metrics(sekishod, [up.address])
    for tcp in (False, True):
        data, p = kdig_from("127.0.18.1", sk.port, "any.example", "ANY", extra=["+tcp"] if tcp else [])
        assert data and data.get("RCODE") == 0, p.stdout + p.stderr
        answers = data.get("answerRRs", [])
        assert len(answers) == 1 and answers[0]["TYPEname"] == "HINFO", data
        assert "RFC8482" in answers[0]["rdataHINFO"], answers[0]
    assert up.count(qtype="ANY") == 0 and up.count() == 0
    assert scrape(sk.metrics_port)[("sekisho_any_minimal_total", "")] == 2


def test_udp_answers_to_unverified_sources_are_bounded(sekishod, scripted):
    up = scripted("normal")

    def handler(q, transport):  # a TXT answer of ~800 bytes: within 1232, over 512
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "TXT",
                                            *['"%s"' % ("%d" % i * 120)[:120] for i in range(6)]))
        return r
    up.handler = handler
    sk = start_with_metrics(sekishod, [up.address], {
        "limits": {"unverified_udp_size": 1232},
        "tenants": [dict(tenant("small", ["127.0.19.0/24"], "open"), unverified_udp_size=512),
                    tenant("default", ["127.0.20.0/24"], "open")],
        "policies": {"open": {"log": "none"}}})
    small = ask(sk.port, "txt.size.example.", "TXT", source="127.0.19.1")
    assert small.flags & dns.flags.TC and not small.answer
    assert len(small.to_wire()) <= 512
    full = ask(sk.port, "txt.size.example.", "TXT", source="127.0.20.1")
    assert not (full.flags & dns.flags.TC) and full.answer and 512 < len(full.to_wire()) <= 1232
    # Over TCP the small tenant gets it all.
    assert ask(sk.port, "txt.size.example.", "TXT", source="127.0.19.1", tcp=True).answer
