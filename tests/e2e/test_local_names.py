"""Local names and split DNS (issue 21 item 7), end to end: a real sekishod, two real knotd —
the tenant's internal resolver (serving corp.acme.example as the intranet knows it) and the public
upstream (serving acme.example, corp.acme.example included, as the outside world sees it, besides
the shared test zones) — and real clients (kdig -b, dnspython from a tenant's source address).

- acme's local records answer authoritatively (AA): A, AAAA, TXT, a CNAME followed through the
  local records, NODATA for another type, NXDOMAIN with the zone's SOA for a name of its local zone
  without records, NODATA for an empty non-terminal, the apex's SOA.
- They still pass acme's policy: a denied local name gets the block answer, and so does a local
  CNAME whose target is denied (CNAME inspection).
- acme's forward zone goes to the internal knotd, through a dead resolver listed first (failover of
  the upstream machinery); its answers pass the policy too (a CNAME into a denied name is blocked).
- Another tenant asking the very same names gets the public answers, before and after acme's are
  cached, over UDP and TCP: the split answer never leaks through the shared cache.
- The query log records local answers with action `local`.
- check-config names a bad local record, a CNAME beside other data and a bad forward upstream.
"""
import json
import pathlib
import subprocess

import pytest

from clients import KDIG
from netutil import free_port
from policy_fixtures import ask, describe, edes, kdig_from, policy_overrides, query_log, rcode, rdatas, rrsets, tenant
from sekishod import SEKISHOD
from upstreams import KnotUpstream

ZONES = pathlib.Path(__file__).resolve().parent / "zones"

ACME, OTHER = "127.0.0.2", "127.0.0.3"

INTERNAL_CORP = """$ORIGIN corp.acme.example.
$TTL 300
@      SOA   ns hostmaster 1 3600 600 86400 60
@      NS    ns
ns     A     127.0.0.1
git    A     10.20.0.5
wiki   CNAME git
cloak  CNAME denied.partner.example.
"""

PUBLIC_ACME = """$ORIGIN acme.example.
$TTL 300
@          SOA   ns hostmaster 1 3600 600 86400 60
@          NS    ns
ns         A     127.0.0.1
intranet   A     198.51.100.3
git.corp   A     198.51.100.5
wiki.corp  CNAME git.corp
"""

PARTNER = """$ORIGIN partner.example.
$TTL 300
@       SOA   ns hostmaster 1 3600 600 86400 60
@       NS    ns
ns      A     127.0.0.1
denied  A     192.0.2.99
"""

ACME_LOCAL = {
    "local_records": [
        {"name": "intranet.acme.example", "type": "A", "value": "10.1.2.3", "ttl": 120},
        {"name": "intranet.acme.example", "type": "AAAA", "value": "fd00::3"},
        {"name": "Wiki.ACME.example.", "type": "CNAME", "value": "intranet.acme.example"},
        {"name": "info.acme.example", "type": "TXT", "value": "v=intranet; owner=it"},
        {"name": "printer.b.acme.example", "type": "A", "value": "10.1.2.9"},
        {"name": "blocked.acme.example", "type": "A", "value": "10.1.2.4"},
        {"name": "promo.acme.example", "type": "CNAME", "value": "denied.partner.example"},
    ],
    "local_zones": ["acme.example"],
}


@pytest.fixture(scope="module")
def knots(tmp_path_factory):
    internal = KnotUpstream(tmp_path_factory.mktemp("knot-internal"), zones={"corp.acme.example": INTERNAL_CORP})
    zones = {p.name[:-len(".zone")]: p.read_text() for p in ZONES.glob("*.zone")}
    zones.update({"acme.example": PUBLIC_ACME, "partner.example": PARTNER})
    public = KnotUpstream(tmp_path_factory.mktemp("knot-public"), zones=zones)
    internal.start()
    public.start()
    yield internal, public
    internal.stop()
    public.stop()


