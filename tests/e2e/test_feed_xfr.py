"""RPZ feeds by zone transfer (issue 18): a real knotd primary serves an RPZ zone with TSIG; the real
sekisho-feed transfers it into the category store that a running sekishod reads.

- initial AXFR → the zone's names are blocked by sekishod (kdig and dnspython against it)
- a change with `knotc zone-begin/zone-set/zone-unset/zone-commit` → knotd's NOTIFY → applied by
  IXFR: the feed's status says ixfr, only the two changed keys, its own measured time < 2 s; an
  untouched name stays blocked, the removed one resolves again
- kill -9 of the feed while its write transaction is open (all pages written, not committed) keeps
  the previous serial and data; the restarted feed catches up by IXFR
- a transfer cut off half way (the connection closed after 150 KB) writes nothing; kill -9 of the
  feed after the first message of a 20,000-name transfer keeps the previous serial and data
- a wrong TSIG secret (BADSIG) and an unknown key name (BADKEY) are refused with a clear error and
  write nothing; NOTIFYs from another address or unsigned ones are refused
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from metrics_scrape import scrape
from netutil import Listen, wait_until
from policy_fixtures import CLI, ask, edes, kdig_from, rdatas, rcode
from sekishod import Sekishod
from upstreams import KnotUpstream

BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or pathlib.Path(__file__).resolve().parents[2] / "build")
FEED = os.environ.get("SEKISHO_FEED") or str(BUILD / "feed" / "sekisho-feed")
KNOTC = "/usr/sbin/knotc"

SECRET = "c2VraXNobyBmZWVkIHRlc3Qga2V5IG9mIDMyIGJ5dGVzIQ=="  # base64 of 32 bytes
WRONG_SECRET = "d3JvbmcgZmVlZCB0ZXN0IGtleSBvZiAzMiBieXRlcyEhIQ=="
ZONE = "rpz.example"
CLIENT = "127.0.0.2"

RPZ = """$ORIGIN rpz.example.
$TTL 60
@ SOA ns.rpz.example. admin.rpz.example. 1 3600 600 86400 60
@ NS localhost.
www.test.example CNAME .
long.test.example CNAME .
*.chain1.test.example CNAME rpz-drop.
txt.test.example CNAME rpz-passthru.
local.test.example A 192.0.2.99
"""


class RpzPrimary(KnotUpstream):
    """knotd serving the RPZ with a TSIG key: transfers only with the key, NOTIFY (signed) to the feed,
    a journal so that changes made with knotc are served as IXFR."""

    def __init__(self, workdir, notify_port):
        super().__init__(workdir, zones={ZONE: RPZ})
        self.notify_port = notify_port
        (self.dir / "db").mkdir(exist_ok=True)  # the journal (IXFR) lives in the database storage

    def _config(self):
        text = super()._config()
        text = text.replace("    journal-content: none", "    journal-content: changes")
        text = text.replace("  - domain: %s\n" % ZONE, "  - domain: %s\n    acl: xfr\n    notify: feed\n" % ZONE)
        extra = ("key:\n  - id: feed-key\n    algorithm: hmac-sha256\n    secret: %s\n"
                 "remote:\n  - id: feed\n    address: 127.0.0.1@%d\n    key: feed-key\n"
                 "acl:\n  - id: xfr\n    key: feed-key\n    action: transfer\n") % (SECRET, self.notify_port)
        return text.replace("template:\n", extra + "template:\n", 1)

    def knotc(self, *args):
        p = subprocess.run([KNOTC, "-s", str(self.dir / "knot.sock"), *args], capture_output=True, text=True,
                           timeout=20)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout

    def change(self, sets=(), unsets=()):
        self.knotc("zone-begin", ZONE)
        for owner, rtype, rdata in sets:
            self.knotc("zone-set", ZONE, owner, "60", rtype, rdata)
        for owner, rtype in unsets:
            self.knotc("zone-unset", ZONE, owner, rtype)
        self.knotc("zone-commit", ZONE)


def overrides(tmp, primary_port, secret_file, key_name="feed-key"):
    return {
        "category_db": str(tmp / "store"),
        "blockpage": {"ipv4": "192.0.2.10", "ttl": 60},
        "tenants": [{"id": "acme", "networks": ["127.0.0.0/8"], "policy": "office"}],
        "policies": {"office": {"block": ["malware"], "action": "blockpage"}},
        "feeds": [{
            "name": "threat-rpz", "kind": "rpz-xfr", "primary": "127.0.0.1:%d" % primary_port, "zone": ZONE,
            "tsig": {"name": key_name, "algorithm": "hmac-sha256", "secret_file": str(secret_file)},
            "categories": ["malware"], "timeout_ms": 3000,
        }],
        "feed_service": {"notify_listen": [Listen("127.0.0.1", "notify")], "state_directory": str(tmp / "feed-state")},
    }


def status(tmp):
    path = tmp / "feed-state" / "threat-rpz.json"
    return json.loads(path.read_text()) if path.exists() else None


def blocked(port, name):
    r = ask(port, name, source=CLIENT)
    return rdatas(r, "A") == {"192.0.2.10"} and any("category=malware" in t for _, t in edes(r))


@pytest.fixture
def setup(tmp_path, knot):
    secret = tmp_path / "feed-key.secret"
    secret.write_text(SECRET + "\n")
    feed = Sekishod(tmp_path / "feed", [knot.address], binary=FEED, name="feed")
    started = [feed]
    primary = None
    try:
        # The feed's NOTIFY port is picked first: the primary's config names it.
        feed.overrides = overrides(tmp_path, 0, secret)
        feed.prepare()
        primary = RpzPrimary(tmp_path / "primary", feed.ports["notify"])
        primary.start()
        feed.overrides = overrides(tmp_path, primary.port, secret)
        feed.prepare(keep=feed.ports)
        yield tmp_path, knot, primary, feed, started, secret
    finally:
        for s in started:
            s.stop()
            # pytest shows this only when the test failed.
            print("----- %s (last 4000 chars) -----\n%s" % (s.stderr_path, s.stderr()[-4000:]))
        if primary is not None:
            primary.stop()
            print("----- knotd log -----\n%s" % primary.log_path.read_text(errors="replace")[-4000:])


def start_feed(feed):
    """(Re)start the feed process; READY=1 of an earlier run must not count."""
    feed.stop()
    with feed._notify_lock:
        feed.notifications.clear()
    feed.start()
    return feed


def test_axfr_then_notify_ixfr_then_kill_mid_write(setup, monkeypatch):
    tmp, knot, primary, feed, started, _ = setup
    start_feed(feed)
    assert wait_until(lambda: (status(tmp) or {}).get("serial") == 1, 15, what="the initial AXFR")
    st = status(tmp)
    assert st["last_result"] == "axfr" and st["last_error"] == "", st
    assert st["entries"] == 4, st  # www, long, chain1 (subtree), txt (passthru); the A record refused
    assert st["refused_records"] == 1 and "local-data A" in st["first_refusal"], st

    # sekishod reads the same store, and the feeds' status files for /metrics.
    sk_overrides = dict(feed.overrides, feed_service={"state_directory": str(tmp / "feed-state")},
                        admin={"metrics_listen": [Listen("127.0.0.1", "metrics")]})
    sk = Sekishod(tmp / "sekishod", [knot.address], overrides=sk_overrides)
    started.append(sk)
    sk.start()
    # Blocked by the feed's entries (kdig and dnspython), an allow entry and an unlisted name resolve.
    data, p = kdig_from(CLIENT, sk.port, "www.test.example", "A")
    assert data is not None, p.stdout + p.stderr
    answers = [a.get("rdataA") for a in data.get("answerRRs", [])]
    assert answers == ["192.0.2.10"], p.stdout
    assert blocked(sk.port, "www.test.example.")
    assert blocked(sk.port, "long.test.example.")
    assert blocked(sk.port, "chain2.chain1.test.example.")  # *.chain1: a subtree
    assert not blocked(sk.port, "txt.test.example.")        # rpz-passthru
    assert rdatas(ask(sk.port, "short5.test.example.", source=CLIENT), "A") == {"192.0.2.5"}

    gen_before = db_generation(tmp)
    # The primary changes: www's record goes, short5 comes. knotd NOTIFYs the feed at once.
    primary.change(sets=[("short5.test.example", "CNAME", ".")], unsets=[("www.test.example", "CNAME")])
    assert wait_until(lambda: (status(tmp) or {}).get("serial") == 2, 10, what="the NOTIFY-triggered IXFR")
    st = status(tmp)
    assert st["last_result"] == "ixfr", st
    assert st["last_transfer"].startswith("ixfr 1 -> 2: 1 diffs, 2 records, 2 keys changed"), st
    assert st["last_trigger"] == "notify", st
    # Within 2 s of the NOTIFY, as the feed measured it (from the trigger to the commit).
    assert st["last_duration_ms"] < 2000, st
    assert st["entries"] == 4, st
    assert db_generation(tmp) == gen_before + 1  # one write transaction for the one serial
    assert blocked(sk.port, "short5.test.example.")
    assert blocked(sk.port, "long.test.example.")  # untouched
    assert not blocked(sk.port, "www.test.example.")
    assert rdatas(ask(sk.port, "www.test.example.", source=CLIENT), "A") == {"192.0.2.1"}
    assert "result=ixfr" in feed.stderr() and "trigger=notify" in feed.stderr()
    series = scrape(sk.ports["metrics"])
    assert series[("sekisho_feed_serial", 'feed="threat-rpz"')] == 2, series
    assert series[("sekisho_feed_entries", 'feed="threat-rpz"')] == 4, series
    assert series[("sekisho_feed_last_success_timestamp_seconds", 'feed="threat-rpz"')] >= st["last_success"] > 0
    assert series[("sekisho_feed_failures_total", 'feed="threat-rpz"')] == 0, series

    # kill -9 while the next serial's write transaction is open: the store keeps serial 2.
    feed.stop()
    primary.change(sets=[("long2.test.example", "CNAME", ".")], unsets=[("long.test.example", "CNAME")])
    monkeypatch.setenv("SEKISHO_PAUSE_BEFORE_COMMIT_FOR_TEST", "60")
    start_feed(feed)
    monkeypatch.delenv("SEKISHO_PAUSE_BEFORE_COMMIT_FOR_TEST")
    assert wait_until(lambda: "pausing before commit" in feed.stderr(), 15, what="the feed's write transaction")
    os.kill(feed.proc.pid, signal.SIGKILL)
    feed.proc.wait(5)
    assert "serial 2" in db_stats(tmp), db_stats(tmp)
    assert blocked(sk.port, "long.test.example.")
    assert not blocked(sk.port, "long2.test.example.")
    # Restarted, it catches up from serial 2 by IXFR.
    start_feed(feed)
    assert wait_until(lambda: (status(tmp) or {}).get("serial") == 3, 15, what="the catch-up IXFR")
    assert status(tmp)["last_result"] == "ixfr", status(tmp)
    assert blocked(sk.port, "long2.test.example.")
    assert not blocked(sk.port, "long.test.example.")

    # `sekisho feed status` says the same, and exits 0 for a healthy feed.
    p = subprocess.run([CLI, "feed", "status", "--config", str(feed.config_path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "serial:        3" in p.stdout and "last error:    -" in p.stdout, p.stdout


def db_stats(tmp):
    p = subprocess.run([CLI, "db", "--db", str(tmp / "store"), "stats"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def db_generation(tmp):
    for line in db_stats(tmp).splitlines():
        if line.startswith("generation:"):
            return int(line.split()[1])
    raise AssertionError(db_stats(tmp))


@pytest.mark.parametrize("key_name,secret,says", [
    ("feed-key", WRONG_SECRET, "BADSIG"),
    ("other-key", SECRET, "BADKEY"),
])
def test_wrong_tsig_key_is_refused_clearly(setup, key_name, secret, says):
    tmp, knot, primary, feed, started, secret_file = setup
    secret_file.write_text(secret + "\n")
    feed.overrides["feeds"][0]["tsig"]["name"] = key_name
    feed.prepare(keep=feed.ports)
    p = subprocess.run([FEED, "--config", str(feed.config_path), "--once"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "refused our TSIG key" in p.stderr and says in p.stderr, p.stderr
    st = status(tmp)
    assert st["last_result"] == "failed" and says in st["last_error"], st
    assert st["serial"] is None and st["entries"] == 0, st
    assert "threat-rpz" not in db_stats(tmp)
    c = subprocess.run([CLI, "feed", "status", "--config", str(feed.config_path)], capture_output=True, text=True,
                       timeout=30)
    assert c.returncode == 1 and says in c.stdout, c.stdout + c.stderr


def notify(port, source, key=None, verify=False):
    """A NOTIFY for the zone from `source`; the answer, its TSIG verified when `verify`."""
    keyring = dns.tsigkeyring.from_text({"feed-key.": key}) if key else None
    q = dns.message.make_query(ZONE + ".", dns.rdatatype.SOA)
    q.set_opcode(dns.opcode.NOTIFY)
    if key:
        q.use_tsig(keyring, keyname="feed-key.", algorithm=dns.tsig.HMAC_SHA256)
    wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(3)
        s.bind((source, 0))
        s.sendto(wire, ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
    finally:
        s.close()
    if verify:
        return dns.message.from_wire(data, keyring=keyring, request_mac=q.mac)
    return dns.message.from_wire(data)


def test_notify_only_from_the_primary_with_its_key(setup):
    tmp, knot, primary, feed, started, _ = setup
    start_feed(feed)
    assert wait_until(lambda: (status(tmp) or {}).get("serial") == 1, 15, what="the initial AXFR")
    port = feed.ports["notify"]
    assert dns.rcode.to_text(notify(port, "127.0.0.3", SECRET).rcode()) == "REFUSED"  # not the primary's address
    assert dns.rcode.to_text(notify(port, "127.0.0.1").rcode()) == "NOTAUTH"          # unsigned
    r = notify(port, "127.0.0.1", SECRET, verify=True)                                   # signed: answered, signed
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and r.had_tsig
    assert wait_until(lambda: "not the feed's primary" in feed.stderr() and "not signed" in feed.stderr(), 5,
               what="the refusals in the log")


def test_ixfr_deleting_most_names_is_refused_then_applied_with_allow_shrink(setup):
    """The update guard in the feed: an IXFR that would remove 3 of the source's 4 entries (more than
    the default half) is refused before its serial is written; the feed's limits.allow_shrink lets it
    through."""
    tmp, knot, primary, feed, started, _ = setup
    once = lambda: subprocess.run([FEED, "--config", str(feed.config_path), "--once"], capture_output=True,
                                  text=True, timeout=60)
    p = once()
    assert p.returncode == 0, p.stdout + p.stderr
    assert status(tmp)["serial"] == 1 and status(tmp)["entries"] == 4, status(tmp)
    gen = db_generation(tmp)
    primary.change(unsets=[("www.test.example", "CNAME"), ("long.test.example", "CNAME"),
                           ("*.chain1.test.example", "CNAME")])
    p = once()
    assert p.returncode == 1, p.stdout + p.stderr
    st = status(tmp)
    assert st["last_result"] == "refused" and st["serial"] == 1 and st["entries"] == 4, st
    assert st["last_refusal"].startswith("shrink: IXFR to serial 2: the update would remove 3 of the source's 4 "
                                         "entries (75.0%), more than the 50% allowed"), st
    assert st["refusals_total"] == 1 and st["failures_total"] == 1, st
    assert "serial 1" in db_stats(tmp) and db_generation(tmp) == gen
    look = subprocess.run([CLI, "db", "--db", str(tmp / "store"), "lookup", "www.test.example"], capture_output=True,
                          text=True, timeout=30)
    assert "verdict: listed" in look.stdout, look.stdout
    c = subprocess.run([CLI, "feed", "status", "--config", str(feed.config_path)], capture_output=True, text=True,
                       timeout=30)
    assert c.returncode == 1 and "last refusal:  shrink: IXFR to serial 2" in c.stdout, c.stdout

    feed.overrides["feeds"][0]["limits"] = {"allow_shrink": True}
    feed.prepare(keep=feed.ports)
    p = once()
    assert p.returncode == 0, p.stdout + p.stderr
    st = status(tmp)
    assert st["last_result"] == "ixfr" and st["serial"] == 2 and st["entries"] == 1, st
    look = subprocess.run([CLI, "db", "--db", str(tmp / "store"), "lookup", "www.test.example"], capture_output=True,
                          text=True, timeout=30)
    assert "verdict: not listed" in look.stdout, look.stdout


def big_rpz(serial, names, prefix):
    """The test RPZ at `serial` with `names` more policy names: a transfer of many messages."""
    head = RPZ.replace(" 1 3600 600 86400 60", " %d 3600 600 86400 60" % serial)
    return head + "".join("%s%d.bulk.example CNAME .\n" % (prefix, i) for i in range(names))


class CuttingProxy:
    """Forwards one TCP connection to the primary and cuts it once `limit` bytes of the answer have
    passed: a transfer cut off half way, as a broken link or a restarted primary would."""

    def __init__(self, target_port, limit):
        self.target_port, self.limit, self.passed = target_port, limit, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        client, _ = self.sock.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        client.settimeout(10)
        try:
            query = client.recv(65535)  # the AXFR/IXFR query: one small TCP message
            upstream.sendall(query)
            while self.passed < self.limit:
                data = upstream.recv(min(65536, self.limit - self.passed))
                if not data:
                    break
                client.sendall(data)
                self.passed += len(data)
        finally:
            client.close()
            upstream.close()
            self.sock.close()


def lookup(tmp, name):
    p = subprocess.run([CLI, "db", "--db", str(tmp / "store"), "lookup", name], capture_output=True, text=True,
                       timeout=30)
    return p.stdout


def run_feed_once(feed, env=None):
    return subprocess.Popen([FEED, "--config", str(feed.config_path), "--once"], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def test_transfer_cut_off_or_killed_half_way_writes_nothing(setup):
    tmp, knot, primary, feed, started, _ = setup
    # Serial 2 below replaces every bulk name: the feed's limits.allow_shrink lets the guard pass it
    # (the guard's own cases are above).
    feed.overrides["feeds"][0]["limits"] = {"allow_shrink": True}
    (primary.zone_dir / (ZONE + ".zone")).write_text(big_rpz(1, 20000, "one"))
    primary.knotc("zone-reload", ZONE)
    # The first zone has serial 1 too: wait for the last bulk name, not the SOA (the race made
    # the cut-off transfer below a whole transfer of the small zone).
    assert wait_until(lambda: subprocess.run(
        ["kdig", "@127.0.0.1", "-p", str(primary.port), "one19999.bulk.example.%s." % ZONE, "CNAME", "+short"],
        capture_output=True, text=True).stdout.strip() == ".", 10, what="the big zone served")

    # An AXFR whose connection is cut after 150 KB of the ~500 KB answer: an error, nothing written.
    proxy = CuttingProxy(primary.port, 150000)
    feed.overrides["feeds"][0]["primary"] = "127.0.0.1:%d" % proxy.port
    feed.prepare(keep=feed.ports)
    p = subprocess.run([FEED, "--config", str(feed.config_path), "--once"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert proxy.passed >= 150000, proxy.passed
    assert "closed the connection before the transfer ended" in p.stderr, p.stderr
    assert "threat-rpz" not in db_stats(tmp)
    assert "entry:" not in lookup(tmp, "one5.bulk.example")

    # Whole, through the primary itself: serial 1.
    feed.overrides["feeds"][0]["primary"] = "127.0.0.1:%d" % primary.port
    feed.prepare(keep=feed.ports)
    p = subprocess.run([FEED, "--config", str(feed.config_path), "--once"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert status(tmp)["serial"] == 1 and status(tmp)["entries"] == 20004, status(tmp)
    assert "entry:" in lookup(tmp, "one5.bulk.example")

    # Serial 2 replaces every bulk name: a transfer of many messages again. kill -9 after its
    # first message: serial 1 and its data stay.
    (primary.zone_dir / (ZONE + ".zone")).write_text(big_rpz(2, 20000, "two"))
    primary.knotc("zone-reload", ZONE)
    assert wait_until(lambda: " 2 3600 " in subprocess.run(
        ["kdig", "@127.0.0.1", "-p", str(primary.port), ZONE, "SOA", "+short"], capture_output=True,
        text=True).stdout, 10, what="serial 2 served")
    proc = run_feed_once(feed, {"SEKISHO_PAUSE_MID_TRANSFER_FOR_TEST": "60"})
    try:
        line = proc.stderr.readline()
        while line and "pausing mid-transfer" not in line:
            line = proc.stderr.readline()
        assert "pausing mid-transfer" in line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "serial 1" in db_stats(tmp), db_stats(tmp)
    assert "entry:" in lookup(tmp, "one5.bulk.example")
    assert "entry:" not in lookup(tmp, "two5.bulk.example")
    # Restarted, it completes: serial 2, the old bulk names gone.
    p = subprocess.run([FEED, "--config", str(feed.config_path), "--once"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert status(tmp)["serial"] == 2 and status(tmp)["entries"] == 20004, status(tmp)
    assert "entry:" in lookup(tmp, "two5.bulk.example")
    assert "entry:" not in lookup(tmp, "one5.bulk.example")
