"""Process lifecycle (issue 2): READY=1 once sockets are bound (sd_notify), SIGTERM exits 0 promptly
and drains in-flight queries within server.drain_timeout_ms; startup failures are reported."""
import concurrent.futures
import pathlib
import re
import shutil
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


def test_sigterm_exits_zero_promptly(sekishod, knot):
    # A drain timeout far above the bound: an idle sekishod that waited for it anyway fails, and a
    # loaded 2-core machine does not stretch an idle exit to 4 s.
    sk = sekishod([knot.addresses[0]], {"server": {"drain_timeout_ms": 10000}})
    query_udp("127.0.0.1", sk.port, "www.test.example.")
    code, took = sk.terminate(15)
    sk.expect_exit = True
    assert code == 0, "exit code %s after SIGTERM" % code
    assert took < 4.0, "idle sekishod took %.2f s to exit after SIGTERM (drain timeout 10 s)" % took


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sigterm_drains_inflight_query(sekishod, scripted, transport):
    up = scripted(delay=1.0)
    # The answer needs ~1 s, the drain may take 10: exiting soon after the answer (not at the
    # drain timeout) is what is checked, with room for a loaded machine.
    sk = sekishod([up.address], {"server": {"drain_timeout_ms": 10000},
                                 "forwarding": {"timeout_ms": 5000, "attempts": 1}})
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(query, transport, "127.0.0.1", sk.port, "drain.life.example.", "A", 5.0)
        deadline = time.monotonic() + 2
        while up.count("drain.life.example.") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert up.count("drain.life.example.") == 1, "query never reached the upstream"
        t0 = time.monotonic()
        sk.signal(15)
        sk.expect_exit = True
        r = fut.result(8)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == {"192.0.2.1"}, \
        "in-flight query not drained: %s" % r
    try:
        code = sk.proc.wait(12)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - t0
    assert code == 0, "exit code %s after draining" % code
    assert took < 5.0, "exit %.2f s after SIGTERM; the in-flight answer needed ~1 s (drain timeout 10 s)" % took


def test_sigterm_drain_is_bounded(sekishod, scripted):
    up = scripted("silent")
    # The waiting query would hold the exit for 20 s (its forwarding timeout); the drain
    # timeout of 500 ms must cut it short. 5 s separates the two even on a loaded machine.
    sk = sekishod([up.address], {"server": {"drain_timeout_ms": 500},
                                 "forwarding": {"timeout_ms": 20000, "attempts": 1}})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        q = make_query("stuck.life.example.")
        s.sendto(q.to_wire(), ("127.0.0.1", sk.port))
        deadline = time.monotonic() + 2
        while up.count("stuck.life.example.") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        code, took = sk.terminate(15)
        sk.expect_exit = True
        # The query cut short is answered, not dropped: the client can ask another server at
        # once instead of waiting for its own timeout.
        s.settimeout(1)
        try:
            wire = s.recv(65535)
        except socket.timeout:
            wire = None
    finally:
        s.close()
    assert code is not None, "sekishod still running 15 s after SIGTERM (drain_timeout_ms 500)"
    assert took < 5.0, "exit took %.2f s with drain_timeout_ms 500 (the query waits up to 20 s)" % took
    assert code == 0, "exit code %s" % code
    assert wire is not None, "the query still waiting at the drain timeout got no answer"
    answer = dns.message.from_wire(wire)
    assert answer.id == q.id
    assert answer.rcode() == dns.rcode.SERVFAIL, dns.rcode.to_text(answer.rcode())
    ede = [o for o in answer.options if o.otype == 15]
    assert ede and "shutting down" in (ede[0].text or ""), answer.options


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


# One DNS exchange from inside another process's network namespace: the client runs under
# nsenter and prints the answer's wire format, parsed (and checked against the query) here.
_NS_CLIENT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from clients import query
print(query(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], timeout=2).to_wire().hex())
"""


def query_in_netns(pid, transport, host, port, name, rdtype="A"):
    import dns.message
    p = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % pid, "/usr/bin/python3", "-c", _NS_CLIENT,
                        str(pathlib.Path(__file__).resolve().parent), transport, host, str(port), name, rdtype],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, "query in the namespace failed:\n%s" % p.stderr[-2000:]
    return dns.message.from_wire(bytes.fromhex(p.stdout.strip()))


def test_embedded_defaults_block_the_demo_names(tmp_path):
    """The README's run command: no --config, demo category data on 127.0.0.1:5353 and [::1]:5353.

    5353 is fixed by the embedded defaults (and is the mDNS port other software may hold), so the
    command runs in a network namespace of its own (unshare -n, loopback up), where the port is
    surely free; the binary and its arguments are exactly the README's."""
    if STANDIN:
        pytest.skip("sekishod's embedded defaults")
    import os
    from sekishod import SEKISHOD
    for tool in ("unshare", "nsenter", "ip"):
        assert shutil.which(tool), "%s is not installed (util-linux / iproute2, .ci/setup)" % tool
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    env.pop("NOTIFY_SOCKET", None)
    err = open(tmp_path / "stderr", "wb")
    # sh execs sekishod: proc.pid is sekishod's, and its namespace lives as long as it does.
    proc = subprocess.Popen(["unshare", "--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$0"', SEKISHOD],
                            env=env, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while "msg=ready" not in (tmp_path / "stderr").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, "exit %s (a private network namespace needs root):\n%s" % (
                proc.returncode, (tmp_path / "stderr").read_text())
            time.sleep(0.05)
        from clients import ede_codes, ede_texts
        for host in ("127.0.0.1", "::1"):
            gambling = query_in_netns(proc.pid, "udp", host, 5353, "poker.casino.example.")
            assert addresses(gambling) == {"127.0.0.1"}, gambling
            assert ede_codes(gambling) == [17]
            assert any("gambling" in t for t in ede_texts(gambling))
        malware = query_in_netns(proc.pid, "tcp", "127.0.0.1", 5353, "malware.example.", "AAAA")
        assert addresses(malware, "AAAA") == {"::1"}
        assert ede_codes(malware) == [15]
        assert (tmp_path / "demo-categories").is_dir()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