@pytest.fixture
def split(sekishod, knots, tmp_path):
    internal, public = knots
    dead = "127.0.0.1:%d" % free_port(["127.0.0.1"])  # nothing listens: ICMP refused, the next one is tried
    acme = tenant("acme", [ACME + "/32"], "office")
    acme.update(ACME_LOCAL)
    acme["forward_zones"] = [{"domain": "corp.acme.example", "upstreams": [dead, internal.address]}]
    cfg = policy_overrides(None, [acme, tenant("other", [OTHER + "/32"], "office")], {
        "office": {"deny": ["denied.partner.example", "blocked.acme.example"], "log": "full"},
    }, blockpage={"ipv4": "192.0.2.10", "ttl": 60})
    cfg["querylog"] = {"directory": str(tmp_path / "querylog")}
    cfg["forwarding"] = {"timeout_ms": 500, "attempts": 3}
    sk = sekishod([public.address], cfg)
    sk.logdir = tmp_path / "querylog"
    return sk


def aa(msg):
    return bool(msg.flags & 0x0400)


def soa_owner(msg):
    return [rr.name.to_text().lower() for rr in rrsets(msg, "authority", "SOA")]


def test_local_records_answer_authoritatively(split):
    r = ask(split.port, "intranet.acme.example.", source=ACME)
    assert rcode(r) == "NOERROR" and aa(r) and rdatas(r, "A") == {"10.1.2.3"}, describe(r)
    assert r.answer[0].ttl == 120, describe(r)
    r = ask(split.port, "INTRANET.acme.example.", "AAAA", source=ACME, tcp=True)
    assert aa(r) and rdatas(r, "AAAA") == {"fd00::3"}, describe(r)
    assert r.question[0].name.to_text() == "INTRANET.acme.example.", describe(r)  # the client's case
    r = ask(split.port, "info.acme.example.", "TXT", source=ACME)
    assert aa(r) and rdatas(r, "TXT") == {'"v=intranet; owner=it"'}, describe(r)


def test_local_cname_followed_through_local_records(split):
    r = ask(split.port, "wiki.acme.example.", source=ACME)
    assert rcode(r) == "NOERROR" and aa(r), describe(r)
    assert [(rr.name.to_text(), rr.rdtype, sorted(rd.to_text() for rd in rr)) for rr in r.answer] == [
        ("wiki.acme.example.", 5, ["intranet.acme.example."]), ("intranet.acme.example.", 1, ["10.1.2.3"])], describe(r)


def test_kdig_sees_aa_and_the_local_answer(split):
    data, p = kdig_from(ACME, split.port, "intranet.acme.example", "A")
    assert p.returncode == 0 and data is not None, "%s failed: %s %s" % (KDIG, p.stdout, p.stderr)
    assert data.get("AA") in (1, True), p.stdout
    assert [(rr["NAME"], rr["TYPEname"], rr["rdataA"]) for rr in data["answerRRs"]] == \
        [("intranet.acme.example.", "A", "10.1.2.3")], p.stdout
    data, p = kdig_from(ACME, split.port, "nothere.acme.example", "A")
    assert data is not None and data.get("RCODE") == 3 and data.get("AA") in (1, True), p.stdout


def test_negative_answers_inside_the_local_zone(split):
    r = ask(split.port, "nothere.acme.example.", source=ACME)
    assert rcode(r) == "NXDOMAIN" and aa(r) and soa_owner(r) == ["acme.example."], describe(r)
    assert r.authority[0].ttl == 60, describe(r)
    r = ask(split.port, "intranet.acme.example.", "MX", source=ACME)
    assert rcode(r) == "NOERROR" and aa(r) and r.answer == [] and soa_owner(r) == ["acme.example."], describe(r)
    r = ask(split.port, "b.acme.example.", source=ACME)  # an empty non-terminal: NODATA (RFC 8020)
    assert rcode(r) == "NOERROR" and aa(r) and r.answer == [] and soa_owner(r) == ["acme.example."], describe(r)
    r = ask(split.port, "printer.b.acme.example.", source=ACME)
    assert rdatas(r, "A") == {"10.1.2.9"}, describe(r)
    r = ask(split.port, "acme.example.", "SOA", source=ACME)
    assert aa(r) and [rr.name.to_text() for rr in rrsets(r, "answer", "SOA")] == ["acme.example."], describe(r)


