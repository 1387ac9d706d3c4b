"""tests/e2e/test_policy.py — tenants and policies (issue 4) end to end.

A real sekishod with a category store built by the real CLI, tenants told apart by the client's
loopback source address (127.0.0.2 = acme, 127.0.0.3 = beta, ...), one scripted upstream that
records every query (names under policy.example. are proxied to knotd serving
zones/policy.example.zone, for the CNAME-cloaking chains), and real clients (dnspython bound to a
source address, kdig -b, dnsperf -a).

Covered: allowed / blocked per category with the exact EDE code and EXTRA-TEXT, exact vs subtree
store entries, most specific entry wins, allow beats category, `*.x` allow, deny, the four block
actions (rcode, records, SOA, TTL, EDE, no EDE without EDNS), AAAA/TXT under blockpage, two tenants
sharing one cache, nested networks, unknown client REFUSED + EDE 18, CNAME cloaking (fresh and on a
cache hit, per tenant), schedules around the current time (UTC, Asia/Tokyo, wrapping midnight),
tenants.d, SIGHUP reload (valid and invalid, pid unchanged), reload under dnsperf load, check-config
errors with line numbers, and a store import and compaction while serving (under dnsperf load).

A blocked name must never reach the upstream: asserted with the scripted upstream's query log.
"""
import datetime
import http.client
import re
import signal
import subprocess
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from clients import dnsperf
from netutil import Listen
from policy_fixtures import (CLI, ask, db_import, edes, kdig_from, kdig_text, make_store,
                             local_now, DAYS, hhmm, policy_overrides, rcode, rdatas, rrsets, tenant,
                             window, describe)
from sekishod import SEKISHOD
from upstreams import KnotUpstream, default_answer, wildcard_zone

ACME, BETA, UNKNOWN = "127.0.0.2", "127.0.0.3", "127.0.0.9"
WIDE, NARROW = "127.0.1.20", "127.0.1.9"      # in 127.0.1.0/24 only / also in 127.0.1.8/29
GAMMA = "127.0.0.6"                           # a tenant added by a tenants.d file
BP4, BP6, BPTTL = "192.0.2.10", "2001:db8::10", 42
REAL = "192.0.2.1"                            # the scripted upstream's answer for any A query

STORE_ROWS = [
    "casino.example,gambling",                 # subtree (the csv default)
    "malware.example,malware",
    "both.example,gambling;malware",           # a security category names the block
    "exact.example,adult,exact",               # exact: subdomains not covered
    "parent.example,gambling",
    "safe.parent.example,news",                # more specific than parent.example
    "news.example,news",
    "ok.casino.example,allowlist",             # a store allow entry under a blocked subtree
    "bad.news.example,phishing",               # more specific than news.example
    "intranet.example,gambling",               # allow-listed by office
    "partner.example,gambling",                # *.partner.example allow-listed by office
    "social.example,social",
    "games.example,games",
    "ads.policy.example,ads",                  # CNAME-cloaking targets in zones/policy.example.zone
]

OFFICE = {
    "block": ["adult", "gambling", "malware", "phishing", "ads"],
    "allow": ["intranet.example", "*.partner.example", "allowed.policy.example"],
    "deny": ["badsite.example", "denied.policy.example"],
    "action": "blockpage",
    "log": "full",
}
LENIENT = {"block": ["malware"], "action": "blockpage"}


def std_tenants():
    return [
        tenant("acme", [ACME + "/32"], "office", name="ACME 株式会社", max_devices=500),
        tenant("beta", [BETA + "/32"], "lenient"),
        tenant("wide", ["127.0.1.0/24"], "lenient"),
        tenant("narrow", ["127.0.1.8/29"], "office"),
    ]


BLOCKPAGE = {"ipv4": BP4, "ipv6": BP6, "ttl": BPTTL}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store") / "categories", STORE_ROWS)


@pytest.fixture
def upstream(scripted, knot):
    """A scripted upstream (query log); policy.example. is proxied to knotd's zone."""
    up = scripted()

    def handler(q, transport):
        name = q.question[0].name.to_text().lower()
        if name.endswith("policy.example."):
            fwd = dns.message.make_query(q.question[0].name, q.question[0].rdtype, use_edns=False)
            r = dns.query.udp(fwd, "127.0.0.1", port=knot.port, timeout=1.0)
            r.id = q.id
            return r
        return default_answer(q)

    up.handler = handler
    return up


@pytest.fixture
def filtering(sekishod, upstream, store):
    """sekishod with the standard tenants/policies."""
    sk = sekishod([upstream.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE))
    return sk


def assert_resolves(sk, name, source=ACME, addr=REAL):
    r = ask(sk.port, name, source=source)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {addr}, \
        "%s from %s should resolve to %s:%s" % (name, source, addr, describe(r))
    assert edes(r) == [], "an allowed answer carries EDE:%s" % describe(r)
    return r


def assert_blockpage(sk, name, code, text, source=ACME):
    r = ask(sk.port, name, source=source)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}, \
        "%s from %s should get the block page:%s" % (name, source, describe(r))
    assert [rr.ttl for rr in r.answer] == [BPTTL], describe(r)
    assert edes(r) == [(code, text)], describe(r)
    return r


