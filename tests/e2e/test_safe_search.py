"""Safe search end to end: a real sekishod forwarding to its own knotd serving
safe_search_zones/*.zone (google.com and bing.com: both the search engines' own names and their
strict-mode names; kept out of the shared zones/ so no other test's upstream answers for them),
real clients (dnspython from a tenant's source address, kdig -b), and the query log on disk.

- A tenant whose policy has `safe_search: true` asking www.google.com gets the vendor's strict mode
  as the README promises: CNAME www.google.com -> forcesafesearch.google.com plus the target's own
  records as knotd serves them (A and AAAA), also for Google's country sites (www.google.co.jp,
  for which knotd has no zone at all, so only the rewritten question can be answered) and Bing.
  A second ask is answered from the cache the same way.
- An allow-listed safe-search name is not rewritten (filtering exclusions are trusted whole), while
  the same tenant's other safe-search names still are.
- A tenant without safe search gets the name's own records.
- The query log records the rewritten answers with action `rewritten` (the cache hit too), and the
  exempted / unfiltered ones as resolved / cached.
- Those rewritten records name their rule, `safe_search` (forwarded, cached and over TCP alike);
  the exempted and unfiltered ones name none.
"""
import pathlib

import pytest

from clients import KDIG
from policy_fixtures import ask, describe, edes, kdig_from, policy_overrides, query_log, rcode, rdatas, rrsets, tenant
from upstreams import KnotUpstream

ZONES = pathlib.Path(__file__).resolve().parent / "safe_search_zones"

SAFE, EXEMPT, PLAIN = "127.0.0.2", "127.0.0.3", "127.0.0.4"

GOOGLE_SAFE = "forcesafesearch.google.com."
GOOGLE_SAFE_A, GOOGLE_SAFE_AAAA = "216.239.38.120", "2001:4860:4802:32::78"
GOOGLE_OWN_A, GOOGLE_OWN_AAAA = "192.0.2.80", "2001:db8::80"       # www.google.com in the zone
BING_SAFE, BING_SAFE_A, BING_OWN_A = "strict.bing.com.", "204.79.197.220", "192.0.2.82"


def read_log(directory):
    return query_log(directory)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """knotd authoritative for the search engines' zones."""
    k = KnotUpstream(tmp_path_factory.mktemp("knot-safe-search"),
                     zones={p.name[:-len(".zone")]: p.read_text() for p in ZONES.glob("*.zone")})
    k.start()
    yield k
    k.stop()


@pytest.fixture
def safe(sekishod, engines, tmp_path):
    cfg = policy_overrides(None, [
        tenant("safe", [SAFE + "/32"], "strict"),
        tenant("exempt", [EXEMPT + "/32"], "strict_but_google"),
        tenant("plain", [PLAIN + "/32"], "open"),
    ], {
        "strict": {"safe_search": True, "log": "full"},
        "strict_but_google": {"safe_search": True, "allow": ["www.google.com"], "log": "full"},
        "open": {"deny": ["nothing.invalid"], "log": "full"},
    })
    cfg["querylog"] = {"directory": str(tmp_path / "querylog")}
    sk = sekishod([engines.address], cfg)
    sk.logdir = tmp_path / "querylog"
    return sk


def assert_rewritten(r, qname, target, rdtype, addrs):
    """The answer is CNAME qname -> target, then target's records of rdtype = addrs."""
    assert rcode(r) == "NOERROR", describe(r)
    cnames = rrsets(r, "answer", "CNAME")
    assert [(rr.name.to_text().lower(), [rd.target.to_text().lower() for rd in rr]) for rr in cnames] == \
        [(qname, [target])], "expected CNAME %s -> %s:%s" % (qname, target, describe(r))
    owners = {rr.name.to_text().lower() for rr in rrsets(r, "answer", rdtype)}
    assert owners == {target}, "the %s records must be the target's:%s" % (rdtype, describe(r))
    assert rdatas(r, rdtype) == addrs, describe(r)
    assert edes(r) == [], describe(r)


def assert_own(r, qname, rdtype, addrs):
    """The name's own records, no CNAME."""
    assert rcode(r) == "NOERROR", describe(r)
    assert rrsets(r, "answer", "CNAME") == [], "%s must not be rewritten:%s" % (qname, describe(r))
    assert {rr.name.to_text().lower() for rr in r.answer} == {qname}, describe(r)
    assert rdatas(r, rdtype) == addrs, describe(r)


def test_strict_mode_cname_and_target_records(safe):
    assert_rewritten(ask(safe.port, "www.google.com.", source=SAFE), "www.google.com.", GOOGLE_SAFE,
                     "A", {GOOGLE_SAFE_A})
    assert_rewritten(ask(safe.port, "www.google.com.", "AAAA", source=SAFE), "www.google.com.",
                     GOOGLE_SAFE, "AAAA", {GOOGLE_SAFE_AAAA})
    # The second ask comes from the cache (keyed by the strict-mode name): still rewritten.
    assert_rewritten(ask(safe.port, "www.google.com.", source=SAFE), "www.google.com.", GOOGLE_SAFE,
                     "A", {GOOGLE_SAFE_A})
    # A country site: knotd serves no google.co.jp zone, so an answer with records proves the
    # upstream was asked the strict-mode name, not the client's.
    assert_rewritten(ask(safe.port, "www.google.co.jp.", source=SAFE), "www.google.co.jp.",
                     GOOGLE_SAFE, "A", {GOOGLE_SAFE_A})
    assert_rewritten(ask(safe.port, "www.bing.com.", source=SAFE), "www.bing.com.", BING_SAFE, "A",
                     {BING_SAFE_A})
    # Over TCP too (the same pipeline behind another transport).
    assert_rewritten(ask(safe.port, "google.com.", source=SAFE, tcp=True), "google.com.", GOOGLE_SAFE,
                     "A", {GOOGLE_SAFE_A})


