"""`sekisho policy replay` (issue 21 item 8) end to end: a real sekishod writes the query log of a
known set of queries (each name, client and outcome counted below), then the real CLI replays
that log against a proposed policy file and must print exactly the changes those counts give.

The log is made by the server rather than written by hand, so the test holds whatever the
query log's on-disk form is: the command reads it only through the query log's reader.

Current policy of acme: block games, deny denied.example. Proposed: block social only.
  127.0.0.2: games ×3 (blocked → allowed), social ×2 (→ blocked), news ×1 (unchanged),
             denied ×1 (blocked by the deny list → allowed)
  127.0.0.3: social ×4 (→ blocked), games ×1 (→ allowed)
  beta (127.0.0.4, another tenant): social ×2, never counted.
"""
import json
import subprocess

import pytest

from policy_fixtures import CLI, ask, make_store, rcode
from sekishod import Sekishod
from upstreams import ScriptedUpstream

ONE, TWO, BETA = "127.0.0.2", "127.0.0.3", "127.0.0.4"


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    upstream = ScriptedUpstream().start()
    store = make_store(d / "categories", ["games.example,games", "social.example,social", "news.example,news"])
    cfg = {
        "category_db": str(store),
        "tenants": [{"id": "acme", "networks": [ONE + "/32", TWO + "/32"], "policy": "current"},
                    {"id": "beta", "networks": [BETA + "/32"], "policy": "open"}],
        "policies": {"current": {"block": ["games"], "deny": ["denied.example"]}, "open": {"deny": ["nothing.invalid"]}},
        "querylog": {"directory": str(d / "querylog")},
    }
    sk = Sekishod(d / "sk", [upstream.address], cfg)
    sk.start()
    plan = [(ONE, "games.example", 3, "NOERROR"), (ONE, "social.example", 2, "NOERROR"),
            (ONE, "news.example", 1, "NOERROR"), (ONE, "denied.example", 1, "NOERROR"),
            (TWO, "social.example", 4, "NOERROR"), (TWO, "games.example", 1, "NOERROR"),
            (BETA, "social.example", 2, "NOERROR")]
    for source, name, times, expect in plan:
        for _ in range(times):
            assert rcode(ask(sk.port, name + ".", source=source)) == expect
    code, _ = sk.terminate()  # the writer drains the log on shutdown
    err = sk.stderr()
    sk.stop()
    upstream.stop()
    assert code == 0, err[-3000:]
    proposed = d / "proposed.yaml"
    proposed.write_text("block: [social]\n")
    env = type("Env", (), {})()
    env.dir, env.config, env.proposed = d, sk.config_path, proposed
    return env


def replay(env, *extra):
    cmd = [CLI, "policy", "replay", "--config", str(env.config), "--tenant", "acme", *extra, str(env.proposed)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def rows(table):
    return {r["key"]: (r["newly_blocked"], r["newly_allowed"]) for r in table}


def test_replay_counts_what_the_proposed_policy_changes(logged):
    p = replay(logged, "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert (out["queries"], out["newly_blocked"], out["newly_allowed"], out["unchanged_blocked"],
            out["unchanged_allowed"], out["not_replayed"]) == (12, 6, 5, 0, 1, 0), out
    assert (out["newly_blocked_names"], out["newly_allowed_names"]) == (1, 2), out
    assert rows(out["by_category"]) == {"social": (6, 0), "games": (0, 4), "(deny list)": (0, 1)}, out
    assert rows(out["by_name"]) == {"social.example": (6, 0), "games.example": (0, 4), "denied.example": (0, 1)}, out
    assert rows(out["by_device"]) == {ONE: (2, 4), TWO: (4, 1)}, out


def test_replay_prints_the_counts(logged):
    p = replay(logged)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "tenant acme: 12 queries judged by its policy" in p.stdout, p.stdout
    assert "newly blocked  6 queries (1 names)" in p.stdout, p.stdout
    assert "newly allowed  5 queries (2 names)" in p.stdout, p.stdout
    assert "unchanged      0 blocked, 1 allowed" in p.stdout, p.stdout
    lines = p.stdout.splitlines()
    assert any(line.split() == ["social.example", "6", "0"] for line in lines), p.stdout


def test_replay_keeps_to_the_time_window(logged):
    p = replay(logged, "--json", "--to", "2000-01-01")
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["queries"] == 0
    p = replay(logged, "--json", "--from", "2000-01-01")
    assert json.loads(p.stdout)["queries"] == 12, p.stdout


def test_replay_refuses_a_bad_proposal_or_tenant(logged):
    bad = logged.dir / "bad.yaml"
    bad.write_text("block: [no_such_category]\n")
    p = subprocess.run([CLI, "policy", "replay", "--config", str(logged.config), "--tenant", "acme", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no_such_category" in p.stderr, p.stdout + p.stderr
    p = subprocess.run([CLI, "policy", "replay", "--config", str(logged.config), "--tenant", "nobody",
                        str(logged.proposed)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no tenant 'nobody'" in p.stderr, p.stdout + p.stderr
