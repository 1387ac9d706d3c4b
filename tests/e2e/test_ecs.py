"""EDNS Client Subnet from clients (issue 19, RFC 7871): stripped by default; a tenant with
`ecs: forward` has the client's address cut to /24 (IPv4) or /56 (IPv6) sent upstream, and its
answers are cached per subnet. A client's own ECS option is never forwarded (nothing verifies the
address in it); an ECS /0 from the client means "add nothing" (§7.1.2)."""
import socket

import dns.edns
import dns.message
import dns.rcode

from clients import addresses, check_response

OPTED_IN = {"id": "geo", "networks": ["127.0.1.0/24", "127.0.3.0/24", "::1/128"], "policy": "open", "ecs": "forward"}
DEFAULT = {"id": "plain", "networks": ["127.0.2.0/24"], "policy": "open"}


def ask(port, name, source, options=()):
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    q = dns.message.make_query(name, "A", use_edns=0, options=list(options))
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.settimeout(2.0)
        s.bind((source, 0))
        s.sendto(q.to_wire(), ("::1" if family == socket.AF_INET6 else "127.0.0.1", port))
        data, _ = s.recvfrom(65535)
    finally:
        s.close()
    r = dns.message.from_wire(data)
    check_response(q, r, "udp")
    assert not [o for o in r.options if isinstance(o, dns.edns.ECSOption)], "ECS echoed to the client: %s" % r
    return r


def ecs_seen(up, name):
    """The ECS options of each query the upstream got for `name`, as (address, source prefix, scope)."""
    return [[(o.address, o.srclen, o.scopelen) for o in s.msg.options if isinstance(o, dns.edns.ECSOption)]
            for s in up.queries(name)]


def start(sekishod, up, extra_tenant=None):
    tenants = [OPTED_IN, DEFAULT] + ([extra_tenant] if extra_tenant else [])
    return sekishod([up.address], {"tenants": tenants, "policies": {"open": {"block": []}}})


def test_stripped_by_default_and_a_clients_own_option_is_not_forwarded(sekishod, scripted):
    up = scripted(ttl=300)
    sk = start(sekishod, up)
    assert addresses(ask(sk.port, "a.ecs.example.", "127.0.2.5")) == {"192.0.2.1"}
    assert addresses(ask(sk.port, "b.ecs.example.", "127.0.2.5",
                         [dns.edns.ECSOption("198.51.100.0", 24)])) == {"192.0.2.1"}
    assert ecs_seen(up, "a.ecs.example.") == [[]]
    assert ecs_seen(up, "b.ecs.example.") == [[]], "a client's ECS reached the upstream of a tenant that strips it"


def test_opted_in_tenant_sends_a_24_of_the_client_and_caches_per_subnet(sekishod, scripted):
    up = scripted(ttl=300)
    sk = start(sekishod, up)
    name = "geo.ecs.example."
    # Two clients of one /24 share the entry; another /24 of the same tenant gets its own.
    assert addresses(ask(sk.port, name, "127.0.1.5")) == {"192.0.2.1"}
    assert addresses(ask(sk.port, name, "127.0.1.77")) == {"192.0.2.1"}
    assert ecs_seen(up, name) == [[("127.0.1.0", 24, 0)]]
    assert addresses(ask(sk.port, name, "127.0.3.9")) == {"192.0.2.1"}
    assert ecs_seen(up, name) == [[("127.0.1.0", 24, 0)], [("127.0.3.0", 24, 0)]]
    # A tenant that strips ECS neither gets nor leaves subnet-specific answers.
    assert addresses(ask(sk.port, name, "127.0.2.5")) == {"192.0.2.1"}
    assert ask(sk.port, name, "127.0.2.6") is not None
    assert ecs_seen(up, name) == [[("127.0.1.0", 24, 0)], [("127.0.3.0", 24, 0)], []]
    # The client's own option is not what is sent: its address is unverified.
    assert addresses(ask(sk.port, "own.ecs.example.", "127.0.1.5",
                         [dns.edns.ECSOption("198.51.100.0", 24)])) == {"192.0.2.1"}
    assert ecs_seen(up, "own.ecs.example.") == [[("127.0.1.0", 24, 0)]]


def test_ipv6_clients_send_a_56_and_a_zero_prefix_opts_out(sekishod, scripted):
    up = scripted(ttl=300)
    sk = start(sekishod, up)
    assert addresses(ask(sk.port, "v6.ecs.example.", "::1")) == {"192.0.2.1"}
    assert ecs_seen(up, "v6.ecs.example.") == [[("::", 56, 0)]]
    # RFC 7871 §7.1.2: SOURCE PREFIX-LENGTH 0 from the client: no address information added.
    assert addresses(ask(sk.port, "optout.ecs.example.", "127.0.1.5",
                         [dns.edns.ECSOption("0.0.0.0", 0)])) == {"192.0.2.1"}
    assert ecs_seen(up, "optout.ecs.example.") == [[]]


def test_an_answer_for_another_subnet_is_dropped(sekishod, scripted):
    """RFC 7871 §7.3: an answer whose ECS option names another FAMILY, SOURCE PREFIX-LENGTH or
    address than the query's is dropped (it would put one subnet's answer in another's cache
    entry): the client gets SERVFAIL, nothing is cached. A matching echo (any SCOPE) is used."""
    from upstreams import default_answer

    def handler(q, transport):
        r = default_answer(q, "192.0.2.1", 300)
        sent = [o for o in q.options if isinstance(o, dns.edns.ECSOption)]
        first = q.question[0].name.labels[0]
        if first == b"other":
            r.use_edns(0, options=[dns.edns.ECSOption("198.51.100.0", 24, 24)])
        elif first == b"wider":
            r.use_edns(0, options=[dns.edns.ECSOption("127.0.0.0", 16, 16)])
        elif sent:
            r.use_edns(0, options=[dns.edns.ECSOption(sent[0].address, sent[0].srclen, 20)])
        return r

    up = scripted(ttl=300)
    up.handler = handler
    sk = start(sekishod, up)
    for name in ("other.ecs.example.", "wider.ecs.example."):
        r = ask(sk.port, name, "127.0.1.5")
        assert r.rcode() == dns.rcode.SERVFAIL, r
        ede = [o for o in r.options if o.otype == 15]
        assert ede and "another client subnet" in (ede[0].text or ""), r
    assert addresses(ask(sk.port, "same.ecs.example.", "127.0.1.5")) == {"192.0.2.1"}
    # Cached: asked once although asked twice.
    assert addresses(ask(sk.port, "same.ecs.example.", "127.0.1.6")) == {"192.0.2.1"}
    assert len(ecs_seen(up, "same.ecs.example.")) == 1
