"""Cache (issue 2): hits do not reach the upstream, TTLs count down, negative answers are cached
with the SOA-minimum-bounded TTL (RFC 2308), the client's ID and question case are preserved,
serve-stale (RFC 8767) with EDE 3, and a small max_entries keeps working."""
import concurrent.futures
import ipaddress
import time

import dns.rcode
import dns.rdatatype
import pytest

from clients import addresses, answer_ttls, ede_codes, make_query, query, query_tcp, query_udp
from upstreams import Action, default_answer

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_second_query_is_a_cache_hit(sekishod, scripted, transport):
    up = scripted(ttl=300)
    sk = sekishod([up.address])
    r1 = query(transport, "127.0.0.1", sk.port, "hit.cache.example.")
    r2 = query(transport, "::1", sk.port, "hit.cache.example.")
    assert addresses(r1) == addresses(r2) == {"192.0.2.1"}
    assert up.count("hit.cache.example.") == 1, up.queries()
    # another type of the same name is a different entry
    query(transport, "127.0.0.1", sk.port, "hit.cache.example.", "AAAA")
    assert up.count("hit.cache.example.", "AAAA") == 1


def test_ttl_counts_down(sekishod, scripted):
    up = scripted(ttl=300)
    sk = sekishod([up.address])
    t_sent = time.monotonic()
    r1 = query_udp("127.0.0.1", sk.port, "countdown.cache.example.")
    t_answered = time.monotonic()
    assert 299 <= answer_ttls(r1)[0] <= 300, r1
    time.sleep(2.2)
    t_asked = time.monotonic()
    r2 = query_udp("127.0.0.1", sk.port, "countdown.cache.example.")
    t_done = time.monotonic()
    ttl = answer_ttls(r2)[0]
    # The entry was stored between t_sent and t_answered and read between t_asked and t_done: its
    # age lies between those bounds, whatever a loaded machine did to the sleep. One second of
    # slack on each side for whole-second rounding.
    least, most = t_asked - t_answered, t_done - t_sent
    assert 300 - int(most) - 1 <= ttl <= 300 - int(least) + 1 and ttl <= 298, \
        "TTL %d after %.2f-%.2f s in cache" % (ttl, least, most)
    assert up.count("countdown.cache.example.") == 1


def test_ttl_counts_down_real_upstream_and_expires(resolver, knot):
    """short.test.example has TTL 3 at knot: it counts down on hits and is fetched again after it
    expires (the answer never carries a TTL above what is left)."""
    r1 = query_udp("127.0.0.1", resolver.port, "short.test.example.")
    assert addresses(r1) == {"192.0.2.3"} and answer_ttls(r1)[0] <= 3, r1
    time.sleep(1.5)
    r2 = query_udp("127.0.0.1", resolver.port, "short.test.example.")
    assert answer_ttls(r2)[0] <= 2, "TTL did not count down: %s" % r2
    time.sleep(2.0)
    r3 = query_udp("127.0.0.1", resolver.port, "short.test.example.")
    assert addresses(r3) == {"192.0.2.3"}
    assert 1 <= answer_ttls(r3)[0] <= 3, "after expiry expected a fresh TTL (<= 3): %s" % r3


@pytest.mark.parametrize("kind,rcode", [("nx", dns.rcode.NXDOMAIN), ("nodata", dns.rcode.NOERROR)],
                         ids=["nxdomain", "nodata"])
def test_negative_answers_cached_with_soa_minimum(sekishod, scripted, kind, rcode):
    """The scripted upstream's SOA has TTL 300 and minimum 60: the cached negative answer must
    carry at most 60 (RFC 2308 §5) and a second query must not reach the upstream."""
    up = scripted()
    sk = sekishod([up.address])
    name = "%s-1.neg.example." % kind
    r1 = query_udp("127.0.0.1", sk.port, name)
    assert r1.rcode() == rcode and not r1.answer, r1
    assert r1.authority and r1.authority[0].rdtype == dns.rdatatype.SOA, r1
    assert r1.authority[0].ttl <= 60, "negative answer SOA TTL %d > SOA minimum 60" % r1.authority[0].ttl
    time.sleep(1.1)
    r2 = query_udp("127.0.0.1", sk.port, name)
    assert r2.rcode() == rcode and not r2.answer, r2
    assert up.count(name) == 1, "negative answer not cached: upstream saw %s" % up.queries(name)
    assert r2.authority and r2.authority[0].ttl <= 59, \
        "cached negative TTL did not count down: %s" % r2


@pytest.mark.parametrize("kind", ["nx", "nodata"])
def test_negative_cache_entry_expires_after_soa_minimum(sekishod, scripted, kind):
    """SOA TTL 300 but SOA minimum 2: the negative answer may be cached for 2 s only (RFC 2308 §5)."""
    up = scripted()
    up.neg_minimum = 2
    sk = sekishod([up.address])
    name = "%s-exp.neg.example." % kind
    query_udp("127.0.0.1", sk.port, name)
    query_udp("127.0.0.1", sk.port, name)
    assert up.count(name) == 1, "negative answer not cached at all"
    time.sleep(3.0)
    r = query_udp("127.0.0.1", sk.port, name)
    assert up.count(name) == 2, ("negative answer with SOA minimum 2 still served from cache after "
                                 "3 s (answer SOA TTL %s)" % [rr.ttl for rr in r.authority])