# ------------------------------------------------------------------------------- allowed / blocked

def test_allowed_name_resolves_for_tenant(filtering, upstream):
    assert_resolves(filtering, "www.allowed.example.")
    assert upstream.count("www.allowed.example.", "A") == 1
    # a real client from the tenant's address (kdig -b)
    data, p = kdig_from(ACME, filtering.port, "kdig.allowed.example", "A")
    assert p.returncode == 0 and data is not None, p.stdout + p.stderr
    assert data["RCODE"] == 0, data
    assert [a["rdataA"] for a in data.get("answerRRs", [])] == [REAL], data


def test_blocked_per_category_gambling_is_filtered_17(filtering, upstream):
    assert_blockpage(filtering, "casino.example.", 17, "category=gambling tenant=acme")
    assert_blockpage(filtering, "www.casino.example.", 17, "category=gambling tenant=acme")
    # kdig sees the same block answer with its EDE
    data, p = kdig_from(ACME, filtering.port, "casino.example", "A")
    assert data is not None and data["RCODE"] == 0, p.stdout + p.stderr
    assert [a["rdataA"] for a in data["answerRRs"]] == [BP4], data
    p = kdig_text(ACME, filtering.port, "casino.example", "A")
    assert "EDE: 17 (Filtered): 'category=gambling tenant=acme'" in p.stdout, p.stdout + p.stderr
    assert upstream.count() == 0, "a blocked name reached the upstream: %r" % upstream.queries()


def test_blocked_security_category_malware_is_blocked_15(filtering, upstream):
    assert_blockpage(filtering, "malware.example.", 15, "category=malware tenant=acme")
    assert_blockpage(filtering, "dl.malware.example.", 15, "category=malware tenant=acme")
    # listed as gambling AND malware: the security category decides (Blocked, 15)
    assert_blockpage(filtering, "both.example.", 15, "category=malware tenant=acme")
    # beta blocks malware too, with its own tenant id in the text
    assert_blockpage(filtering, "malware.example.", 15, "category=malware tenant=beta", source=BETA)
    assert upstream.count() == 0, "blocked names reached the upstream: %r" % upstream.queries()


def test_subtree_entry_covers_subdomains_exact_entry_does_not(filtering, upstream):
    assert_blockpage(filtering, "a.b.c.casino.example.", 17, "category=gambling tenant=acme")
    assert_blockpage(filtering, "exact.example.", 17, "category=adult tenant=acme")
    assert_resolves(filtering, "sub.exact.example.")
    assert_resolves(filtering, "notcasino.example.")       # a label boundary, not a suffix
    # names are case-insensitive; the answer keeps the client's spelling of the question
    r = assert_blockpage(filtering, "WwW.CaSiNo.ExAmPlE.", 17, "category=gambling tenant=acme")
    assert r.question[0].name.to_text() == "WwW.CaSiNo.ExAmPlE.", describe(r)
    # a long name deep under a subtree entry
    long_name = ".".join(["a" * 60] * 3) + ".x.casino.example."
    assert_blockpage(filtering, long_name, 17, "category=gambling tenant=acme")
    assert upstream.count("exact.example.") == 0
    assert upstream.count("sub.exact.example.") == 1
    assert upstream.count("a.b.c.casino.example.") == 0


def test_most_specific_store_entry_wins(filtering, upstream):
    # parent.example is gambling, safe.parent.example (more specific) is news: not blocked
    assert_blockpage(filtering, "other.parent.example.", 17, "category=gambling tenant=acme")
    assert_resolves(filtering, "safe.parent.example.")
    assert_resolves(filtering, "www.safe.parent.example.")
    # news.example is news, bad.news.example (more specific) is phishing: blocked, security
    assert_resolves(filtering, "news.example.")
    assert_blockpage(filtering, "bad.news.example.", 15, "category=phishing tenant=acme")
    assert_blockpage(filtering, "x.bad.news.example.", 15, "category=phishing tenant=acme")
    assert upstream.count("bad.news.example.") + upstream.count("x.bad.news.example.") == 0
    # the store's own allow entry (allowlist category) under a blocked subtree
    assert_resolves(filtering, "ok.casino.example.")
    assert_resolves(filtering, "www.ok.casino.example.")


def test_allow_list_beats_category(filtering, upstream):
    # intranet.example is gambling in the store and on office's allow list (name + subdomains)
    assert_resolves(filtering, "intranet.example.")
    assert_resolves(filtering, "wiki.intranet.example.")
    assert upstream.count("intranet.example.") == 1
    assert upstream.count("wiki.intranet.example.") == 1


def test_wildcard_allow_covers_subdomains_but_not_the_name(filtering, upstream):
    assert_resolves(filtering, "shop.partner.example.")
    assert_resolves(filtering, "a.b.partner.example.")
    assert_blockpage(filtering, "partner.example.", 17, "category=gambling tenant=acme")
    assert upstream.count("partner.example.") == 0


