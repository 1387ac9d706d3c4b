"""Device revocation reaches DoT connections that are already open (README "Devices and profiles",
"Encrypted DNS"): a DoT client names its device by the TLS server name {token}.{public_name}, once,
in the handshake; the connection then lives on across reloads. After `sekisho device revoke` and
SIGHUP, the next query on that same connection must be REFUSED with EDE 18, like a new connection
with the token, while another device's open connection keeps its tenant's policy, and a token
added back is honoured again on the connection that still carries it.

A real sekishod (DoT with a test CA's certificate), the real CLI writing tenants.d/acme.yaml, a
scripted upstream that records every query, and Python's ssl doing RFC 7858 framing. Both
connections come from 127.0.0.1, which is tenant beta's network (beta blocks nothing): an answer
with acme's deny-list EDE proves the device named the tenant.
"""
import signal
import struct
import subprocess

import pytest

from clients import make_query
from netutil import Listen
from policy_fixtures import CLI, edes, rcode
from sekishod import to_yaml
from tls_fixtures import PUBLIC_NAME, dot_connect, make_pki, read_dns

TARO, HANA = "taro0000revoked", "hana0000kept"
BLOCKED = "blocked.example."
ACME_EDE = (17, "list=deny rule=blocked.example tenant=acme")
REFUSED_EDE = (18, "unknown device token in the TLS server name")


def cli(*args):
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, "sekisho %s -> %d\n%s%s" % (" ".join(map(str, args)), p.returncode, p.stdout,
                                                         p.stderr)
    return p


@pytest.fixture
def dot(sekishod, scripted, tmp_path):
    pki = make_pki(tmp_path / "pki")
    up = scripted()
    sk = sekishod([up.address], {
        "server": {
            "listen": {"dot": [Listen("127.0.0.1", "dot")]},
            "tls": {"cert": str(pki["cert"]), "key": str(pki["key"])},
            "public_name": PUBLIC_NAME,
            "tcp": {"idle_timeout_ms": 60000},
        },
        "tenants": [{"id": "beta", "name": "Beta", "networks": ["127.0.0.1/32"], "policy": "lenient"}],
        "policies": {
            "office": {"deny": ["blocked.example"], "action": "nxdomain"},
            "lenient": {"deny": ["nothing-blocked.example"], "action": "nxdomain"},
        },
    }, start=False)
    # acme lives in its own tenants.d file, the one `sekisho device` manages.
    (sk.dir / "tenants.d").mkdir()
    (sk.dir / "tenants.d" / "acme.yaml").write_text(to_yaml({"tenants": [{
        "id": "acme", "name": "ACME", "networks": ["127.0.0.2/32"], "policy": "office",
        "devices": [{"name": "taro-iphone", "token": TARO}, {"name": "hana-ipad", "token": HANA}],
    }]}) + "\n")
    sk.start()
    sk.dot_port, sk.pki, sk.upstream = sk.ports["dot"], pki, up
    return sk


def ask(s, name):
    q = make_query(name, "A")
    w = q.to_wire()
    s.sendall(struct.pack("!H", len(w)) + w)
    r = read_dns(s)
    assert r.id == q.id, (q.id, r.id)
    return r


def reload(sk):
    n = len(sk.notify_lines())
    sk.signal(signal.SIGHUP)
    assert sk.wait_notify("STATUS=configuration reloaded", 10, after=n), \
        "no reload: %r\n%s" % (sk.notify_lines()[n:], sk.stderr()[-3000:])


def assert_acme(s, tag):
    r = ask(s, BLOCKED)
    assert rcode(r) == "NXDOMAIN" and edes(r) == [ACME_EDE], "%s: acme's policy expected:\n%s" % (tag, r)
    r = ask(s, "fine.example.")
    assert rcode(r) == "NOERROR" and r.answer, "%s:\n%s" % (tag, r)


def assert_refused(s, tag):
    for name in ("fine.example.", BLOCKED):
        r = ask(s, name)
        assert rcode(r) == "REFUSED" and edes(r) == [REFUSED_EDE], "%s: REFUSED + EDE 18 expected:\n%s" % (tag, r)


def test_revoked_device_is_refused_on_its_open_dot_connection(dot):
    sk = dot
    taro = dot_connect(sk.pki, sk.dot_port, sni="%s.%s" % (TARO, PUBLIC_NAME))
    hana = dot_connect(sk.pki, sk.dot_port, sni="%s.%s" % (HANA, PUBLIC_NAME))
    try:
        assert_acme(taro, "taro before the revocation")
        assert_acme(hana, "hana before the revocation")

        cli("device", "revoke", "--config", sk.config_path, "--tenant", "acme", "--device", "taro-iphone")
        assert TARO not in (sk.dir / "tenants.d" / "acme.yaml").read_text()
        reload(sk)

        # The same TLS connection, opened and identified before the reload.
        upstream_before = sk.upstream.count()
        assert_refused(taro, "taro's open connection after the revocation")
        assert sk.upstream.count() == upstream_before, "a revoked device's query was forwarded"
        # A new connection with the revoked token: the same answer.
        fresh = dot_connect(sk.pki, sk.dot_port, sni="%s.%s" % (TARO, PUBLIC_NAME))
        try:
            assert_refused(fresh, "a new connection with the revoked token")
        finally:
            fresh.close()
        # The device that was not revoked keeps its tenant on its open connection.
        assert_acme(hana, "hana's open connection after the reload")

        # The token given back (same token, a new device entry): honoured on the open
        # connection that still carries it, from the next reload on.
        cli("device", "add", "--config", sk.config_path, "--tenant", "acme", "--device", "taro-laptop",
            "--token", TARO)
        assert_refused(taro, "taro before the reload that adds the token back")
        reload(sk)
        assert_acme(taro, "taro's open connection after the token was added back")
        assert_acme(hana, "hana after the second reload")
    finally:
        taro.close()
        hana.close()
