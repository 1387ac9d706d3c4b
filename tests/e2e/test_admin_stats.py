"""Daily statistics across restarts: sekishod under a systemd-like STATE_DIRECTORY, a seeded
stats file of earlier days (the documented format), real DNS queries today, a SIGTERM and a
fresh start; the stats API's series=day must hold the seeded days, today's counts from before
the restart, and the queries after it."""
import datetime
import json
import time

import pytest

from netutil import Listen, clear_of_utc_midnight
from policy_fixtures import ask, rcode
from test_admin import Admin, make_token
from upstreams import ScriptedUpstream

ACME = "127.0.0.2"


TODAY = None  # the UTC date the test runs on (set by the test, clear of a midnight)


def day(offset):
    return str(TODAY + datetime.timedelta(days=offset))


def daily(api, token, **params):
    query = "&".join("%s=%s" % kv for kv in dict({"series": "day"}, **params).items())
    status, body, _ = api.call("GET", "/api/v1/stats?" + query, token=token)
    assert status == 200, body
    return {d["date"]: (d["queries"], d["blocked"]) for d in body["daily"]}, body


def wait_today(api, token, want):
    deadline = time.monotonic() + 5
    while True:  # the query-log writer takes the records from the loops every 50 ms
        days, body = daily(api, token)
        if days[day(0)] == want:
            return days, body
        assert time.monotonic() < deadline, (days[day(0)], want)
        time.sleep(0.05)


def test_daily_totals_survive_a_restart(sekishod, tmp_path, monkeypatch):
    # Its waits are bounded well under 2 minutes; its dates are the server's (UTC, same clock).
    global TODAY
    TODAY = clear_of_utc_midnight(120)
    state = tmp_path / "state"
    (state / "stats").mkdir(parents=True)
    seeded = (state / "stats" / "acme.jsonl")
    seeded.write_text(
        json.dumps({"date": day(-200), "queries": 7, "blocked": 7}) + "\n"      # beyond the 90 days kept
        + json.dumps({"date": day(-20), "queries": 300, "blocked": 1}) + "\n"
        + "not json\n"
        + json.dumps({"date": day(-1), "queries": 1234, "blocked": 56}) + "\n")
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    token, digest = make_token("tenant-admin", "acme")
    upstream = ScriptedUpstream().start()
    try:
        sk = sekishod([upstream.address], {
            "tenants": [{"id": "acme", "networks": [ACME + "/32"], "policy": "p"}],
            "policies": {"p": {"deny": ["deny.example"]}},
            "admin": {"listen": [Listen("127.0.0.1", "admin")],
                      "tokens": [{"name": "acme", "role": "tenant-admin", "tenant": "acme", "sha256": digest}]},
        })
        api = Admin(sk.ports["admin"])
        for name in ["a.example.", "b.example.", "deny.example.", "c.example.", "www.deny.example."]:
            ask(sk.port, name, source=ACME)
        days, body = wait_today(api, token, (5, 2))
        assert set(body) == {"tenant", "daily"} and len(body["daily"]) == 30
        assert [d["date"] for d in body["daily"]] == [day(-i) for i in range(29, -1, -1)]  # oldest first, ends today
        assert days[day(-1)] == (1234, 56) and days[day(-20)] == (300, 1) and days[day(-2)] == (0, 0)
        assert "daily stats: line skipped" in sk.stderr()
        # The whole answer carries the same daily series beside the hourly one.
        _, full, _ = api.call("GET", "/api/v1/stats", token=token)
        assert full["daily"] == body["daily"] and len(full["hourly"]) == 48 and full["queries"] == 5
        assert api.call("GET", "/api/v1/stats?series=week", token=token)[1]["field"] == "series"
        assert api.call("GET", "/api/v1/stats?series=day&days=91", token=token)[1]["field"] == "days"
        assert len(daily(api, token, days=90)[1]["daily"]) == 90

        # SIGTERM saves today; the file is rewritten in the documented format, the unreadable
        # original kept beside it, days beyond the 90 kept dropped.
        code, _ = sk.terminate()
        assert code == 0, sk.stderr()[-3000:]
        lines = [json.loads(line) for line in seeded.read_text().splitlines()]
        assert lines == [{"date": day(-20), "queries": 300, "blocked": 1},
                         {"date": day(-1), "queries": 1234, "blocked": 56},
                         {"date": day(0), "queries": 5, "blocked": 2}], lines
        assert "not json" in (state / "stats" / "acme.jsonl.bad").read_text()

        sk.stop()
        sk.notifications.clear()
        sk.start()
        api = Admin(sk.ports["admin"])  # the same port unless it was lost meanwhile
        days, _ = daily(api, token)
        assert days[day(0)] == (5, 2) and days[day(-1)] == (1234, 56)  # nothing queried yet in this run
        for name in ["d.example.", "deny.example.", "e.example."]:
            ask(sk.port, name, source=ACME)
        days, _ = wait_today(api, token, (8, 3))
        assert days[day(-1)] == (1234, 56) and days[day(-20)] == (300, 1)
        _, full, _ = api.call("GET", "/api/v1/stats", token=token)
        assert full["queries"] == 3  # the in-memory totals restarted; the daily ones did not
    finally:
        upstream.stop()