def test_deny_list_blocks_name_and_subdomains(filtering, upstream):
    text = "list=deny rule=badsite.example tenant=acme"
    assert_blockpage(filtering, "badsite.example.", 17, text)
    assert_blockpage(filtering, "www.badsite.example.", 17, text)
    assert_resolves(filtering, "notbadsite.example.")
    # beta has no deny list
    assert_resolves(filtering, "badsite.example.", source=BETA)
    assert upstream.count("www.badsite.example.") == 0
    assert upstream.count("badsite.example.") == 1       # only beta's query


# ------------------------------------------------------------------------------------------ actions

def check_soa(r, qname, ttl=BPTTL):
    soas = rrsets(r, "authority", "SOA")
    assert len(soas) == 1, "expected one SOA in the authority section:%s" % describe(r)
    soa = soas[0]
    assert soa.name.to_text() == qname, describe(r)
    assert soa.ttl == ttl, describe(r)
    rd = soa[0]
    assert rd.mname.to_text() == "sekisho.invalid." and rd.rname.to_text() == "hostmaster.sekisho.invalid.", \
        describe(r)
    assert rd.minimum == ttl, describe(r)


@pytest.mark.parametrize("action", ["blockpage", "nxdomain", "nodata", "refused"])
def test_block_actions(sekishod, upstream, store, action):
    office = dict(OFFICE, action=action)
    sk = sekishod([upstream.address], policy_overrides(
        store, std_tenants(), {"office": office, "lenient": LENIENT}, BLOCKPAGE))
    for name, code, text in (("casino.example.", 17, "category=gambling tenant=acme"),
                             ("malware.example.", 15, "category=malware tenant=acme"),
                             ("badsite.example.", 17, "list=deny rule=badsite.example tenant=acme")):
        r = ask(sk.port, name)
        assert edes(r) == [(code, text)], "%s %s:%s" % (action, name, describe(r))
        if action == "blockpage":
            assert rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}, describe(r)
            assert [rr.ttl for rr in r.answer] == [BPTTL], describe(r)
            assert not r.authority, describe(r)
        elif action in ("nxdomain", "nodata"):
            assert rcode(r) == ("NXDOMAIN" if action == "nxdomain" else "NOERROR"), describe(r)
            assert not r.answer, describe(r)
            check_soa(r, name)
        else:
            assert rcode(r) == "REFUSED" and not r.answer and not r.authority, describe(r)
        # without EDNS: the same answer, and no OPT / EDE
        r = ask(sk.port, name, edns=-1)
        assert r.edns < 0, "OPT in the answer to a query without EDNS:%s" % describe(r)
        expected = {"blockpage": "NOERROR", "nxdomain": "NXDOMAIN", "nodata": "NOERROR",
                    "refused": "REFUSED"}[action]
        assert rcode(r) == expected, describe(r)
        if action == "blockpage":
            assert rdatas(r, "A") == {BP4}, describe(r)
        if action in ("nxdomain", "nodata"):
            check_soa(r, name)
    # beta's policy keeps its own action (blockpage) for the same store
    r = ask(sk.port, "malware.example.", source=BETA)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}, describe(r)
    assert upstream.count() == 0, "blocked names reached the upstream: %r" % upstream.queries()


def test_blockpage_aaaa_txt_and_defaults(filtering, sekishod, upstream, store):
    r = ask(filtering.port, "casino.example.", "AAAA")
    assert rcode(r) == "NOERROR" and rdatas(r, "AAAA") == {BP6}, describe(r)
    assert [rr.ttl for rr in r.answer] == [BPTTL], describe(r)
    assert edes(r) == [(17, "category=gambling tenant=acme")], describe(r)
    for qtype in ("TXT", "MX", "HTTPS"):
        r = ask(filtering.port, "casino.example.", qtype)
        assert rcode(r) == "NOERROR" and not r.answer, "%s:%s" % (qtype, describe(r))
        check_soa(r, "casino.example.")
        assert edes(r) == [(17, "category=gambling tenant=acme")], describe(r)
    assert upstream.count() == 0
    # no blockpage section: A is 0.0.0.0; AAAA is NODATA (with the SOA and the EDE), never `::`,
    # which would send IPv6-first clients to their own host
    sk = sekishod([upstream.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}), name="nobp")
    r = ask(sk.port, "casino.example.")
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {"0.0.0.0"}, describe(r)
    r = ask(sk.port, "casino.example.", "AAAA")
    assert rcode(r) == "NOERROR" and not r.answer, describe(r)
    check_soa(r, "casino.example.", ttl=60)  # blockpage.ttl's default
    assert edes(r) == [(17, "category=gambling tenant=acme")], describe(r)
    # an IPv4 block page alone: its A, and AAAA NODATA
    sk = sekishod([upstream.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, blockpage={"ipv4": BP4, "ttl": BPTTL}),
        name="bp4only")
    assert rdatas(ask(sk.port, "casino.example."), "A") == {BP4}
    r = ask(sk.port, "casino.example.", "AAAA")
    assert rcode(r) == "NOERROR" and not r.answer, describe(r)
    check_soa(r, "casino.example.")


# ------------------------------------------------------------------------------------------ tenants