def test_kdig_sees_the_cname_and_the_target(safe):
    data, p = kdig_from(SAFE, safe.port, "www.google.com", "A")
    assert p.returncode == 0 and data is not None, "%s failed: %s %s" % (KDIG, p.stdout, p.stderr)
    answer = [(rr["NAME"].lower(), rr["TYPEname"], rr["rdata" + rr["TYPEname"]].lower())
              for rr in data.get("answerRRs", [])]
    assert answer == [("www.google.com.", "CNAME", GOOGLE_SAFE), (GOOGLE_SAFE, "A", GOOGLE_SAFE_A)], p.stdout


def test_allow_listed_name_is_not_rewritten(safe):
    # www.google.com is on this tenant's allow list: its own records, no CNAME.
    assert_own(ask(safe.port, "www.google.com.", source=EXEMPT), "www.google.com.", "A", {GOOGLE_OWN_A})
    assert_own(ask(safe.port, "www.google.com.", "AAAA", source=EXEMPT), "www.google.com.", "AAAA",
               {GOOGLE_OWN_AAAA})
    # ... while the same tenant's other safe-search names still are rewritten,
    assert_rewritten(ask(safe.port, "www.bing.com.", source=EXEMPT), "www.bing.com.", BING_SAFE, "A",
                     {BING_SAFE_A})
    assert_rewritten(ask(safe.port, "google.com.", source=EXEMPT), "google.com.", GOOGLE_SAFE, "A",
                     {GOOGLE_SAFE_A})
    # ... and the other tenant, asking the same name after it, is still rewritten (the cache is
    # shared and tenant-neutral; the decision is not).
    assert_rewritten(ask(safe.port, "www.google.com.", source=SAFE), "www.google.com.", GOOGLE_SAFE,
                     "A", {GOOGLE_SAFE_A})


def test_tenant_without_safe_search_gets_the_names_own_records(safe):
    assert_own(ask(safe.port, "www.google.com.", source=PLAIN), "www.google.com.", "A", {GOOGLE_OWN_A})
    assert_own(ask(safe.port, "www.bing.com.", source=PLAIN), "www.bing.com.", "A", {BING_OWN_A})


def test_query_log_action_rewritten(safe):
    ask(safe.port, "www.google.com.", source=SAFE)       # forwarded, rewritten
    ask(safe.port, "www.google.com.", source=SAFE)       # from the cache, rewritten
    ask(safe.port, "www.google.com.", source=EXEMPT)     # allow-listed: resolved
    ask(safe.port, "www.google.com.", source=PLAIN)      # no safe search: cached (same key)
    code, _ = safe.terminate()                           # the writer drains on shutdown
    assert code == 0, "sekishod exit code %r" % code
    records = [r for r in read_log(safe.logdir) if r["name"] == "www.google.com"]
    got = sorted((r["client"], r["tenant"], r["action"]) for r in records)
    assert got == sorted([
        (SAFE, "safe", "rewritten"),
        (SAFE, "safe", "rewritten"),
        (EXEMPT, "exempt", "resolved"),
        (PLAIN, "plain", "cached"),
    ]), records
    for r in records:
        assert r["type"] == "A" and r["rcode"] == "NOERROR" and r["transport"] == "udp", r


def test_query_log_rule_safe_search(safe):
    ask(safe.port, "www.bing.com.", source=SAFE)            # forwarded, rewritten
    ask(safe.port, "www.bing.com.", source=SAFE)            # from the cache, rewritten
    ask(safe.port, "www.bing.com.", source=SAFE, tcp=True)  # over TCP, from the cache
    ask(safe.port, "www.google.com.", source=EXEMPT)        # allow-listed: no rule
    ask(safe.port, "www.bing.com.", source=PLAIN)           # no safe search: no rule
    code, _ = safe.terminate()
    assert code == 0, "sekishod exit code %r" % code
    records = [r for r in read_log(safe.logdir) if r["name"] in ("www.bing.com", "www.google.com")]
    got = sorted((r["client"], r["name"], r["transport"], r["action"], r["rule"], r["rule_text"], r["categories"])
                 for r in records)
    assert got == sorted([
        (SAFE, "www.bing.com", "udp", "rewritten", "safe_search", "", []),
        (SAFE, "www.bing.com", "udp", "rewritten", "safe_search", "", []),
        (SAFE, "www.bing.com", "tcp", "rewritten", "safe_search", "", []),
        (EXEMPT, "www.google.com", "udp", "resolved", "none", "", []),
        (PLAIN, "www.bing.com", "udp", "resolved", "none", "", []),
    ]), records
