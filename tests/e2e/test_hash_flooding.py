"""Hash flooding (issue 19): the answer cache's hash is keyed per process (base/keyed_hash.h), so
a client cannot compute names that fall into the set of a name it wants evicted.

The attack is computed here exactly as a client could have computed it against the old fixed hash
(FNV-1a + splitmix64 of the cache key, set = low 32 bits × sets >> 32): with an 8-way set, eight
such names evicted the victim every time. With the keyed hash the same names spread over all
sets and the victim stays cached."""
import struct

from clients import addresses, query_udp

MAX_ENTRIES = 1024  # 128 sets of 8 ways (resolver/cache/cache.cc)
WAYS = 8
SETS = MAX_ENTRIES // WAYS
MASK = (1 << 64) - 1


def old_hash(key):
    """The unkeyed hash the cache used (resolver/cache/cache_key.h before the fix)."""
    h = 1469598103934665603
    for b in key:
        h = ((h ^ b) * 1099511628211) & MASK
    h ^= h >> 30
    h = (h * 0xbf58476d1ce4e5b9) & MASK
    h ^= h >> 27
    h = (h * 0x94d049bb133111eb) & MASK
    h ^= h >> 31
    return h


def cache_key(name, qtype=1, qclass=1):
    """Lowercased qname wire + qtype + qclass + the DO/CD byte (0: neither)."""
    wire = b"".join(bytes([len(label)]) + label.lower().encode() for label in name.rstrip(".").split("."))
    return wire + b"\0" + struct.pack("!HHB", qtype, qclass, 0)


def set_of(name):
    return ((old_hash(cache_key(name)) & 0xffffffff) * SETS) >> 32


def colliding_names(victim, count):
    target, out, i = set_of(victim), [], 0
    while len(out) < count:
        name = "n%d.flood.example." % i
        if set_of(name) == target:
            out.append(name)
        i += 1
    return out


def test_names_computed_to_share_a_set_do_not_evict_a_cached_name(sekishod, scripted):
    up = scripted(ttl=300)
    sk = sekishod([up.address], {"cache": {"max_entries": MAX_ENTRIES}})
    victim = "victim.flood.example."
    assert addresses(query_udp("127.0.0.1", sk.port, victim)) == {"192.0.2.1"}
    attack = colliding_names(victim, 3 * WAYS)
    for name in attack:
        assert addresses(query_udp("127.0.0.1", sk.port, name)) == {"192.0.2.1"}
        assert up.count(name) == 1
    assert addresses(query_udp("127.0.0.1", sk.port, victim)) == {"192.0.2.1"}
    assert up.count(victim) == 1, (
        "%d names a client computed to share the victim's cache set evicted it: the cache's hash "
        "is predictable" % len(attack))
    assert sk.alive()