def test_tenant_identified_over_tcp(filtering, upstream):
    """Over TCP the client's source address identifies the tenant just as over UDP."""
    r = ask(filtering.port, "tcp.allowed.example.", tcp=True)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {REAL} and edes(r) == [], \
        "TCP query from acme (%s):%s" % (ACME, describe(r))
    r = ask(filtering.port, "casino.example.", tcp=True)
    assert rdatas(r, "A") == {BP4} and edes(r) == [(17, "category=gambling tenant=acme")], \
        "TCP query from acme (%s):%s" % (ACME, describe(r))
    r = ask(filtering.port, "casino.example.", tcp=True, source=BETA)
    assert rdatas(r, "A") == {REAL} and edes(r) == [], "TCP query from beta:%s" % describe(r)
    # a real client: kdig +tcp -b
    p = kdig_text(ACME, filtering.port, "casino.example", "A", extra=("+tcp",))
    assert "status: NOERROR" in p.stdout and "192.0.2.10" in p.stdout, p.stdout + p.stderr
    # an unknown client over TCP: closed on accept (it could only be refused; issue 19), while
    # over UDP it is told why (REFUSED + EDE 18, test_unknown_client_refused_with_ede_18)
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        ask(filtering.port, "tcp.allowed.example.", tcp=True, source=UNKNOWN)


def test_two_tenants_different_verdicts_share_the_cache(filtering, upstream):
    # beta (no gambling block) first: the real answer is fetched and cached
    assert_resolves(filtering, "cached.casino.example.", source=BETA)
    assert upstream.count("cached.casino.example.") == 1
    # acme: blocked although the answer is in the cache
    assert_blockpage(filtering, "cached.casino.example.", 17, "category=gambling tenant=acme")
    # beta again: still the real answer, from the cache
    assert_resolves(filtering, "cached.casino.example.", source=BETA)
    assert upstream.count("cached.casino.example.") == 1
    # acme first this time: blocked, nothing forwarded; beta then gets the real answer
    assert_blockpage(filtering, "first.casino.example.", 17, "category=gambling tenant=acme")
    assert upstream.count("first.casino.example.") == 0
    assert_resolves(filtering, "first.casino.example.", source=BETA)
    assert_blockpage(filtering, "first.casino.example.", 17, "category=gambling tenant=acme")
    assert upstream.count("first.casino.example.") == 1


def test_nested_networks_most_specific_tenant_wins(filtering, upstream):
    # 127.0.1.9 is in 127.0.1.8/29 (narrow: office) and in 127.0.1.0/24 (wide: lenient)
    assert_blockpage(filtering, "casino.example.", 17, "category=gambling tenant=narrow", source=NARROW)
    assert_resolves(filtering, "casino.example.", source=WIDE)
    assert_blockpage(filtering, "malware.example.", 15, "category=malware tenant=wide", source=WIDE)


def test_unknown_client_refused_with_ede_18(filtering, upstream):
    r = ask(filtering.port, "www.allowed.example.", source=UNKNOWN)
    assert rcode(r) == "REFUSED" and not r.answer, describe(r)
    assert [c for c, _ in edes(r)] == [18], describe(r)
    # ::1 is in no tenant's networks either
    q = dns.message.make_query("www.allowed.example.", "A", use_edns=0)
    r = dns.query.udp(q, "::1", port=filtering.port, timeout=2)
    assert rcode(r) == "REFUSED" and [c for c, _ in edes(r)] == [18], describe(r)
    r = ask(filtering.port, "www.allowed.example.", source=UNKNOWN, edns=-1)
    assert rcode(r) == "REFUSED" and r.edns < 0, describe(r)
    assert upstream.count() == 0, "an unknown client's query reached the upstream"


