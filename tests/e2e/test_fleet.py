"""The fleet (issue 20, items 1 and 2): three real sekishod nodes on 127.0.0.11–13 share their
tenants through a real PostgreSQL 15 (postgres.py) with `sekisho fleet init | import-yaml |
export-yaml | status`. A policy change and a new device through node A's admin API are answered
by B and C within 1 s (the nodes' own commit-to-applied figure, and what a client sees); a stale
ETag gets 412. With PostgreSQL stopped, all three keep answering under dnsperf with no lost
query, admin writes get 503 saying the node runs on its last snapshot, /metrics says so too, and
node B restarted meanwhile serves from its snapshot on disk; with PostgreSQL back the nodes
reconnect by themselves, writes work again and all converge on one generation."""
import os
import re
import subprocess
import threading
import time

import pytest

from clients import dnsperf, ede_codes, kdig, query_udp
from netutil import Listen, wait_until
from postgres import Postgres
from test_admin import Admin, make_token
from test_devices import make_cert

CLI = os.environ.get("SEKISHO_CLI") or os.path.join(
    os.environ.get("SEKISHO_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")), "admin", "sekisho")
NODES = {"a": "127.0.0.11", "b": "127.0.0.12", "c": "127.0.0.13"}
PUBLIC_NAME = "dns.test"
ACME_FILE = ('tenants:\n  - id: acme\n    name: "ACME"\n    networks: ["127.0.0.0/8"]\n    policy: office\n'
             '    max_devices: 5\npolicies:\n  office:\n    deny: [first-deny.test.example]\n')


def cli(*args, timeout=30):
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


class Api:
    """A node's admin API with the fleet operator's token (test_admin's client)."""

    def __init__(self, host, port, token):
        self.admin, self.token = Admin(port, host=host), token

    def call(self, method, path, body=None, headers=None):
        return self.admin.call(method, path, token=self.token, body=body, headers=headers)

    def metrics(self):
        status, text, _ = self.call("GET", "/metrics")
        assert status == 200, text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out


def blocked(node, name):
    """True when node answers `name` with a block (EDE 17 from the deny list)."""
    try:
        msg = query_udp(node.ip, node.ports["dns"], name, timeout=1.0)
    except Exception:  # noqa: BLE001 - a timeout is "not yet"
        return False
    return 17 in ede_codes(msg)


def resolves(node, name="www.test.example"):
    msg = query_udp(node.ip, node.ports["dns"], name, timeout=2.0)
    return msg.rcode() == 0 and not ede_codes(msg)


def doh_ok(node, token, cert):
    data, _ = kdig(node.ip, node.ports["doh"], "www.test.example", "A",
                   extra=["+https=/dns-query/%s" % token, "+tls-ca=%s" % cert, "+tls-hostname=%s" % PUBLIC_NAME])
    return bool(data and data.get("RCODE") == 0)


@pytest.fixture(scope="module")
def pg():
    p = Postgres().init()
    yield p
    p.cleanup()


@pytest.fixture
def fleet(sekishod, knot, pg, tmp_path):
    token, digest = make_token("operator", name="fleet-op")
    pwfile = tmp_path / "fleet.pw"
    pwfile.write_text(pg.password + "\n")
    pwfile.chmod(0o600)
    cert, key = make_cert(tmp_path, "server", PUBLIC_NAME,
                          "DNS:%s,%s" % (PUBLIC_NAME, ",".join("IP:" + ip for ip in NODES.values())))
    nodes = {}
    for name, ip in NODES.items():
        sk = sekishod([knot.addresses[0]], {
            "server": {"listen": {"dns": [Listen(ip, "dns")], "doh": [Listen(ip, "doh")]},
                       "tls": {"cert": str(cert), "key": str(key)}, "public_name": PUBLIC_NAME},
            "admin": {"listen": [Listen(ip, "admin")],
                      "tokens": [{"name": "fleet-op", "role": "operator", "sha256": digest}]},
            "fleet": {"conninfo": pg.conninfo(), "node": name, "password_file": str(pwfile),
                      "snapshot": str(tmp_path / ("snapshot-%s.json" % name)), "retry_max_ms": 1000},
        }, start=False, name="node-" + name)
        sk.ip = ip
        nodes[name] = sk
    a = nodes["a"]
    a.prepare()
    pg.reset()  # each test's fleet starts from an empty database
    # The fleet's first tenant, from a tenants.d file beside node A's configuration.
    (a.dir / "tenants.d").mkdir()
    (a.dir / "tenants.d" / "acme.yaml").write_text(ACME_FILE)
    code, out = cli("fleet", "init", "--config", a.config_path)
    assert code == 0, out
    code, out = cli("fleet", "init", "--config", a.config_path)
    assert code == 1 and "already initialised" in out, out
    code, out = cli("fleet", "import-yaml", "--config", a.config_path)
    assert code == 0 and "imported 1 tenants" in out, out
    # A's own tenants.d is not read once it is a fleet node: move it away to prove the tenant
    # comes from the database.
    (a.dir / "tenants.d" / "acme.yaml").rename(tmp_path / "acme.imported.yaml")
    for sk in nodes.values():
        sk.start(timeout=20)
        sk.api = Api(sk.ip, sk.ports["admin"], token)
    yield nodes, cert, token, tmp_path


