"""sekisho-intercept's origin lookups (issue 17): the host of an allowed URL is resolved through
the configured upstreams with the project's upstream client, on the intercept's own event loop.

- a UDP answer with TC=1 is asked again over TCP on the same upstream, with EDNS;
- an upstream that does not answer within forwarding.timeout_ms fails over to the next one;
- every upstream silent: a 502 saying no answer came, after the configured attempts;
- lookups in progress (more than libuv's thread pool has threads) hold up no other client: a
  request for another host is served while they wait.

Only sekisho-intercept runs (no sekishod): its own category store lists URL entries for
videos.example and slow1..6.example, so these hosts are inspected for tenant acme (127.0.0.0/24)
and their allowed URLs forwarded; the HTTPS origin is test_intercept.py's, and scripted upstreams
(tests/e2e/upstreams.py) answer videos.example with 127.0.0.1 (allow_private covers 127.0.0.0/8).
Every wait is bounded: curl --max-time, subprocess timeouts, wait_until.
"""
import subprocess
import time

import dns.message
import pytest

from netutil import Listen, wait_until
from policy_fixtures import CLI, make_store, policy_overrides, tenant
from sekishod import Sekishod
from test_intercept import CLIENT, INTERCEPT, ORIGIN, curl, make_origin_certs, run
from tls_fixtures import tenant_ca
from upstreams import ScriptedUpstream, default_answer