def test_ipv6_client_tenant(sekishod, upstream, store):
    tenants = std_tenants() + [tenant("six", ["::1/128"], "office")]
    sk = sekishod([upstream.address], policy_overrides(
        store, tenants, {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE))
    q = dns.message.make_query("casino.example.", "AAAA", use_edns=0)
    r = dns.query.udp(q, "::1", port=sk.port, timeout=2)
    assert rdatas(r, "AAAA") == {BP6} and edes(r) == [(17, "category=gambling tenant=six")], describe(r)
    q = dns.message.make_query("v6.allowed.example.", "A", use_edns=0)
    r = dns.query.udp(q, "::1", port=sk.port, timeout=2)
    assert rdatas(r, "A") == {REAL} and edes(r) == [], describe(r)


# ------------------------------------------------------------------------------------------- CNAME

def test_cname_cloaking_blocked_also_on_cache_hit(filtering, upstream):
    port = filtering.port
    # beta does not block ads: the full chain, fetched once and cached
    r = ask(port, "cloak.policy.example.", source=BETA)
    assert rcode(r) == "NOERROR" and rdatas(r, "CNAME") == {"track.ads.policy.example."}, describe(r)
    assert rdatas(r, "A") == {"192.0.2.77"} and edes(r) == [], describe(r)
    assert upstream.count("cloak.policy.example.") == 1
    # acme blocks ads: the cached answer is replaced by the block answer, the chain named
    text = "category=ads cname=track.ads.policy.example. tenant=acme"
    r = assert_blockpage(filtering, "cloak.policy.example.", 17, text)
    assert not rdatas(r, "CNAME"), describe(r)
    assert upstream.count("cloak.policy.example.") == 1, "the cache was not used"
    # beta again: still the full answer
    r = ask(port, "cloak.policy.example.", source=BETA)
    assert rdatas(r, "A") == {"192.0.2.77"} and edes(r) == [], describe(r)
    # cache miss (acme first), the listed name two CNAMEs down
    assert_blockpage(filtering, "deep1.policy.example.", 17, text)
    # a chain through a denied name
    assert_blockpage(filtering, "viadeny.policy.example.", 17,
                     "list=deny rule=denied.policy.example cname=denied.policy.example. tenant=acme")
    # a clean chain resolves in full
    r = ask(port, "clean.policy.example.")
    assert rdatas(r, "CNAME") == {"www.policy.example."} and rdatas(r, "A") == {"192.0.2.50"}, describe(r)
    assert edes(r) == []
    # an allow-listed query name skips chain inspection
    r = ask(port, "allowed.policy.example.")
    assert rdatas(r, "A") == {"192.0.2.77"} and edes(r) == [], describe(r)
    # AAAA of the cloaked name, blocked to the block page address
    r = ask(port, "cloak.policy.example.", "AAAA")
    assert rdatas(r, "AAAA") == {BP6} and edes(r) == [(17, text)], describe(r)


# ---------------------------------------------------------------------------------------- schedules

def schedule_policy(tz, start, end, block=("social",)):
    days, frm, to = window(tz, start, end)
    entry = {"block": list(block), "days": days, "from": frm, "to": to, "timezone": tz}
    return {"block": ["malware"], "schedule": [entry], "action": "blockpage"}, \
        '%s %s-%s %s' % (days[0], frm, to, tz)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_schedule_window_including_now_blocks(sekishod, upstream, store, tz):
    on, desc = schedule_policy(tz, -30, 30)
    off, _ = schedule_policy(tz, 120, 180)
    sk = sekishod([upstream.address], policy_overrides(store, [
        tenant("acme", [ACME + "/32"], "on"), tenant("beta", [BETA + "/32"], "off")],
        {"on": on, "off": off}, BLOCKPAGE))
    assert_blockpage(sk, "social.example.", 17,
                     'category=social schedule="%s" tenant=acme' % desc)
    assert_blockpage(sk, "www.social.example.", 17,
                     'category=social schedule="%s" tenant=acme' % desc)
    # the policy's own block list still applies, named as a category (not a schedule)
    assert_blockpage(sk, "malware.example.", 15, "category=malware tenant=acme")
    # a category the schedule does not name is not blocked
    assert_resolves(sk, "games.example.")
    # outside the window: resolves
    assert_resolves(sk, "social.example.", source=BETA)
    assert upstream.count("social.example.") == 1
    assert upstream.count("www.social.example.") == 0


def test_schedule_window_wrapping_midnight(sekishod, upstream, store):
    tz = "UTC"
    now = local_now(tz)
    m = now.hour * 60 + now.minute
    today, yesterday = DAYS[now.weekday()], DAYS[(now.weekday() + 6) % 7]
    if m + 30 <= 23 * 60 + 58:
        # a window that started yesterday at 23:59 and is still open now (the "after midnight" part)
        frm, to = "23:59", hhmm(now.replace(second=0) + datetime.timedelta(minutes=30))
        active_days, inactive_days = [yesterday], [today]
    else:
        # late evening: a window that started 10 minutes ago and ends at 00:30 tomorrow
        frm = hhmm(now - datetime.timedelta(minutes=10))
        to = "00:30"
        active_days, inactive_days = [today], [yesterday]
    assert frm > to, "not a wrapping window: %s-%s" % (frm, to)

    def pol(days):
        return {"block": [], "action": "nxdomain",
                "schedule": [{"block": ["games"], "days": days, "from": frm, "to": to, "timezone": tz}]}
    sk = sekishod([upstream.address], policy_overrides(store, [
        tenant("acme", [ACME + "/32"], "on"), tenant("beta", [BETA + "/32"], "off")],
        {"on": pol(active_days), "off": pol(inactive_days)}, BLOCKPAGE))
    r = ask(sk.port, "games.example.")
    assert rcode(r) == "NXDOMAIN", "window %s %s-%s UTC should include now (%s):%s" % (
        active_days, frm, to, now, describe(r))
    assert edes(r) == [(17, 'category=games schedule="%s %s-%s UTC" tenant=acme'
                        % (active_days[0], frm, to))], describe(r)
    r = ask(sk.port, "games.example.", source=BETA)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {REAL}, \
        "window %s %s-%s UTC should not include now (%s):%s" % (inactive_days, frm, to, now, describe(r))


# ------------------------------------------------------------------------------ tenants.d and reload

def reload_and_wait(sk, expect="STATUS=configuration reloaded", timeout=5.0):
    n = len(sk.notify_lines())
    sk.signal(signal.SIGHUP)
    assert sk.wait_notify(expect, timeout, after=n), \
        "no %r after SIGHUP; notify=%r\n%s" % (expect, sk.notify_lines()[n:], sk.stderr()[-3000:])


def test_tenants_d_file_adds_a_tenant(sekishod, upstream, store):
    sk = sekishod([upstream.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE), start=False)
    d = sk.dir / "tenants.d"
    d.mkdir()
    (d / "gamma.yaml").write_text(
        "tenants:\n"
        "  - id: gamma\n"
        "    networks: [\"%s/32\"]\n"
        "    policy: strict\n"
        "policies:\n"
        "  strict:\n"
        "    block: [social]\n"
        "    deny: [lenient-only.example]\n"
        "    action: nodata\n" % GAMMA)
    (d / "ignored.txt").write_text("tenants: [this is not read]\n")
    sk.start()
    r = ask(sk.port, "social.example.", source=GAMMA)
    assert rcode(r) == "NOERROR" and not r.answer, describe(r)
    assert edes(r) == [(17, "category=social tenant=gamma")], describe(r)
    assert_resolves(sk, "casino.example.", source=GAMMA)      # strict does not block gambling
    assert_resolves(sk, "social.example.", source=BETA)       # the main file's tenants still work
    # a second file, picked up by SIGHUP
    (d / "delta.yaml").write_text(
        "tenants:\n  - id: delta\n    networks: [\"127.0.0.7/32\"]\n    policy: office\n")
    r = ask(sk.port, "casino.example.", source="127.0.0.7")
    assert rcode(r) == "REFUSED", describe(r)
    reload_and_wait(sk)
    assert_blockpage(sk, "casino.example.", 17, "category=gambling tenant=delta", source="127.0.0.7")


def test_sighup_reload_changes_policy_and_invalid_reload_keeps_it(filtering, upstream):
    sk = filtering
    pid = sk.proc.pid
    assert_blockpage(sk, "casino.example.", 17, "category=gambling tenant=acme")
    cfg = dict(sk.config)
    cfg["policies"] = {"office": dict(OFFICE, block=["adult", "malware", "phishing", "ads"]),
                       "lenient": LENIENT}
    sk.write_config(cfg)
    reload_and_wait(sk)
    assert sk.proc.pid == pid and sk.alive()
    assert_resolves(sk, "casino.example.")
    assert upstream.count("casino.example.") == 1
    # an invalid config (unknown category) must leave the running policy as it is
    bad = dict(cfg)
    bad["policies"] = {"office": dict(OFFICE, block=["gambling", "no-such-category"]),
                       "lenient": LENIENT}
    sk.write_config(bad)
    reload_and_wait(sk, "STATUS=reload failed; previous configuration in use")
    assert sk.alive() and sk.proc.pid == pid
    assert_resolves(sk, "casino.example.")                         # gambling still allowed
    assert_resolves(sk, "other.casino.example.")
    assert_blockpage(sk, "malware.example.", 15, "category=malware tenant=acme")
    assert "no-such-category" in sk.stderr()
    # and the same reload with the error fixed applies
    bad["policies"]["office"]["block"] = ["gambling"]
    sk.write_config(bad)
    reload_and_wait(sk)
    assert_blockpage(sk, "more.casino.example.", 17, "category=gambling tenant=acme")
    assert sk.proc.pid == pid


def probe_loop(port, stop, results, deadline):
    """Ask allowed and blocked names from acme until `stop`; record every malformed answer."""
    i = 0
    while not stop.is_set() and time.monotonic() < deadline and i < 5000:
        i += 1
        blocked = i % 2 == 0
        name = ("p%d.casino.example." if blocked else "p%d.allowed.example.") % (i % 40)
        try:
            r = ask(port, name, timeout=2.0)
        except Exception as e:  # noqa: BLE001 - a timeout / bad reply is a finding
            results["errors"].append("%s: %r" % (name, e))
            continue
        results["n"] += 1
        if blocked:
            ok = (rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}
                  and edes(r) == [(17, "category=gambling tenant=acme")])
        else:
            ok = rcode(r) == "NOERROR" and rdatas(r, "A") == {REAL} and edes(r) == []
        if not ok:
            results["errors"].append("%s:%s" % (name, describe(r)))


