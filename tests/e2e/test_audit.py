"""tests/e2e/test_audit.py — changes made outside the admin API are in the audit log too.

A real sekishod with admin.audit_log: reloads by SIGHUP (applied, and refused for an invalid file)
are lines with who "SIGHUP", the generations and the outcome; `sekisho device add`/`revoke`,
`sekisho db import --config` and `sekisho ca init --config` (the real CLI) are lines with the user
who ran them, and a failed command is recorded as failed. The admin API's own lines are tested in
unit.admin/api_changes_test.cc and e2e.test_admin.
"""
import json
import os
import pwd
import signal
import subprocess
import time

from policy_fixtures import CLI, make_store


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_lines(path, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(audit_lines(path)) < n:
        time.sleep(0.05)
    return audit_lines(path)


def cli(*args, input_text=None):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=60, input=input_text)


def test_sighup_reloads_and_cli_changes_are_audited(sekishod, knot, tmp_path):
    audit = tmp_path / "audit.jsonl"
    store = make_store(tmp_path / "store", ["casino.example,gambling"])
    (tmp_path / "ca").mkdir()
    sk = sekishod([knot.addresses[0]], {
        "category_db": str(store),
        "admin": {"audit_log": str(audit)},
        "intercept": {"ca_dir": str(tmp_path / "ca")},
    }, start=False)
    # The tenant in its own tenants.d file, which `sekisho device` may rewrite.
    (sk.dir / "tenants.d").mkdir()
    (sk.dir / "tenants.d" / "acme.yaml").write_text(
        "tenants:\n  - {id: acme, networks: [127.0.0.2/32], policy: office}\n"
        "policies:\n  office: {block: [gambling]}\n")
    sk.start()
    config = sk.config_path
    me = pwd.getpwuid(os.getuid()).pw_name
    me = os.environ["SUDO_USER"] + " (sudo)" if os.getuid() == 0 and os.environ.get("SUDO_USER") else me

    # A reload by SIGHUP that applies.
    n = len(sk.notify_lines())
    sk.signal(signal.SIGHUP)
    assert sk.wait_notify("STATUS=configuration reloaded", 5.0, after=n)
    lines = wait_lines(audit, 1)
    assert len(lines) == 1, lines
    line = lines[0]
    assert (line["who"], line["source"], line["what"], line["outcome"]) == ("SIGHUP", "signal", "reload", "ok"), line
    assert line["after"] == line["before"] + 1, line

    # `sekisho device add` (writes tenants.d beside the file) and revoke, then one that fails.
    p = cli("device", "add", "--config", config, "--tenant", "acme", "--device", "phone")
    assert p.returncode == 0, p.stderr
    assert "phone" in (sk.dir / "tenants.d" / "acme.yaml").read_text()
    p = cli("device", "revoke", "--config", config, "--tenant", "acme", "--device", "phone")
    assert p.returncode == 0, p.stderr
    p = cli("device", "add", "--config", config, "--tenant", "nosuch", "--device", "x")
    assert p.returncode != 0
    lines = audit_lines(audit)[1:]
    assert [(l["who"], l["source"], l["what"], l["tenant"]) for l in lines] == [
        (me, "cli", "add device", "acme"), (me, "cli", "revoke device", "acme"),
        (me, "cli", "add device", "nosuch")], lines
    assert lines[0]["after"] == {"name": "phone"} and lines[1]["before"] == {"name": "phone"}
    assert [l["outcome"] for l in lines] == ["ok", "ok", "failed"], lines
    assert "token" not in json.dumps(lines), lines  # a device token is a credential

    # The store and the CA, through the configuration's category_db and intercept.ca_dir.
    p = cli("db", "--config", config, "import", "--source", "extra", "--format", "domains",
            "--category", "gambling", "-", input_text="bets.example\n")
    assert p.returncode == 0, p.stderr
    p = cli("ca", "init", "--config", config)
    assert p.returncode == 0, p.stderr
    p = cli("ca", "init", "--config", config)  # never replaces a CA: fails, and is recorded
    assert p.returncode != 0
    lines = audit_lines(audit)[4:]
    assert [(l["what"], l["outcome"]) for l in lines] == [
        ("import into the category store", "ok"), ("create an inspection CA", "ok"),
        ("create an inspection CA", "failed")], lines
    assert lines[0]["after"]["db"] == str(store) and lines[0]["after"]["source"] == "extra", lines[0]
    # A command that only reads is not a change.
    assert cli("db", "--config", config, "stats").returncode == 0
    assert cli("device", "list", "--config", config).returncode == 0
    assert len(audit_lines(audit)) == 7

    # A reload by SIGHUP that is refused: the running configuration stays, the line says why.
    config.write_text(config.read_text() + "nosuch_key: 1\n")
    n = len(sk.notify_lines())
    sk.signal(signal.SIGHUP)
    assert sk.wait_notify("STATUS=reload failed; previous configuration in use", 5.0, after=n)
    lines = wait_lines(audit, 8)
    line = lines[7]
    assert (line["who"], line["what"], line["after"]) == ("SIGHUP", "reload", None), line
    assert line["outcome"].startswith("refused: 1 error(s)") and "nosuch_key" in line["outcome"], line
