"""tests/e2e/test_category_file.py — categories added by a file (issue 3), end to end.

A YAML categories file adds `intranet` (content, id 32) and `c2` (security, id 40) to the
built-ins. The real CLI imports names into them (`--categories FILE`, `--config FILE`), the
real sekishod reads the same file (`categories_file`) and blocks them by policy with the
category named in the EDE text and the EDE code of its group. A file that disagrees with the
store, or is malformed, stops sekishod at start-up with file:line; a malformed file on SIGHUP
is rejected and the running policy keeps blocking.
"""
import signal
import subprocess
import time

import pytest

from policy_fixtures import CLI, ask, edes, policy_overrides, rcode, rdatas, describe, tenant
from netutil import free_port
from sekishod import SEKISHOD

CLIENT = "127.0.0.2"
BP4 = "192.0.2.99"
REAL = "192.0.2.1"  # the scripted upstream's answer for any A query

CATEGORIES = """\
categories:
  - id: 32
    slug: intranet
    group: content
    en: Intranet
    ja: 社内サイト
  - id: 40
    slug: c2
    group: security
    en: Command and control
    ja: C2サーバ
"""


def cli(*args, check=True):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("sekisho %s -> %d\n%s\n%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
    return p


@pytest.fixture
def setup(tmp_path):
    cats = tmp_path / "categories.yaml"
    cats.write_text(CATEGORIES)
    store = tmp_path / "store"
    rows = tmp_path / "rows.csv"
    rows.write_text("wiki.corp.example,intranet\nevil.example,c2\ncasino.example,gambling\n")
    out = cli("db", "--db", store, "--categories", cats, "import", "--source", "corp", "--format", "csv", rows).stdout
    assert "3 domain entries" in out, out
    return cats, store


def overrides(cats, store):
    cfg = policy_overrides(store, [tenant("acme", [CLIENT + "/32"], "office")],
                           {"office": {"block": ["intranet", "c2", "gambling"]}}, {"ipv4": BP4, "ttl": 60})
    cfg["categories_file"] = str(cats)
    return cfg


def assert_blocked(sk, name, code, text):
    r = ask(sk.port, name, source=CLIENT)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}, describe(r)
    assert edes(r) == [(code, text)], describe(r)


def test_added_categories_block_by_policy_and_name_themselves(sekishod, scripted, setup):
    cats, store = setup
    sk = sekishod([scripted().address], overrides(cats, store))
    assert_blocked(sk, "www.wiki.corp.example.", 17, "category=intranet tenant=acme")  # content: Filtered
    assert_blocked(sk, "evil.example.", 15, "category=c2 tenant=acme")                  # security: Blocked
    assert_blocked(sk, "casino.example.", 17, "category=gambling tenant=acme")          # built-ins unchanged
    r = ask(sk.port, "www.example.net.", source=CLIENT)
    assert rdatas(r, "A") == {REAL} and edes(r) == [], describe(r)

    # The CLI reads the store and the file from sekishod's own configuration.
    out = cli("db", "--config", sk.config_path, "lookup", "a.wiki.corp.example").stdout
    assert "categories: intranet" in out and "entry: wiki.corp.example" in out, out
    out = cli("db", "--config", sk.config_path, "categories").stdout
    assert "32  intranet  content  other  Intranet  社内サイト  %s:2  yes" % cats in out, out
    # Without the file the store's id is still shown, as a number.
    out = cli("db", "--db", store, "lookup", "evil.example").stdout
    assert "categories: #40" in out, out

    # A reload with a broken file is refused; the running policy keeps blocking the added names.
    cats.write_text(CATEGORIES.replace("group: content", "group: intranetty"))
    sk.reload()
    deadline = time.monotonic() + 5
    while "group 'intranetty' is not a group" not in sk.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "%s:2:0: categories_file: group 'intranetty' is not a group (known: security evasion" % cats in sk.stderr(), sk.stderr()[-3000:]
    assert_blocked(sk, "wiki.corp.example.", 17, "category=intranet tenant=acme")
    assert sk.alive()


def test_file_that_renumbers_stored_ids_stops_start_up(sekishod, scripted, setup, tmp_path):
    cats, store = setup
    cats.write_text(CATEGORIES.replace("id: 40", "id: 41"))
    sk = sekishod([scripted().address], overrides(cats, store), start=False)
    p = sk.run_to_exit(port=free_port())
    assert p.returncode != 0
    err = p.stdout + p.stderr + sk.stderr()
    assert "'c2' has id 41 in %s:7 but id 40 in the store (keep id 40)" % cats in err, err
    # The CLI refuses the same file before writing anything.
    p = cli("db", "--db", store, "--categories", cats, "import", "--source", "more", "--format", "csv", "-", check=False)
    assert p.returncode == 1 and "'c2' has id 41" in p.stderr, p.stderr


@pytest.mark.parametrize("text,line,message", [
    (CATEGORIES.replace("slug: c2", "slug: ads"), 7, "slug 'ads' is a built-in category (id 7)"),
    (CATEGORIES.replace("slug: c2", "slug: intranet"), 7, "slug 'intranet' is already defined at line 2"),
    (CATEGORIES.replace("id: 40", "id: 12"), 7, "id 12 is out of range"),
])
def test_check_config_reports_categories_file_errors_with_line(tmp_path, text, line, message):
    cats = tmp_path / "categories.yaml"
    cats.write_text(text)
    conf = tmp_path / "sekishod.yaml"
    conf.write_text("server:\n  listen:\n    dns: [\"127.0.0.1:5399\"]\nupstreams: [\"127.0.0.1:5398\"]\n"
                    "categories_file: %s\n" % cats)
    for argv in ([SEKISHOD, "--check-config", str(conf)], [CLI, "check-config", str(conf)]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        assert p.returncode != 0, p.stdout + p.stderr
        assert "%s:%d:0: categories_file: %s" % (cats, line, message) in p.stdout + p.stderr, p.stdout + p.stderr