def test_negative_answers_from_knot(resolver):
    r = query_udp("127.0.0.1", resolver.port, "nope.test.example.")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority, r
    assert 0 < r.authority[0].ttl <= 60
    r = query_tcp("::1", resolver.port, "nodata.test.example.", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority, r
    r = query_udp("127.0.0.1", resolver.port, "nodata.test.example.", "TXT")
    assert r.answer, r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_id_and_question_case_preserved(sekishod, scripted, transport):
    up = scripted()
    sk = sekishod([up.address])
    spellings = ["case.test.example.", "CaSe.TeSt.ExAmPlE.", "CASE.TEST.EXAMPLE."]
    for i, name in enumerate(spellings):
        for qid in (0, 0xFFFF, 0x1234 + i):
            q = make_query(name, qid=qid)
            r = query(transport, "127.0.0.1", sk.port, q, check=False)
            assert r.id == qid, "ID %d answered with %d" % (qid, r.id)
            got = r.question[0].name.to_text()
            assert got == name, "question %r answered as %r (case must be preserved)" % (name, got)
            assert addresses(r) == {"192.0.2.1"}
    assert up.count("case.test.example.") == 1, \
        "names differing only in case should share one cache entry: %s" % up.queries()


def test_serve_stale_with_ede3(sekishod, scripted):
    up = scripted(ttl=2)
    sk = sekishod([up.address], {"cache": {"serve_stale": 86400},
                                 "forwarding": {"timeout_ms": 300, "attempts": 2}})
    r = query_udp("127.0.0.1", sk.port, "stale.cache.example.")
    assert addresses(r) == {"192.0.2.1"}
    up.stop()
    time.sleep(3.0)  # TTL 2 has expired
    t0 = time.monotonic()
    r = query_udp("127.0.0.1", sk.port, "stale.cache.example.", timeout=5)
    took = time.monotonic() - t0
    assert r.rcode() == dns.rcode.NOERROR, "expected the stale answer, got %s" % r
    assert addresses(r) == {"192.0.2.1"}, r
    assert 3 in ede_codes(r), "stale answer without EDE 3 (Stale Answer): EDE %s" % ede_codes(r)
    ttl = answer_ttls(r)[0]
    assert 0 < ttl <= 30, "stale answer TTL %d; RFC 8767 recommends 30" % ttl
    assert took < 3.0, "stale answer took %.1f s" % took


def test_no_serve_stale_when_off(sekishod, scripted):
    up = scripted(ttl=1)
    sk = sekishod([up.address], {"cache": {"serve_stale": 0},
                                 "forwarding": {"timeout_ms": 300, "attempts": 2}})
    assert addresses(query_udp("127.0.0.1", sk.port, "fresh.cache.example.")) == {"192.0.2.1"}
    up.stop()
    time.sleep(2.0)
    r = query_udp("127.0.0.1", sk.port, "fresh.cache.example.", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, "serve_stale 0 but got %s" % r


def test_small_cache_evicts_and_keeps_working(sekishod, scripted):
    up = scripted()
    sk = sekishod([up.address], {"cache": {"max_entries": 16}})
    names = ["e%03d.evict.example." % i for i in range(120)]
    hot = "hot.evict.example."
    for rnd in range(2):
        for i, n in enumerate(names):
            r = query_udp("127.0.0.1", sk.port, n)
            assert addresses(r) == {"192.0.2.1"}, r
            if i % 2 == 0:
                assert addresses(query_udp("127.0.0.1", sk.port, hot)) == {"192.0.2.1"}
    cold = sum(up.count(n) for n in names)
    assert cold >= 120 + 90, ("max_entries 16 but only %d of 240 cold queries reached the upstream: "
                              "the cache holds far more entries than allowed" % cold)
    assert up.count(hot) <= 3, "a name asked every other query was evicted %d times" % (up.count(hot) - 1)
    assert sk.alive()


def test_both_loops_hit_and_churn_a_small_cache_without_mixing_answers(sekishod, scripted):
    """Two event loops read the cache without locks while misses keep replacing its 32 entries:
    every answer must still be the one for its own name (a torn or freed entry would show as a
    wrong address, a SERVFAIL or a crash)."""
    up = scripted()

    def addr_for(i):
        return str(ipaddress.IPv4Address("10.0.0.0") + i + 1)

    def handler(q, transport):
        label = q.question[0].name.labels[0].decode()
        i = int(label[1:]) if label[:1] == "c" and label[1:].isdigit() else 0
        return Action().send(default_answer(q, addr=addr_for(i)))

    up.handler = handler
    sk = sekishod([up.address], {"server": {"threads": 2}, "cache": {"max_entries": 32}})
    hot = list(range(8))          # asked again and again: hits on both loops
    cold = list(range(8, 400))    # each asked a few times: inserts that evict

    def ask(i):
        r = query_udp("127.0.0.1", sk.port, "c%d.churn.example." % i, timeout=5)
        return i, r

    order = [i for k in range(3) for j, c in enumerate(cold) for i in (c, hot[(j + k) % len(hot)])]
    wrong = []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for i, r in pool.map(ask, order):
            if r.rcode() != dns.rcode.NOERROR or addresses(r) != {addr_for(i)}:
                wrong.append((i, r.rcode(), addresses(r)))
    assert not wrong, "%d of %d answers wrong, e.g. %s" % (len(wrong), len(order), wrong[:3])
    assert up.count() < len(order), "no answer came from the cache"
    assert sk.alive()

