"""sekisho-intercept's certificate minting under a random-subdomain flood (issue 19): before, one
client minted 574 leaves a second for random names under a blocked subtree, each kept on disk
for ever. Now:

- new leaves are minted for one client at intercept.limits.mints_per_second_per_client (after
  mint_burst_per_client at once); past that its handshakes for new names are refused (a TLS
  alert), counted in the status file sekishod's /metrics reads — while names it already has a
  leaf for still get their page, and another client still gets a new one;
- the disk cache holds at most cert_cache_disk_entries files, oldest deleted first;
- files left from before (expired leaves, a crash's temporary files) are deleted at start.

Real TLS handshakes from Python's ssl module (the client's source address chosen with bind),
curl for the pages. Every wait is bounded.
"""
import json
import os
import secrets
import socket
import ssl
import time

import pytest

from netutil import Listen, wait_until
from policy_fixtures import make_store, policy_overrides, tenant
from sekishod import Sekishod
from test_intercept import CLIENT, INTERCEPT, curl
from tls_fixtures import tenant_ca

OTHER_CLIENT = "127.0.0.6"  # the same tenant, another address
BURST, RATE, DISK = 6, 2, 10


@pytest.fixture(scope="module")
def env(tmp_path_factory, knot):
    tmp = tmp_path_factory.mktemp("mint-limits")
    store = make_store(tmp / "categories", ["casino.example,gambling"])
    ca_dir, ca_pem = tenant_ca(tmp)
    certs = tmp / "certs" / "acme"
    certs.mkdir(parents=True)
    # Left from before: an expired leaf (a file older than a leaf is usable) and a crash's
    # temporary file; and a file the minter does not own.
    (certs / "old.casino.example.pem").write_text("expired")
    week_ago = time.time() - 8 * 86400
    os.utime(certs / "old.casino.example.pem", (week_ago, week_ago))
    (certs / ".half.casino.example.pem.tmp-42-00000000000000ff").write_text("half")
    (certs / "NOTES").write_text("the operator's")
    cfg = policy_overrides(store, [tenant("acme", ["127.0.0.0/24"], "office")], {"office": {"block": ["gambling"]}},
                           blockpage={"ipv4": "127.0.0.1", "ttl": 60})
    cfg["intercept"] = {
        "listen": {"https": [Listen("127.0.0.1", "https")]},
        "ca_dir": str(ca_dir),
        "cert_cache_dir": str(tmp / "certs"),
        "status_directory": str(tmp / "status"),
        "limits": {"mints_per_second_per_client": RATE, "mint_burst_per_client": BURST,
                   "cert_cache_disk_entries": DISK, "status_interval_ms": 200},
    }
    icpt = Sekishod(tmp / "intercept", [knot.addresses[0]], cfg, binary=INTERCEPT, name="sekisho-intercept")
    icpt.start()
    yield {"tmp": tmp, "intercept": icpt, "port": icpt.ports["https"], "ca_pem": ca_pem, "certs": certs}
    code = icpt.proc.poll()
    icpt.stop()
    assert code is None, "sekisho-intercept died (code %s):\n%s" % (code, icpt.stderr()[-3000:])


def handshake(env, name, source=CLIENT):
    """True when a TLS handshake for `name` from `source` succeeds with the tenant CA trusted."""
    ctx = ssl.create_default_context(cafile=str(env["ca_pem"]))
    with socket.create_connection(("127.0.0.1", env["port"]), timeout=5, source_address=(source, 0)) as s:
        try:
            with ctx.wrap_socket(s, server_hostname=name):
                return True
        except ssl.SSLError:
            return False


def status(env):
    return json.loads((env["tmp"] / "status" / "intercept.json").read_text())


def test_leftovers_are_deleted_at_start(env):
    names = sorted(p.name for p in env["certs"].iterdir())
    assert "old.casino.example.pem" not in names and not any(".tmp-" in n for n in names), names
    assert "NOTES" in names


def test_random_subdomains_stop_minting_at_the_limit(env):
    t0 = time.monotonic()
    results = [handshake(env, "%s.casino.example" % secrets.token_hex(6)) for _ in range(40)]
    elapsed = time.monotonic() - t0
    ok = sum(results)
    allowed = BURST + RATE * elapsed
    print("%d of 40 random names got a leaf in %.2f s (burst %d, %d/s)" % (ok, elapsed, BURST, RATE))
    assert BURST <= ok <= allowed + 1, (ok, elapsed)
    assert results[:BURST] == [True] * BURST
    assert 40 - ok >= 10, "the flood was not held back"
    # The directory stays within its bound.
    pem = [p for p in env["certs"].iterdir() if p.name.endswith(".pem")]
    assert len(pem) <= DISK, len(pem)
    # Refusals are counted where sekishod reads them, and logged.
    assert wait_until(lambda: status(env)["counters"]["tls_refused_mint_rate"] >= 40 - ok, 5), status(env)
    st = status(env)["counters"]
    assert st["leaf_minted"] == ok and st["leaf_files"] == len(pem), st
    assert "over its certificate mint rate" in env["intercept"].stderr()


def test_cached_leaves_still_serve_and_another_client_still_gets_its_page(env):
    # Empty this client's bucket with new names...
    known = "known.casino.example"
    assert wait_until(lambda: handshake(env, known), 10)  # minted once the bucket allows one
    while handshake(env, "%s.casino.example" % secrets.token_hex(6)):
        pass
    # ... a name it has a leaf for is served, a new one is not ...
    assert handshake(env, known)
    assert not handshake(env, "%s.casino.example" % secrets.token_hex(6))
    # ... and another client gets a new leaf and its block page.
    fresh = "%s.casino.example" % secrets.token_hex(6)
    status_code, body, p = curl("https://%s:%d/" % (fresh, env["port"]), env["port"], fresh, source=OTHER_CLIENT,
                                cacert=env["ca_pem"])
    assert status_code == 403 and fresh in body, (status_code, p.stderr)
