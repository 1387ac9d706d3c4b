"""Configuration (issue 2): `sekishod --check-config` reports every error as FILE:LINE:COL: path:
message, sekishod refuses to start on an invalid config, and SIGHUP reloads without losing queries
(and keeps the old config when the new one is invalid)."""
import os
import pathlib
import re
import signal
import subprocess
import threading
import time

import pytest

from clients import addresses, dnsperf, query_udp
from netutil import free_port, hostport
from sekishod import SEKISHOD, STANDIN, Sekishod, base_config, to_yaml
from upstreams import KnotUpstream, wildcard_zone

pytestmark = pytest.mark.skipif(STANDIN != "", reason="sekishod-specific CLI and config")

SOURCE = pathlib.Path(os.environ.get("SEKISHO_SOURCE_DIR",
                                     pathlib.Path(__file__).resolve().parents[2]))


def check_config(path, timeout=10):
    return subprocess.run([SEKISHOD, "--check-config", str(path)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def error_lines(p):
    """Lines of the form FILE:LINE:COL: path: message, parsed."""
    out = []
    for line in (p.stdout + p.stderr).splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): ([^:]+): (.+)$", line.strip())
        if m:
            out.append({"file": m.group(1), "line": int(m.group(2)), "col": int(m.group(3)),
                        "path": m.group(4).strip(), "message": m.group(5)})
    return out


ISSUE_EXAMPLE = """\
server:
  threads: 2                      # event loops; 0 = one per core
  listen:
    dns: ["127.0.0.1:5353", "[::1]:5353"]   # UDP and TCP on each
  tcp:
    idle_timeout_ms: 10000        # RFC 7766 idle timeout
    max_connections: 1024         # beyond this new connections are closed at once
  drain_timeout_ms: 3000          # SIGTERM: how long in-flight queries may finish
upstreams:
  - 127.0.0.1:5399                # host:port, UDP with TCP fallback
  - address: "[::1]:5399"
    transport: tcp                # udp (default, falls back to tcp on TC) | tcp
forwarding:
  timeout_ms: 1000                # per attempt
  attempts: 3                     # tries per query, on different upstreams when there are several
cache:
  max_entries: 1000000
  serve_stale: 86400              # seconds an expired answer may still be served when upstreams fail; 0 = off
log:
  level: info                     # debug | info | warning | error
"""


def test_check_config_accepts_documented_example(tmp_path):
    f = tmp_path / "example.yaml"
    f.write_text(ISSUE_EXAMPLE)
    p = check_config(f)
    assert p.returncode == 0, "valid config rejected:\n%s%s" % (p.stdout, p.stderr)
    assert "ok" in (p.stdout + p.stderr).lower()


def test_check_config_accepts_minimal_and_generated(tmp_path):
    f = tmp_path / "generated.yaml"
    f.write_text(to_yaml(base_config(5300, ["127.0.0.1:5399"])) + "\n")
    p = check_config(f)
    assert p.returncode == 0, "%s%s" % (p.stdout, p.stderr)
    f = tmp_path / "minimal.yaml"
    f.write_text("server:\n  listen:\n    dns: [\"127.0.0.1:5300\"]\nupstreams:\n  - 127.0.0.1:5399\n")
    p = check_config(f)
    assert p.returncode == 0, "config with only listen + upstreams rejected (defaults?):\n%s%s" % (
        p.stdout, p.stderr)


def test_check_config_on_shipped_configs():
    files = sorted((SOURCE / "etc").glob("*.yaml")) if (SOURCE / "etc").is_dir() else []
    assert files, "no shipped configuration in %s/etc/*.yaml" % SOURCE
    for f in files:
        p = check_config(f)
        assert p.returncode == 0, "%s rejected:\n%s%s" % (f, p.stdout, p.stderr)


# (yaml text, [(line, path fragment)]) -- line numbers are 1-based. Other errors (e.g. a missing
# listen address) may be reported too; the test only requires the expected ones.
BAD_CONFIGS = {
    "wrong-type": ("server:\n  threads: many\nupstreams:\n  - 127.0.0.1:5399\n",
                   [(2, "server.threads")]),
    "unknown-key": ("server:\n  threads: 1\n  bogus_key: 1\nupstreams:\n  - 127.0.0.1:5399\n",
                    [(3, "server.bogus_key")]),
    "bad-upstream": ("upstreams:\n  - 127.0.0.1:5399\n  - 127.0.0.1:notaport\n",
                     [(3, "upstreams")]),
    "bad-transport": ("upstreams:\n  - address: 127.0.0.1:5399\n    transport: carrier-pigeon\n",
                      [(3, "upstreams")]),
    "negative-timeout": ("upstreams:\n  - 127.0.0.1:5399\nforwarding:\n  timeout_ms: -5\n",
                         [(4, "forwarding.timeout_ms")]),
    "bad-listen": ("server:\n  listen:\n    dns: [\"999.1.2.3:53\"]\nupstreams:\n  - 127.0.0.1:5399\n",
                   [(3, "server.listen.dns")]),
    "bad-level": ("upstreams:\n  - 127.0.0.1:5399\nlog:\n  level: loud\n", [(4, "log.level")]),
    "several": ("server:\n  threads: -1\nupstreams:\n  - 127.0.0.1:5399\ncache:\n"
                "  max_entries: lots\nlog:\n  level: loud\n",
                [(2, "server.threads"), (6, "cache.max_entries"), (8, "log.level")]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_config_reports_errors_with_line(tmp_path, case):
    text, expected = BAD_CONFIGS[case]
    f = tmp_path / ("%s.yaml" % case)
    f.write_text(text)
    p = check_config(f)
    assert p.returncode == 1, "invalid config (%s) gave exit %d:\n%s%s" % (case, p.returncode,
                                                                           p.stdout, p.stderr)
    errs = error_lines(p)
    assert errs, "no FILE:LINE:COL: path: message lines in:\n%s%s" % (p.stdout, p.stderr)
    for line, frag in expected:
        hits = [e for e in errs if e["line"] == line and frag in e["path"]]
        assert hits, "expected an error at line %d for %s; got:\n%s%s" % (line, frag, p.stdout,
                                                                          p.stderr)
        assert hits[0]["file"].endswith(f.name)
        assert hits[0]["col"] >= 1


def test_check_config_yaml_syntax_error(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("server:\n  threads: 2\n upstreams: [\n")
    p = check_config(f)
    assert p.returncode == 1
    assert re.search(r"broken\.yaml:\d+:\d+:", p.stdout + p.stderr), p.stdout + p.stderr


def test_check_config_missing_file(tmp_path):
    p = check_config(tmp_path / "nope.yaml")
    assert p.returncode != 0
    assert "nope.yaml" in p.stdout + p.stderr


@pytest.mark.parametrize("case", ["wrong-type", "several"])
def test_refuses_to_start_on_invalid_config(tmp_path, case):
    text, expected = BAD_CONFIGS[case]
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    p = subprocess.run([SEKISHOD, "--config", str(f)], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert p.returncode != 0, "sekishod started on an invalid config"
    errs = error_lines(p)
    for line, frag in expected:
        assert any(e["line"] == line and frag in e["path"] for e in errs), \
            "startup error for line %d %s not reported:\n%s" % (line, frag, p.stderr)
    # the same text as --check-config
    c = check_config(f)
    assert {(e["line"], e["path"]) for e in error_lines(c)} <= {(e["line"], e["path"]) for e in errs}


def _reload_zones(addr):
    # after.reload.example is a zone of its own so that knot counts the probe queries apart
    # from the dnsperf load on reload.example.
    return {z: wildcard_zone(z, [("A", addr)]) for z in ("reload.example", "after.reload.example")}


def test_sighup_reload_changes_upstreams_without_loss(sekishod, tmp_path):
    # Native upstreams (knotd): the test asserts that nothing is lost under load, which a Python
    # upstream sharing 2 cores with dnsperf and sekishod cannot promise.
    a = KnotUpstream(tmp_path / "knot-a", zones=_reload_zones("192.0.2.1"), stats=True).start()
    b = KnotUpstream(tmp_path / "knot-b", zones=_reload_zones("192.0.2.2"), stats=True).start()
    try:
        _reload_under_load(sekishod, a, b)
    finally:
        a.stop()
        b.stop()


def _reload_under_load(sekishod, a, b):
    sk = sekishod([a.address])
    assert addresses(query_udp("127.0.0.1", sk.port, "before.reload.example.")) == {"192.0.2.1"}
    names = [("p%03d.reload.example." % i, "A") for i in range(300)]
    result = {}
    t = threading.Thread(target=lambda: result.update(
        dnsperf("127.0.0.1", sk.port, names, duration=3, rate=3000, clients=4)))
    t.start()
    time.sleep(1.0)
    b_probes = b.queries("after.reload.example.")
    sk.set_upstreams([b.address])
    sk.signal(signal.SIGHUP)
    # the new upstream takes over within a bounded time
    deadline = time.monotonic() + 5
    i = 0
    while True:
        i += 1
        r = query_udp("127.0.0.1", sk.port, "p%d.after.reload.example." % i)
        if addresses(r) == {"192.0.2.2"}:
            break
        assert time.monotonic() < deadline, "upstream change not applied 5 s after SIGHUP"
        time.sleep(0.1)
    t.join(40)
    assert not t.is_alive(), "dnsperf did not finish"
    assert result.get("sent"), "dnsperf output unparsed:\n%s" % result.get("output")
    assert result["lost"] == 0, "%d of %d queries lost during reload:\n%s" % (
        result["lost"], result["sent"], result["output"])
    assert result["completed"] == result["sent"]
    assert "NOERROR" in result["rcodes"] and "SERVFAIL" not in result["rcodes"], result["rcodes"]
    assert sk.alive()
    # Only the probe that got b's answer reached b, once (the earlier ones went to a).
    assert b.queries("after.reload.example.") == b_probes + 1
    a_before = a.queries()
    for j in range(5):
        assert addresses(query_udp("127.0.0.1", sk.port, "later%d.reload.example." % j)) == {"192.0.2.2"}
    assert a.queries() == a_before, "old upstream still used after reload"


def test_sighup_with_invalid_config_keeps_serving(sekishod, scripted):
    a = scripted(addr="192.0.2.1")
    sk = sekishod([a.address])
    assert addresses(query_udp("127.0.0.1", sk.port, "x1.keep.example.")) == {"192.0.2.1"}
    good = sk.config_path.read_text()
    sk.config_path.write_text(good + "bogus_top_level_key: [1, 2\n")
    before = len(sk.stderr())
    sk.signal(signal.SIGHUP)
    time.sleep(1.0)
    assert sk.alive(), "sekishod exited on a SIGHUP with an invalid config"
    for i in range(5):
        r = query_udp("127.0.0.1", sk.port, "x%d.keep.example." % (i + 2))
        assert addresses(r) == {"192.0.2.1"}, r
    log = sk.stderr()[before:]
    assert re.search(r"%s:\d+:\d+:" % re.escape(sk.config_path.name), log), \
        "reload error not logged with file:line:col:\n%s" % log