SLOW_HOSTS = ["slow%d.example" % i for i in range(1, 7)]  # more than libuv's 4 pool threads


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("origin-lookup")
    ut1 = tmp / "ut1" / "adult"
    ut1.mkdir(parents=True)
    (ut1 / "urls").write_text("".join("%s/adult\n" % h for h in ["videos.example"] + SLOW_HOSTS))
    store = make_store(tmp / "categories", ["casino.example,gambling"])
    p = run([CLI, "db", "--db", str(store), "import", "--source", "urls", "--format", "ut1", str(tmp / "ut1")])
    assert p.returncode == 0, p.stderr
    ca_dir, ca_pem = tenant_ca(tmp)
    origin_dir = tmp / "origin"
    make_origin_certs(origin_dir)
    origin = subprocess.Popen(["/usr/bin/python3", "-c", ORIGIN, str(origin_dir / "leaf.pem"),
                               str(origin_dir / "leaf.key")], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    origin_port = int(origin.stdout.readline())
    cfg = policy_overrides(store, [tenant("acme", ["127.0.0.0/24"], "office")],
                           {"office": {"block": ["adult"], "deep_inspection": True}},
                           blockpage={"ipv4": "127.0.0.1", "ttl": 60})
    cfg["intercept"] = {"ca_dir": str(ca_dir), "cert_cache_dir": str(tmp / "certs"),
                        "origin_https_port": origin_port, "origin_ca_file": str(origin_dir / "ca.pem"),
                        "allow_private": ["127.0.0.0/8"]}
    yield {"tmp": tmp, "cfg": cfg, "ca_pem": ca_pem}
    origin.kill()
    origin.wait(5)


def start_intercept(env, name, upstreams, forwarding, allow_private=None, **intercept):
    """allow_private: None keeps env's 127.0.0.0/8; `intercept` adds other intercept.* keys."""
    cfg = dict(env["cfg"], forwarding=forwarding)
    cfg["intercept"] = dict(cfg["intercept"], listen={"https": [Listen("127.0.0.1", "https")]}, **intercept)
    if allow_private is not None:
        cfg["intercept"]["allow_private"] = allow_private
    icpt = Sekishod(env["tmp"] / name, [u.address for u in upstreams], cfg, binary=INTERCEPT,
                    name="sekisho-intercept")
    icpt.start()
    return icpt, icpt.ports["https"]


def get(env, port, host, path):
    return curl("https://%s:%d%s" % (host, port, path), port, host, cacert=env["ca_pem"])


def test_truncated_udp_answer_is_asked_again_over_tcp(env):
    up = ScriptedUpstream(addr="127.0.0.1", behaviour="tc").start()
    icpt, port = start_intercept(env, "tc", [up], {"timeout_ms": 2000, "attempts": 1})
    try:
        status, body, p = get(env, port, "videos.example", "/news/tc")
        assert status == 200 and body == "origin saw /news/tc host=videos.example", (body, p.stderr)
        udp = up.queries("videos.example", "A", "udp")
        tcp = up.queries("videos.example", "A", "tcp")
        assert len(udp) == 1 and len(tcp) == 1, up.queries()
        # The same question both ways, with EDNS (the old client sent neither TCP nor EDNS).
        assert udp[0].edns == 0 and tcp[0].edns == 0 and udp[0].payload == 1232, up.queries()
        assert udp[0].msg.id == tcp[0].msg.id
    finally:
        icpt.stop()
        up.stop()


def test_silent_upstream_fails_over_to_the_next(env):
    silent = ScriptedUpstream(behaviour="silent").start()
    good = ScriptedUpstream(addr="127.0.0.1").start()
    # Round robin starts at the first upstream: A goes to the silent one, times out after 300 ms
    # and is asked of the second.
    icpt, port = start_intercept(env, "failover", [silent, good], {"timeout_ms": 300, "attempts": 2})
    try:
        t0 = time.monotonic()
        status, body, p = get(env, port, "videos.example", "/news/failover")
        elapsed = time.monotonic() - t0
        assert status == 200 and body == "origin saw /news/failover host=videos.example", (body, p.stderr)
        assert silent.count("videos.example", "A") == 1, silent.queries()
        assert good.count("videos.example", "A") == 1, good.queries()
        assert elapsed >= 0.3, elapsed  # the answer came only after the silent upstream's timeout
    finally:
        icpt.stop()
        silent.stop()
        good.stop()


def test_every_upstream_silent_gives_a_502_after_the_attempts(env):
    silent = ScriptedUpstream(behaviour="silent").start()
    icpt, port = start_intercept(env, "all-silent", [silent], {"timeout_ms": 300, "attempts": 2})
    try:
        status, body, _ = get(env, port, "videos.example", "/news/none")
        assert status == 502 and "no answer for videos.example" in body and "timeout after 300 ms" in body, body
        assert silent.count("videos.example", "A") == 2, silent.queries()  # both attempts, nothing more
    finally:
        icpt.stop()
        silent.stop()


def slow_or_local(q, transport):
    """slowN.example: never answered; any other name: 127.0.0.1 (AAAA: 2001:db8::1, refused)."""
    if q.question[0].name.to_text().startswith("slow"):
        return None
    return default_answer(q, "127.0.0.1", 60)


def test_lookups_in_progress_hold_up_no_other_client(env):
    up = ScriptedUpstream().start()
    up.handler = slow_or_local
    icpt, port = start_intercept(env, "concurrent", [up], {"timeout_ms": 6000, "attempts": 1})
    slow = []
    try:
        for h in SLOW_HOSTS:
            slow.append(subprocess.Popen(
                ["curl", "-sS", "--max-time", "20", "--interface", CLIENT, "--resolve", "%s:%d:127.0.0.1" % (h, port),
                 "--cacert", str(env["ca_pem"]), "-o", "-", "-w", "\n%{http_code}", "https://%s:%d/news/x" % (h, port)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        # Every slow lookup is in progress (its A question reached the upstream) ...
        assert wait_until(lambda: all(up.count(h, "A") == 1 for h in SLOW_HOSTS), 10), up.queries()
        # ... and another host is looked up and served meanwhile.
        t0 = time.monotonic()
        status, body, p = get(env, port, "videos.example", "/news/meanwhile")
        print("videos.example served in %.3f s while %d lookups waited" % (time.monotonic() - t0, len(SLOW_HOSTS)))
        assert status == 200 and body == "origin saw /news/meanwhile host=videos.example", (body, p.stderr)
        assert all(s.poll() is None for s in slow), "a slow lookup ended before the other client was served"
        for h, s in zip(SLOW_HOSTS, slow):
            out, err = s.communicate(timeout=30)
            body, _, code = out.decode().rpartition("\n")
            assert code == "502" and ("no answer for %s" % h) in body and "timeout after 6000 ms" in body, (h, out, err)
    finally:
        for s in slow:
            if s.poll() is None:
                s.kill()
                s.wait(5)
        icpt.stop()
        up.stop()
    assert not up.errors, up.errors