@pytest.fixture
def native_upstream(tmp_path):
    """knotd for the tests under dnsperf load, where nothing may be lost: a Python upstream on 2
    cores cannot promise that, a native one can. It answers every name under allowed.example and
    fresh.example with REAL; the blocked zones exist only so that a blocked name that reached it
    would be counted (KnotUpstream.queries) and answered with an address no test expects."""
    leak = [("A", "6.6.6.6"), ("AAAA", "2001:db8::666")]
    k = KnotUpstream(tmp_path / "knot", stats=True, zones={
        "allowed.example": wildcard_zone("allowed.example", [("A", REAL)]),
        "fresh.example": wildcard_zone("fresh.example", [("A", REAL)]),
        "casino.example": wildcard_zone("casino.example", leak),
        "malware.example": wildcard_zone("malware.example", leak),
    }).start()
    yield k
    k.stop()


def assert_no_blocked_name_reached(knot):
    leaked = {z: knot.queries(z) for z in ("casino.example.", "malware.example.")}
    assert leaked == {"casino.example.": 0, "malware.example.": 0}, "blocked names reached the upstream: %r" % leaked


def test_reload_under_load_loses_nothing(sekishod, native_upstream, store):
    knot = native_upstream
    sk = sekishod([knot.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE))
    asked_before = knot.queries()
    names = [("n%d.allowed.example." % i, "A") for i in range(60)] + \
            [("n%d.casino.example." % i, "A") for i in range(30)] + \
            [("n%d.malware.example." % i, "AAAA") for i in range(10)]
    perf = {}
    t = threading.Thread(target=lambda: perf.update(dnsperf(
        "127.0.0.1", sk.port, names, duration=4, rate=2000, clients=4, extra=("-a", ACME))))
    probe = {"n": 0, "errors": []}
    stop = threading.Event()
    p = threading.Thread(target=probe_loop, args=(sk.port, stop, probe, time.monotonic() + 15))
    t.start()
    p.start()
    pid = sk.proc.pid
    try:
        for k in range(3):
            time.sleep(0.9)
            # alternate a harmless change, so each reload really swaps the policies
            cfg = dict(sk.config)
            cfg["policies"] = {"office": dict(OFFICE, deny=OFFICE["deny"] + ["r%d.example" % k]),
                               "lenient": LENIENT}
            sk.write_config(cfg)
            reload_and_wait(sk)
    finally:
        t.join(40)
        stop.set()
        p.join(20)
    assert not t.is_alive() and not p.is_alive()
    assert sk.alive() and sk.proc.pid == pid
    assert perf.get("sent"), "dnsperf output unparsed:\n%s" % perf.get("output")
    assert perf["lost"] == 0 and perf["completed"] == perf["sent"], \
        "%s of %s queries lost during reloads:\n%s" % (perf["lost"], perf["sent"], perf["output"])
    assert re.fullmatch(r"NOERROR \d+ \(100\.00%\)\s*", perf["rcodes"]), perf["output"]
    assert probe["n"] > 20 and probe["errors"] == [], "%d probes, bad answers:\n%s" % (
        probe["n"], "\n".join(probe["errors"][:5]))
    assert knot.queries() > asked_before
    assert_no_blocked_name_reached(knot)


