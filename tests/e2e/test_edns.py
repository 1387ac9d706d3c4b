"""EDNS(0) (issue 2): OPT echoed only when the client sent one, advertised payload 1232, DO bit
passed upstream, UDP answers larger than the client's limit truncated with TC=1, TCP complete."""
import dns.flags
import dns.rcode
import pytest

from clients import addresses, make_query, query, query_tcp, query_udp

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_opt_echoed_only_when_sent(resolver, transport):
    for attempt in ("miss", "hit"):
        r = query(transport, "127.0.0.1", resolver.port, "www.test.example.", edns=0)
        assert r.edns == 0, "%s: client sent OPT, answer has none" % attempt
        r = query(transport, "127.0.0.1", resolver.port, "www.test.example.", "AAAA", edns=-1)
        assert r.edns == -1, "%s: client sent no OPT, answer has one" % attempt
        assert addresses(r, "AAAA") == {"2001:db8::1"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_advertised_payload_1232(resolver, transport):
    for payload in (512, 1232, 4096):
        r = query(transport, "127.0.0.1", resolver.port, "www.test.example.", payload=payload)
        assert r.edns == 0 and r.payload == 1232, "OPT payload %s (client asked %d)" % (
            r.payload if r.edns >= 0 else None, payload)


def test_upstream_query_carries_edns_1232(sekishod, scripted):
    up = scripted()
    sk = sekishod([up.address])
    query_udp("127.0.0.1", sk.port, "edns.edns.example.", edns=-1)
    seen = up.queries("edns.edns.example.")
    assert len(seen) == 1 and seen[0].edns == 0, "upstream query without OPT: %s" % seen
    assert seen[0].payload == 1232, "upstream query advertises %s, expected 1232" % seen[0].payload


def test_do_bit_passed_upstream(sekishod, scripted):
    up = scripted()
    sk = sekishod([up.address])
    r = query_udp("127.0.0.1", sk.port, "do.edns.example.", do=True)
    assert r.rcode() == dns.rcode.NOERROR and r.edns == 0
    assert r.ednsflags & dns.flags.DO, "DO not echoed to the client (RFC 3225 §3)"
    seen = up.queries("do.edns.example.")
    assert seen and all(s.do for s in seen), "DO bit not passed upstream: %s" % seen


def test_do_bit_not_echoed_when_not_sent(sekishod, scripted):
    """Setting DO upstream for every query is allowed; answering DO=1 to a client that did not set it
    is not (RFC 3225 §3)."""
    up = scripted()
    sk = sekishod([up.address])
    query_udp("127.0.0.1", sk.port, "nodo.edns.example.", do=True)
    r = query_udp("127.0.0.1", sk.port, "nodo.edns.example.", do=False)
    assert r.edns == 0 and not (r.ednsflags & dns.flags.DO), r


@pytest.mark.parametrize("edns,payload", [(-1, 0), (0, 512), (0, 1232)],
                         ids=["no-edns", "payload-512", "payload-1232"])
def test_large_udp_answer_truncated(resolver, knot, edns, payload):
    """big.test.example TXT is about 2 kB: over UDP the client gets TC=1 within its limit."""
    for attempt in ("miss-or-hit", "hit"):
        q = make_query("big.test.example.", "TXT", edns=edns, payload=max(payload, 512))
        r = query_udp("127.0.0.1", resolver.port, q, timeout=5)
        assert r.flags & dns.flags.TC, "%s: ~2 kB answer over UDP without TC=1: %s" % (attempt, r)
        limit = 512 if edns < 0 else payload
        assert len(r.to_wire()) <= limit, "answer %d bytes > client limit %d" % (len(r.to_wire()), limit)
        assert r.rcode() == dns.rcode.NOERROR, r
        assert (r.edns >= 0) == (edns >= 0), "OPT presence must follow the query even when truncated"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_large_answer_complete_over_tcp(resolver, knot, host):
    ref = query_tcp("127.0.0.1", knot.port, "big.test.example.", "TXT")
    for _ in range(2):  # miss, then hit
        r = query_tcp(host, resolver.port, "big.test.example.", "TXT", timeout=5)
        assert not (r.flags & dns.flags.TC)
        assert sorted(addresses(r, "TXT")) == sorted(addresses(ref, "TXT"))
        assert len(r.to_wire()) > 1232


def test_large_udp_answer_then_tcp_retry_like_a_client(resolver):
    """What a stub does: UDP, TC=1, retry over TCP, and the answer is the whole RRset."""
    r = query_udp("127.0.0.1", resolver.port, "big.test.example.", "TXT")
    assert r.flags & dns.flags.TC
    r = query_tcp("127.0.0.1", resolver.port, "big.test.example.", "TXT")
    assert len(addresses(r, "TXT")) == 10


def test_unknown_edns_version_badvers(resolver):
    """RFC 6891 §6.1.3: EDNS version 1 -> BADVERS with an OPT of version 0."""
    q = make_query("www.test.example.", edns=1)
    r = query_udp("127.0.0.1", resolver.port, q, check=False)
    assert r.id == q.id
    assert r.rcode() == dns.rcode.BADVERS, "EDNS version 1 answered with %s" % dns.rcode.to_text(r.rcode())
    assert r.edns == 0
