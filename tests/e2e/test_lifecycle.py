"""Process lifecycle (issue 2): READY=1 once sockets are bound (sd_notify), SIGTERM exits 0 promptly
and drains in-flight queries within server.drain_timeout_ms; startup failures are reported."""
import concurrent.futures
import re
import socket
import subprocess
import time

import dns.rcode
import pytest

from clients import addresses, make_query, query, query_tcp, query_udp
from netutil import hostport
from sekishod import STANDIN


def test_ready_means_sockets_are_bound(resolver):
    assert "READY=1" in resolver.notify_lines()
    assert resolver.ready_after < 10
    # no retry: every listener answers right after READY=1
    for host in ("127.0.0.1", "::1"):
        assert addresses(query_udp(host, resolver.port, "www.test.example.", timeout=2)) == {"192.0.2.1"}
        assert addresses(query_tcp(host, resolver.port, "www.test.example.", timeout=2)) == {"192.0.2.1"}


def test_logs_listening_lines(resolver):
    if STANDIN:
        pytest.skip("sekishod log format")
    log = resolver.stderr()
    for addr in (hostport("127.0.0.1", resolver.port), hostport("::1", resolver.port)):
        lines = [l for l in log.splitlines()
                 if re.search(r'\bmsg="?listening"?', l) and "address=%s" % addr in l]
        transports = " ".join(re.search(r"transport=(\S+)", l).group(1) for l in lines
                              if "transport=" in l)
        assert lines and "udp" in transports and "tcp" in transports, \
            "no listening line(s) for udp and tcp on %s in:\n%s" % (addr, log[-2000:])
    assert all(re.match(r"^(debug|info|warning|error) \S+ ", l) for l in log.splitlines()
               if l and not l.startswith("===")), "log lines without a level prefix:\n%s" % log


def test_sigterm_exits_zero_promptly(resolver):
    query_udp("127.0.0.1", resolver.port, "www.test.example.")
    code, took = resolver.terminate(10)
    resolver.expect_exit = True
    assert code == 0, "exit code %s after SIGTERM" % code
    assert took < 1.5, "idle sekishod took %.2f s to exit after SIGTERM" % took


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sigterm_drains_inflight_query(sekishod, scripted, transport):
    up = scripted(delay=1.0)
    sk = sekishod([up.address], {"server": {"drain_timeout_ms": 3000},
                                 "forwarding": {"timeout_ms": 2500, "attempts": 1}})
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(query, transport, "127.0.0.1", sk.port, "drain.life.example.", "A", 5.0)
        deadline = time.monotonic() + 2
        while up.count("drain.life.example.") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert up.count("drain.life.example.") == 1, "query never reached the upstream"
        t0 = time.monotonic()
        sk.signal(15)
        sk.expect_exit = True
        r = fut.result(6)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == {"192.0.2.1"}, \
        "in-flight query not drained: %s" % r
    try:
        code = sk.proc.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - t0
    assert code == 0, "exit code %s after draining" % code
    assert took < 3.0, "exit %.2f s after SIGTERM; the in-flight answer needed ~1 s" % took


def test_sigterm_drain_is_bounded(sekishod, scripted):
    up = scripted("silent")
    sk = sekishod([up.address], {"server": {"drain_timeout_ms": 500},
                                 "forwarding": {"timeout_ms": 5000, "attempts": 1}})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(make_query("stuck.life.example.").to_wire(), ("127.0.0.1", sk.port))
        deadline = time.monotonic() + 2
        while up.count("stuck.life.example.") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        code, took = sk.terminate(10)
        sk.expect_exit = True
    finally:
        s.close()
    assert code is not None, "sekishod still running 10 s after SIGTERM (drain_timeout_ms 500)"
    assert took < 2.5, "exit took %.2f s with drain_timeout_ms 500" % took
    assert code == 0, "exit code %s" % code


def test_refuses_to_start_when_port_taken(sekishod, knot):
    """If a listen address cannot be bound, sekishod must exit non-zero without READY=1."""
    if STANDIN:
        pytest.skip("sekishod behaviour")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        sk = sekishod([knot.addresses[0]],
                      {"server": {"listen": {"dns": [hostport("127.0.0.1", port)]}}}, start=False)
        p = sk.run_to_exit(port)
        assert p.returncode != 0, "sekishod started although 127.0.0.1:%d was taken" % port
        assert "READY=1" not in sk.notify_lines()
        assert str(port) in p.stderr, "error does not name the address:\n%s" % p.stderr
    finally:
        holder.close()


def _port_free(host, port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def test_embedded_defaults_block_the_demo_names(tmp_path):
    """The README's run command: no --config, demo category data on 127.0.0.1:5353."""
    if STANDIN:
        pytest.skip("sekishod's embedded defaults")
    if not _port_free("127.0.0.1", 5353):
        pytest.skip("port 5353 is taken on this machine (the embedded defaults listen there)")
    import os
    from sekishod import SEKISHOD
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    env.pop("NOTIFY_SOCKET", None)
    err = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen([SEKISHOD], env=env, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while "msg=ready" not in (tmp_path / "stderr").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            time.sleep(0.05)
        from clients import ede_codes, ede_texts, rcode_text
        gambling = query_udp("127.0.0.1", 5353, "poker.casino.example.", timeout=2)
        assert addresses(gambling) == {"127.0.0.1"}
        assert ede_codes(gambling) == [17]
        assert any("gambling" in t for t in ede_texts(gambling))
        malware = query_tcp("127.0.0.1", 5353, "malware.example.", "AAAA", timeout=2)
        assert addresses(malware, "AAAA") == {"::1"}
        assert ede_codes(malware) == [15]
        assert (tmp_path / "demo-categories").is_dir()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