# ---------------------------------------------------------------------------------------- check-config

CHECK_BASE = """\
server:
  listen:
    dns: ["127.0.0.1:5399"]
upstreams: ["127.0.0.1:5398"]
tenants:
  - id: acme
    networks: ["10.1.0.0/16", "10.2.0.0/16"]
    policy: office
  - id: other
    networks: ["10.3.0.0/16"]
    policy: office
policies:
  office:
    block: [adult, gambling]
    schedule:
      - block: [social]
        days: [mon, tue]
        from: "09:00"
        to: "18:00"
        timezone: Asia/Tokyo
"""


def _line_of(text, needle, nth=1):
    count = 0
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            count += 1
            if count == nth:
                return no
    raise AssertionError("%r not in config" % needle)


CHECK_CASES = {
    # name: (replace old -> new, the line the error must point at, regex for the message)
    "unknown_category": (("block: [adult, gambling]", "block: [adult, gamblin]"),
                         "block: [adult, gamblin]", r"unknown category 'gamblin'"),
    "unknown_policy": (("    policy: office\n  - id: other", "    policy: offfice\n  - id: other"),
                       "policy: offfice", r"unknown policy 'offfice'"),
    "duplicate_network": (('networks: ["10.3.0.0/16"]', 'networks: ["10.2.0.0/16"]'),
                          'networks: ["10.2.0.0/16"]', r"10\.2\.0\.0/16 is already assigned to tenant 'acme'"),
    "bad_timezone": (("timezone: Asia/Tokyo", "timezone: Asia/Tokio"),
                     "timezone: Asia/Tokio", r"Asia/Tokio"),
    "bad_time": (('to: "18:00"', 'to: "25:00"'), 'to: "25:00"', r'"25:00" is not a time of day'),
}