def converge_seconds(nodes, check, timeout=5.0):
    """Seconds until check(node) holds on every node (polled every 10 ms), or None."""
    t0 = time.monotonic()
    pending = set(nodes)
    while pending and time.monotonic() - t0 < timeout:
        for n in list(pending):
            if check(nodes[n]):
                pending.discard(n)
        time.sleep(0.01)
    return None if pending else time.monotonic() - t0


def test_cli_export_status_and_secrets(fleet):
    nodes, _, _, tmp_path = fleet
    a = nodes["a"]
    out_dir = tmp_path / "exported"
    code, out = cli("fleet", "export-yaml", "--config", a.config_path, "--dir", out_dir)
    assert code == 0, out
    assert (out_dir / "acme.yaml").read_text() == ACME_FILE
    wait_until(lambda: len(re.findall(r"^node ", cli("fleet", "status", "--config", a.config_path)[1], re.M)) == 3,
               10, what="three nodes in fleet status")
    code, out = cli("fleet", "status", "--config", a.config_path)
    assert code == 0 and "schema version 1 (this program: 1)" in out and "1 tenants" in out, out
    for sk in nodes.values():
        assert "fleet-secret-pw" not in sk.stderr(), "the database password is in the log"
        assert resolves(sk) and blocked(sk, "first-deny.test.example"), sk.name


