"""A schedule window's edges on a running sekishod (README "Behaviour": a window from..to blocks
from `from` up to but not at `to`; one whose `from` is after `to` runs past midnight and belongs to
the day it starts on). tests/unit/policy/schedule_window_test.cc checks the edges to the second
with an injected time; here the real clock decides, so the windows are built around the current
minute of the zone: one ending this minute (does not block), one starting this minute (blocks),
and the same two for a window that began yesterday and runs past midnight into today.

Each tenant (source 127.0.0.2-5) has one policy with one window blocking `social`; asking
www.social.example shows whether the window is on. A run is kept only if the zone's minute did not
change between building the windows and the last answer (else the windows are rebuilt, reloaded and
asked again, at most three times).
"""
import datetime

import pytest

from policy_fixtures import DAYS, ask, edes, hhmm, local_now, make_store, policy_overrides, rcode, tenant

NAME = "www.social.example."
ENDS_NOW, STARTS_NOW, WRAP_ENDS_NOW, WRAP_ON = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
# Zones without DST, 9 h apart: at any moment one of them is over an hour from its midnight.
ZONES = ("UTC", "Asia/Tokyo")


def zone_clear_of_midnight():
    for tz in ZONES:
        n = local_now(tz)
        if 61 <= n.hour * 60 + n.minute <= 1440 - 62:
            return tz
    raise AssertionError("no zone of %s is an hour away from its midnight" % (ZONES,))


def windows(tz):
    """(minute the windows were built for, {source: schedule entry})."""
    now = local_now(tz)
    minute = now.replace(second=0, microsecond=0)
    today, yesterday = DAYS[now.weekday()], DAYS[(now.weekday() + 6) % 7]
    later = hhmm(minute + datetime.timedelta(minutes=60))   # still today: clear of midnight

    def entry(day, start, end):
        return {"block": ["social"], "days": [day], "from": start, "to": end, "timezone": tz}

    return minute, {
        ENDS_NOW: entry(today, hhmm(minute - datetime.timedelta(minutes=60)), hhmm(minute)),
        STARTS_NOW: entry(today, hhmm(minute), hhmm(minute + datetime.timedelta(minutes=30))),
        # Began yesterday at `later` (after `to` in the day, so it wraps) ...
        WRAP_ENDS_NOW: entry(yesterday, later, hhmm(minute)),                                     # ... ends now
        WRAP_ON: entry(yesterday, later, hhmm(minute + datetime.timedelta(minutes=2))),           # ... ends soon
    }


def config(store, entries):
    names = {ENDS_NOW: "ends_now", STARTS_NOW: "starts_now", WRAP_ENDS_NOW: "wrap_ends_now",
             WRAP_ON: "wrap_on"}
    return policy_overrides(
        store,
        [tenant(names[src], [src + "/32"], names[src]) for src in names],
        {names[src]: {"schedule": [entries[src]], "action": "nxdomain"} for src in names})


def verdicts(sk):
    out = {}
    for src in (ENDS_NOW, STARTS_NOW, WRAP_ENDS_NOW, WRAP_ON):
        r = ask(sk.port, NAME, source=src)
        out[src] = (rcode(r), [code for code, _ in edes(r)])
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store") / "categories", ["social.example,social"])


def test_window_blocks_from_its_start_not_at_its_end(sekishod, scripted, store):
    up = scripted()
    tz = zone_clear_of_midnight()
    minute, entries = windows(tz)
    sk = sekishod([up.address], config(store, entries))
    for attempt in range(3):
        got = verdicts(sk)
        if local_now(tz).replace(second=0, microsecond=0) == minute:
            break
        # The minute turned meanwhile: rebuild the windows for the new one and ask again.
        tz = zone_clear_of_midnight()
        minute, entries = windows(tz)
        n = len(sk.notify_lines())
        sk.reload(sk.config | config(store, entries))
        assert sk.wait_notify("STATUS=configuration reloaded", 10, after=n), sk.stderr()[-3000:]
    else:
        pytest.fail("the minute turned during each of three runs")
    blocked, resolved = ("NXDOMAIN", [17]), ("NOERROR", [])
    ctx = "at %s %s with %r" % (minute.strftime("%a %H:%M"), tz, entries)
    assert got[ENDS_NOW] == resolved, "a window ending this minute still blocks, " + ctx
    assert got[STARTS_NOW] == blocked, "a window starting this minute does not block, " + ctx
    assert got[WRAP_ENDS_NOW] == resolved, "yesterday's window past midnight still blocks at its end, " + ctx
    assert got[WRAP_ON] == blocked, "yesterday's window past midnight does not block before its end, " + ctx
    # The two resolved answers share one upstream query (the cache); blocked ones never go there.
    assert up.count(NAME) == 1, up.queries()