def test_check_config_valid_base(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(CHECK_BASE)
    p = subprocess.run([SEKISHOD, "--check-config", str(f)], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("case", sorted(CHECK_CASES))
def test_check_config_errors_with_line_numbers(tmp_path, case):
    (old, new), needle, message = CHECK_CASES[case]
    assert old in CHECK_BASE
    text = CHECK_BASE.replace(old, new, 1)
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    p = subprocess.run([SEKISHOD, "--check-config", str(f)], capture_output=True, text=True, timeout=10)
    assert p.returncode == 1, "exit %d:\n%s%s" % (p.returncode, p.stdout, p.stderr)
    lines = [l for l in p.stderr.splitlines() if re.search(message, l)]
    assert lines, "no error matching %r:\n%s" % (message, p.stderr)
    want = _line_of(text, needle)
    m = re.match(r"^%s:(\d+):\d+: " % re.escape(str(f)), lines[0])
    assert m, "no file:line:col in %r" % lines[0]
    assert int(m.group(1)) == want, "%s: error at line %s, the offending line is %d (%r):\n%s" % (
        case, m.group(1), want, needle, p.stderr)
    # the CLI agrees
    cli = subprocess.run([CLI, "check-config", str(f)],
                         capture_output=True, text=True, timeout=10)
    assert cli.returncode != 0 and re.search(message, cli.stdout + cli.stderr), cli.stdout + cli.stderr


# ------------------------------------------------------------------------------ import while serving

def test_import_while_serving_applies_without_restart(sekishod, native_upstream, tmp_path):
    store = make_store(tmp_path / "live", ["casino.example,gambling"], source="base")
    sk = sekishod([native_upstream.address], policy_overrides(
        store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE))
    pid = sk.proc.pid
    assert_resolves(sk, "fresh.example.")                  # now cached
    assert_resolves(sk, "www.fresh.example.")
    names = [("l%d.allowed.example." % i, "A") for i in range(50)] + \
            [("l%d.casino.example." % i, "A") for i in range(50)]
    perf = {}
    t = threading.Thread(target=lambda: perf.update(dnsperf(
        "127.0.0.1", sk.port, names, duration=4, rate=2000, clients=4, extra=("-a", ACME))))
    t.start()
    try:
        time.sleep(0.7)
        # a large source while serving (each import is one LMDB write txn)
        bulk = ["b%06d.bulk.example,games" % i for i in range(150000)]
        for k in range(2):
            db_import(store, "bulk%d" % k, bulk)
        db_import(store, "newfeed", ["fresh.example,gambling"])
        # the very next query, still under load, sees it (the answer is in the cache)
        assert_blockpage(sk, "fresh.example.", 17, "category=gambling tenant=acme")
        # newfeed went into a delta of the lookup index: folding it into a new base while
        # serving changes no answer
        out = subprocess.run([CLI, "db", "--db", str(store), "compact"], check=True,
                             capture_output=True, text=True, timeout=120).stdout
        assert out.startswith("compacted: 1 keys of the delta"), out
        assert_blockpage(sk, "www.fresh.example.", 17, "category=gambling tenant=acme")
        assert_blockpage(sk, "l1.casino.example.", 17, "category=gambling tenant=acme")
    finally:
        t.join(40)
    assert not t.is_alive()
    assert perf.get("sent") and perf["lost"] == 0 and perf["completed"] == perf["sent"], \
        perf.get("output")
    assert "SERVFAIL" not in perf["rcodes"], perf["rcodes"]
    # the new entry applies to the next query, cached answer or not, with the same process
    assert_blockpage(sk, "fresh.example.", 17, "category=gambling tenant=acme")
    assert_blockpage(sk, "www.fresh.example.", 17, "category=gambling tenant=acme")
    assert_resolves(sk, "fresh.example.", source=BETA)
    assert sk.proc.pid == pid
    assert_no_blocked_name_reached(native_upstream)
    # and a source removed while serving stops applying
    subprocess.run([CLI, "db", "--db", str(store), "remove-source",
                    "newfeed"], check=True, capture_output=True, timeout=60)
    assert_resolves(sk, "fresh.example.")


def memo_lookups(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    found = dict(re.findall(r'^sekisho_category_memo_lookups_total\{result="(hit|miss)"\} (\d+)$', text, re.M))
    assert set(found) == {"hit", "miss"}, text[-2000:]
    return int(found["hit"]), int(found["miss"])


def test_category_memo_answers_repeats_and_forgets_on_import(sekishod, upstream, tmp_path):
    """Each serving loop remembers the store's answer for names it has looked up
    (cache.category_memo): repeats are counted as memo hits and decided the same way; an
    import is a new snapshot, so the next query reads the store and gets the new answer."""
    store = make_store(tmp_path / "memo", ["casino.example,gambling"], source="base")
    cfg = policy_overrides(store, std_tenants(), {"office": OFFICE, "lenient": LENIENT}, BLOCKPAGE)
    cfg["admin"] = {"metrics_listen": [Listen("127.0.0.1", "metrics")]}
    sk = sekishod([upstream.address], cfg)
    metrics_port = sk.ports["metrics"]
    loops = sk.config["server"]["threads"]
    hits0, misses0 = memo_lookups(metrics_port)
    for _ in range(20):
        assert_blockpage(sk, "casino.example.", 17, "category=gambling tenant=acme")
        assert_resolves(sk, "memo.example.")
    hits, misses = memo_lookups(metrics_port)
    # one store read per name and loop at most; every other repeat is a hit
    assert misses - misses0 <= 2 * loops and hits - hits0 >= 40 - 2 * loops, (hits, misses)
    db_import(store, "later", ["memo.example,gambling"])
    for _ in range(5):
        assert_blockpage(sk, "memo.example.", 17, "category=gambling tenant=acme")
    # replaces the source wholesale (the guard would refuse losing its one entry): memo.example is clean again
    db_import(store, "later", ["other.example,gambling"], extra=["--allow-shrink"])
    for _ in range(5):
        assert_resolves(sk, "memo.example.")