def test_changes_reach_every_node_and_dns_outlives_the_database(fleet, pg):
    nodes, cert, _, _ = fleet
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    others = {"b": b, "c": c}
    for sk in nodes.values():
        assert blocked(sk, "first-deny.test.example") and resolves(sk), sk.name

    # A policy change through A: ETag = the row version; B and C answer it within 1 s.
    status, policy, headers = a.api.call("GET", "/api/v1/tenants/acme/policy")
    assert status == 200, policy
    etag = headers["etag"]
    status, body, headers = a.api.call("PUT", "/api/v1/tenants/acme/policy",
                                       {"deny": ["first-deny.test.example", "second-deny.test.example"]},
                                       {"If-Match": etag})
    assert status == 200, body
    seen = converge_seconds(others, lambda n: blocked(n, "second-deny.test.example"))
    assert blocked(a, "second-deny.test.example")
    figures = {n: nodes[n].api.metrics() for n in others}
    for n, m in figures.items():
        assert m["sekisho_fleet_last_commit_to_apply_seconds"] < 1.0, (n, m)
    print("policy change: answered by B and C after %s s (client view); commit→applied %s; NOTIFY→applied %s" % (
        seen, {n: m["sekisho_fleet_last_commit_to_apply_seconds"] for n, m in figures.items()},
        {n: m["sekisho_fleet_last_apply_seconds"] for n, m in figures.items()}))
    assert seen is not None and seen < 1.0, "B and C answered the change after %s s" % seen
    # The ETag read before the change is stale now: 412, and nothing changes.
    status, body, _ = c.api.call("PUT", "/api/v1/tenants/acme/policy", {"deny": []}, {"If-Match": etag})
    assert status == 412, body
    assert blocked(b, "second-deny.test.example")

    # A new device through A: its DoH token is accepted by B and C within 1 s.
    status, body, _ = a.api.call("POST", "/api/v1/tenants/acme/devices", {"name": "laptop"})
    assert status in (200, 201), body
    token = body["token"]
    seen = converge_seconds(others, lambda n: doh_ok(n, token, cert))
    print("new device: accepted by B and C after %s s" % seen)
    assert seen is not None and seen < 1.0, "B and C accepted the device after %s s" % seen
    assert not doh_ok(b, "nosuchtoken0123456789", cert)

    # PostgreSQL stops while dnsperf loads all three nodes: not one query lost.
    results = {}

    def load(n):
        results[n] = dnsperf(nodes[n].ip, nodes[n].ports["dns"], [("www.test.example", "A")],
                             duration=4, rate=300, clients=2)
    threads = [threading.Thread(target=load, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    time.sleep(1.0)
    pg.stop()
    for t in threads:
        t.join(60)
    for n, r in results.items():
        assert r["sent"] and r["lost"] == 0 and r["completed"] == r["sent"], (n, r["output"][-1500:])
    print("dnsperf across the database stop: %s" % {n: (r["sent"], r["lost"]) for n, r in results.items()})
    for sk in nodes.values():
        wait_until(lambda: sk.api.metrics()["sekisho_fleet_running_on_last_snapshot"] == 1, 10,
                   what="%s on its last snapshot" % sk.name)
        assert "running on last snapshot" in sk.stderr(), sk.name
        assert resolves(sk) and blocked(sk, "second-deny.test.example"), sk.name
    status, body, _ = a.api.call("PUT", "/api/v1/tenants/acme/policy", {"deny": []})
    assert status == 503 and "running on its last snapshot" in body["error"], (status, body)
    status, body, _ = b.api.call("POST", "/api/v1/tenants/acme/devices", {"name": "phone"})
    assert status == 503, body

    # B restarts during the outage: it serves from its snapshot on disk.
    b.stop()
    b.start(timeout=30)
    assert resolves(b) and blocked(b, "second-deny.test.example") and doh_ok(b, token, cert)
    assert "running on last snapshot" in b.stderr().rsplit("=== start attempt", 1)[-1]

    # PostgreSQL is back: every node reconnects by itself, writes work, all converge.
    pg.restart_same_port()
    for sk in nodes.values():
        wait_until(lambda: sk.api.metrics()["sekisho_fleet_database_connected"] == 1, 15,
                   what="%s reconnected" % sk.name)
    status, policy, headers = b.api.call("GET", "/api/v1/tenants/acme/policy")
    status, body, _ = b.api.call("PUT", "/api/v1/tenants/acme/policy",
                                 {"deny": ["third-deny.test.example"]}, {"If-Match": headers["etag"]})
    assert status == 200, body
    seen = converge_seconds({"a": a, "c": c}, lambda n: blocked(n, "third-deny.test.example")
                            and not blocked(n, "second-deny.test.example"))
    assert seen is not None and seen < 1.0, "A and C answered B's change after %s s" % seen
    one_generation(nodes)

    # max_devices (5) counts the fleet's devices, whichever node registered them: the tenant's
    # document is one, and each write is made on the version its node read.
    for i, sk in enumerate([c, a, b, c]):
        status, body, _ = sk.api.call("POST", "/api/v1/tenants/acme/devices", {"name": "device-%d" % i})
        assert status == 201, (sk.name, body)
        one_generation(nodes)
    status, body, _ = a.api.call("POST", "/api/v1/tenants/acme/devices", {"name": "one-too-many"})
    assert status == 409 and "already has 5 devices, its max_devices limit (5)" in body["error"], (status, body)


def one_generation(nodes):
    gens = wait_until(lambda: (lambda g: g if len(set(g)) == 1 else None)(
        [sk.api.metrics()["sekisho_fleet_generation"] for sk in nodes.values()]), 5, what="one generation")
    assert gens, [sk.api.metrics()["sekisho_fleet_generation"] for sk in nodes.values()]
