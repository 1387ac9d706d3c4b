"""sekishod's own counters for the e2e tests: a sekishod started with admin.metrics_listen on a port
the harness picks (and picks again if another process takes it first), and /metrics read into a
dict. Tests assert on these counters rather than on wall time: they say what the server itself did.
"""
import http.client

from netutil import Listen
from sekishod import deep_merge


def start_with_metrics(sekishod, upstreams, overrides=None):
    """sekishod (the conftest factory) with a metrics listener; its port is `metrics_port`."""
    cfg = deep_merge(overrides or {}, {"admin": {"metrics_listen": [Listen("127.0.0.1", "metrics")]}})
    sk = sekishod(upstreams, cfg)
    sk.metrics_port = sk.ports["metrics"]
    return sk


def scrape(port, timeout=10):
    """{(name, labels): float} from GET /metrics (labels as written, e.g. 'upstream="127.0.0.1:53"')."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        assert r.status == 200, "GET /metrics -> %d: %s" % (r.status, text[:500])
    finally:
        c.close()
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        series[(name, labels.rstrip("}"))] = float(value)
    return series


def upstream_series(port, name, address):
    """One upstream's value of a sekisho_upstream_* family."""
    series = scrape(port)
    key = (name, 'upstream="%s"' % address)
    assert key in series, "%s not in /metrics: %r" % (key, sorted(k for k in series if k[0] == name))
    return series[key]
