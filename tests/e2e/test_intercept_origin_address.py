"""What sekisho-intercept dials for an inspected host (issue 19): the addresses of the special-purpose
registries are refused also when they hide behind an IPv6 form that reaches them — NAT64
64:ff9b::a9fe:a9fe is the metadata service 169.254.169.254, 6to4 2002:7f00:1:: is 127.0.0.1 —
and only answers to the question asked (name, type, class, ID) are used.

Only sekisho-intercept runs: its store lists a URL entry under videos.example, so the host is
inspected for tenant acme and its other URLs forwarded to the HTTPS origin of test_intercept.py.
A scripted upstream answers with a handler per test. Before this change the NAT64 and 6to4
addresses were dialled (the 502 said the connection failed, not that the address was refused).
"""
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from test_intercept_origin_lookup import env, get, start_intercept  # noqa: F401 (env is a fixture)
from upstreams import Action, ScriptedUpstream, default_answer

HOST = "videos.example"


def only_aaaa(address):
    """A: NODATA; AAAA: `address`."""
    def handler(q, transport):
        r = dns.message.make_response(q)
        if q.question[0].rdtype == dns.rdatatype.AAAA:
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "AAAA", address))
        return r
    return handler


@pytest.mark.parametrize("address,embedded,block", [
    ("64:ff9b::a9fe:a9fe", "169.254.169.254", "169.254.0.0/16"),
    ("2002:7f00:1::", "127.0.0.1", "127.0.0.0/8"),
])
def test_nat64_and_6to4_addresses_are_judged_by_the_ipv4_they_reach(env, address, embedded, block):
    up = ScriptedUpstream().start()
    up.handler = only_aaaa(address)
    # allow_private covers 127.0.0.0/8 in env: the 6to4 case runs without it.
    icpt, port = start_intercept(env, "embedded-" + embedded, [up], {"timeout_ms": 2000, "attempts": 1},
                                 allow_private=[] if embedded == "127.0.0.1" else None)
    try:
        status, body, _ = get(env, port, HOST, "/news/x")
        assert status == 502, body
        assert address in body and ("reaches " + embedded) in body and block in body, body
        assert "a non-public address" in body, body
        assert up.count(HOST, "AAAA") == 1, up.queries()
    finally:
        icpt.stop()
        up.stop()


def test_covered_embedded_address_is_dialled(env):
    """The other side: allow_private 127.0.0.0/8 covers ::ffff:127.0.0.1, which reaches the origin."""
    up = ScriptedUpstream().start()
    up.handler = only_aaaa("::ffff:127.0.0.1")
    icpt, port = start_intercept(env, "mapped-allowed", [up], {"timeout_ms": 2000, "attempts": 1})
    try:
        status, body, p = get(env, port, HOST, "/news/mapped")
        assert status == 200 and body == "origin saw /news/mapped host=videos.example", (body, p.stderr)
    finally:
        icpt.stop()
        up.stop()


def forged(q, how):
    """An answer that does not answer `q`: another name, type or class, or another ID; its
    address 127.0.0.3 has no origin behind it, so a client sent there would get a 502."""
    qq = q.question[0]
    name, rdtype, rdclass = qq.name, qq.rdtype, qq.rdclass
    if how == "name":
        name = dns.name.from_text("evil.example.")
    elif how == "type":
        rdtype = dns.rdatatype.AAAA if rdtype == dns.rdatatype.A else dns.rdatatype.A
    elif how == "class":
        rdclass = dns.rdataclass.CH
    fake = dns.message.make_query(name, rdtype, rdclass)
    fake.id = q.id ^ 0x5A5A if how == "id" else q.id
    r = dns.message.make_response(fake)
    # The record itself answers the real question: only the header and question are wrong.
    if qq.rdtype == dns.rdatatype.A:
        r.answer.append(dns.rrset.from_text(qq.name, 60, "IN", "A", "127.0.0.3"))
    return r


@pytest.mark.parametrize("how", ["name", "type", "class", "id"])
def test_answers_to_another_question_are_not_used(env, how):
    up = ScriptedUpstream().start()
    real_too = {"on": True}

    def handler(q, transport):
        a = Action().send(forged(q, how))
        if real_too["on"]:
            a.send(default_answer(q, "127.0.0.1", 60), delay=0.1)
        return a
    up.handler = handler
    icpt, port = start_intercept(env, "forged-" + how, [up], {"timeout_ms": 1000, "attempts": 1})
    try:
        # The forgery comes first; the real answer 100 ms later is the one used.
        status, body, p = get(env, port, HOST, "/news/" + how)
        assert status == 200 and body == "origin saw /news/%s host=videos.example" % how, (body, p.stderr)
        assert "127.0.0.3" not in icpt.stderr()
    finally:
        icpt.stop()
    # Forgeries only: no answer is used at all (not the forged address).
    real_too["on"] = False
    icpt, port = start_intercept(env, "forged-only-" + how, [up], {"timeout_ms": 500, "attempts": 1})
    try:
        status, body, _ = get(env, port, "videos.example", "/news/only-" + how)
        assert status == 502 and "no answer for videos.example" in body and "127.0.0.3" not in body, body
    finally:
        icpt.stop()
        up.stop()
