"""Query log: one record per query in the configured directory (read back as JSON lines by
`sekisho querylog print`), with what was decided, honouring each tenant policy's log mode
(full, anonymized, none)."""
from policy_fixtures import ask, make_store, policy_overrides, query_log, tenant
from upstreams import default_answer  # noqa: F401  (the scripted upstream answers every A query)

ACME, ANON, QUIET = "127.0.0.2", "127.0.0.3", "127.0.0.4"
BLOCK = {"block": ["gambling"], "deny": ["badsite.example"], "action": "blockpage"}


def read_records(directory):
    assert sorted(p.suffix for p in directory.glob("queries-*")) == [".qlog"], list(directory.iterdir())
    return query_log(directory)


def test_query_log_records_match_queries(sekishod, scripted, tmp_path):
    store = make_store(tmp_path / "categories", ["casino.example,gambling"])
    logdir = tmp_path / "querylog"
    up = scripted()
    cfg = policy_overrides(store, [
        tenant("acme", [ACME + "/32"], "full"),
        tenant("anon", [ANON + "/32"], "anonymized"),
        tenant("quiet", [QUIET + "/32"], "quiet"),
    ], {"full": dict(BLOCK, log="full"), "anonymized": dict(BLOCK, log="anonymized"),
        "quiet": dict(BLOCK, log="none")})
    cfg["querylog"] = {"directory": str(logdir)}
    sk = sekishod([up.address], cfg)

    ask(sk.port, "casino.example.", source=ACME)
    ask(sk.port, "www.badsite.example.", "AAAA", source=ACME)
    ask(sk.port, "fine.example.", source=ACME)
    ask(sk.port, "fine.example.", source=ACME)          # a cache hit
    ask(sk.port, "anon.example.", source=ANON)
    ask(sk.port, "quiet.example.", source=QUIET)
    ask(sk.port, "fine.example.", source="127.0.0.9")   # no tenant: refused, still logged
    sk.terminate()                                      # the writer drains on shutdown

    records = read_records(logdir)
    by_name = {}
    for r in records:
        by_name.setdefault((r["name"], r["client"]), []).append(r)

    casino = by_name[("casino.example", ACME)][0]
    assert casino["tenant"] == "acme" and casino["action"] == "blocked", casino
    assert casino["categories"] == ["gambling"] and casino["rule"] == "category", casino
    assert casino["type"] == "A" and casino["transport"] == "udp" and casino["rcode"] == "NOERROR"

    deny = by_name[("www.badsite.example", ACME)][0]
    assert deny["rule"] == "deny_list" and deny["rule_text"] == "badsite.example" and deny["type"] == "AAAA", deny

    fine = [r["action"] for r in by_name[("fine.example", ACME)]]
    assert sorted(fine) == ["cached", "resolved"], fine

    # anonymized: the client address is cut to its /24
    anon = [r for r in records if r["name"] == "anon.example"]
    assert len(anon) == 1 and anon[0]["client"] == "127.0.0.0" and anon[0]["tenant"] == "anon", anon

    # log: none writes nothing for that tenant
    assert not [r for r in records if r["name"] == "quiet.example"], records

    refused = by_name[("fine.example", "127.0.0.9")][0]
    assert refused["action"] == "refused" and refused["rcode"] == "REFUSED" and refused["tenant"] == "", refused
    assert len(records) == 6, records  # seven queries, the quiet tenant's one not written