def test_local_names_pass_the_policy(split):
    r = ask(split.port, "blocked.acme.example.", source=ACME)  # on the deny list
    assert rdatas(r, "A") == {"192.0.2.10"} and [c for c, _ in edes(r)] == [17], describe(r)
    r = ask(split.port, "promo.acme.example.", source=ACME)  # a local CNAME into a denied name
    assert rdatas(r, "A") == {"192.0.2.10"}, describe(r)
    assert [c for c, _ in edes(r)] == [17] and "cname=denied.partner.example" in edes(r)[0][1], describe(r)


def test_forward_zone_goes_to_the_internal_resolver(split):
    for _ in range(2):  # the second from the cache
        r = ask(split.port, "git.corp.acme.example.", source=ACME)
        assert rcode(r) == "NOERROR" and rdatas(r, "A") == {"10.20.0.5"} and not aa(r), describe(r)
        r = ask(split.port, "wiki.corp.acme.example.", source=ACME, tcp=True)
        assert rdatas(r, "A") == {"10.20.0.5"}, describe(r)
    r = ask(split.port, "cloak.corp.acme.example.", source=ACME)  # the internal answer's CNAME is inspected
    assert rdatas(r, "A") == {"192.0.2.10"} and [c for c, _ in edes(r)] == [17], describe(r)


def test_split_answers_never_leak_to_another_tenant(split):
    for tcp in (False, True, False):
        r = ask(split.port, "git.corp.acme.example.", source=OTHER, tcp=tcp)
        assert rdatas(r, "A") == {"198.51.100.5"}, describe(r)
        r = ask(split.port, "git.corp.acme.example.", source=ACME, tcp=tcp)
        assert rdatas(r, "A") == {"10.20.0.5"}, describe(r)
        r = ask(split.port, "intranet.acme.example.", source=OTHER, tcp=tcp)
        assert rdatas(r, "A") == {"198.51.100.3"} and not aa(r), describe(r)
        r = ask(split.port, "nothere.acme.example.", source=OTHER, tcp=tcp)  # the public zone's own NXDOMAIN
        assert rcode(r) == "NXDOMAIN" and not aa(r), describe(r)
    data, p = kdig_from(OTHER, split.port, "git.corp.acme.example", "A")
    assert data is not None and [rr["rdataA"] for rr in data["answerRRs"]] == ["198.51.100.5"], p.stdout


def test_query_log_records_local_answers(split):
    ask(split.port, "intranet.acme.example.", source=ACME)
    ask(split.port, "nothere.acme.example.", source=ACME)
    ask(split.port, "git.corp.acme.example.", source=ACME)
    code, _ = split.terminate()
    assert code == 0, "sekishod exit code %r" % code
    records = query_log(split.logdir)
    got = sorted((r["name"], r["action"], r["rcode"]) for r in records)
    assert got == [("git.corp.acme.example", "resolved", "NOERROR"), ("intranet.acme.example", "local", "NOERROR"),
                   ("nothere.acme.example", "local", "NXDOMAIN")], records


def test_check_config_names_bad_local_names(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("""server:
  listen:
    dns: ["127.0.0.1:0"]
upstreams: ["127.0.0.1:53"]
tenants:
  - id: acme
    networks: ["10.0.0.0/8"]
    policy: open
    local_records:
      - {name: a.acme.example, type: A, value: "10.1.2.300"}
      - {name: b.acme.example, type: CNAME, value: a.acme.example}
      - {name: b.acme.example, type: TXT, value: "x"}
      - {name: c.acme.example, type: MX, value: "x"}
    forward_zones:
      - {domain: corp.acme.example, upstreams: ["not an address"]}
policies:
  open: {}
""")
    p = subprocess.run([SEKISHOD, "--check-config", str(cfg)], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0, p.stdout + p.stderr
    err = p.stderr
    assert "bad.yaml:10:" in err and "'10.1.2.300' is not an IPv4 address" in err, err
    assert "bad.yaml:12:" in err and "has a CNAME and other records" in err, err
    assert "bad.yaml:13:" in err and "'MX' is not a local record type (A | AAAA | CNAME | TXT)" in err, err
    assert "bad.yaml:15:" in err and "forward_zones[0].upstreams[0]" in err, err
