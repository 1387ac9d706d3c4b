"""tests/e2e/test_store_cli.py — `sekisho db` end to end on the real lists in ../shared/data.

Runs the real CLI binary (SEKISHO_CLI) against a temporary store: every import format on real
files, refused-line reporting, --strict, source replacement, union of categories, IDN, .gz and
stdin input, verify, compact, and kill -9 in the middle of an import (the previous generation must stay
intact and readable); the filtering benchmark's setup path (bench/filter/run.sh --setup-only,
tiny sizes). Loopback-free: no network at all.
"""
import gzip
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

CLI = os.environ.get("SEKISHO_CLI", "sekisho")
SOURCE_DIR = Path(os.environ.get("SEKISHO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
DATA = (SOURCE_DIR / ".." / "shared" / "data").resolve()
BUILD_DIR = Path(os.environ.get("SEKISHO_BUILD_DIR", SOURCE_DIR / "build"))


@pytest.fixture
def shared_data():
    # CI checks the repository out beside ../shared, so the real lists are always there.
    if not DATA.is_dir():
        pytest.fail("the real lists are missing: expected %s (../shared/data beside the repository)" % DATA)


needs_data = pytest.mark.usefixtures("shared_data")


def db(store, *args, input=None, env=None, check=True):
    p = subprocess.run([CLI, "db", "--db", str(store), *map(str, args)], input=input,
                       capture_output=True, text=True, timeout=240, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"sekisho db {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def generation(store):
    return int(re.search(r"^generation: (\d+)", db(store, "stats").stdout, re.M).group(1))


def lookup(store, name):
    return db(store, "lookup", name, check=False).stdout


@pytest.fixture
def store(tmp_path):
    return tmp_path / "categories"


@needs_data
def test_real_lists_import_and_lookup(store):
    out = db(store, "import", "--source", "ut1", "--format", "ut1", DATA / "ut1").stdout
    assert "refused" in out
    db(store, "import", "--source", "urlhaus", "--format", "domains", "--category", "malware",
       DATA / "urlhaus/urlhaus-filter-domains.txt")
    db(store, "import", "--source", "urlhaus-hosts", "--format", "hosts", "--category", "malware",
       DATA / "urlhaus/urlhaus-filter-hosts.txt")
    db(store, "import", "--source", "drugs", "--format", "hosts", "--category", "drugs",
       DATA / "blocklistproject/drugs.hosts")
    db(store, "import", "--source", "tiuxo", "--format", "hosts", "--category", "adult",
       DATA / "tiuxo/porn.hosts")
    db(store, "import", "--source", "piracy", "--format", "adblock", "--category", "piracy",
       DATA / "blocklistproject/piracy.adblock.txt")
    db(store, "import", "--source", "referral", "--format", "adblock",
       DATA / "adblock/hagezi-whitelist-referral.txt")
    p = db(store, "import", "--source", "agdns", "--format", "adblock", "--category", "ads",
           DATA / "adblock/adguard-dns-filter-2017.txt")
    # 385 lines cannot be expressed at DNS level, and two name a bare label (`||advertpay.^`): a TLD,
    # which the public suffix guard refuses; each is reported with file:line and a reason.
    assert re.search(r"12361 taken, 387 refused \(2 public suffixes\)", p.stdout), p.stdout
    assert "adguard-dns-filter-2017.txt:" in p.stderr
    assert "||covertarget.com^*_*.php" in p.stderr
    assert "adguard-dns-filter-2017.txt:6098: a public suffix, not an entry" in p.stderr
    assert len([l for l in p.stderr.splitlines() if "adguard-dns-filter-2017.txt:" in l]) == 387
    p = db(store, "import", "--source", "rpz", "--format", "rpz", "--category", "malware",
           DATA / "rpz/urlhaus-filter-rpz.conf")
    assert "2689 taken, 0 refused" in p.stdout
    p = db(store, "import", "--source", "pdns-rpz", "--format", "rpz", "--category", "malware",
           DATA / "rpz/powerdns-basic.rpz")
    assert "rpz-client-ip trigger not supported" in p.stderr

    assert "violence" in lookup(store, "_video-bagarre.com")
    assert "violence" in lookup(store, "sub._video-bagarre.com")
    # malware and phishing share most names: the union applies.
    malware = set((DATA / "ut1/malware/domains").read_text().split())
    shared = next(n for n in (DATA / "ut1/phishing/domains").read_text().split()
                  if n in malware and not re.match(r"^[0-9.]+$", n))
    out = lookup(store, shared)
    assert re.search(r"categories: .*malware", out) and "phishing" in out, out
    # IPv4 literal from the URLhaus domains list is an exact entry.
    ip = next(l for l in (DATA / "urlhaus/urlhaus-filter-domains.txt").read_text().split()
              if re.match(r"^\d+\.\d+\.\d+\.\d+$", l))
    assert "malware" in lookup(store, ip)
    # Allow entry from @@||name^.
    allow = re.search(r"^@@\|\|([a-z0-9.-]+)\^$", (DATA / "adblock/hagezi-whitelist-referral.txt").read_text(), re.M).group(1)
    assert "allow-listed" in lookup(store, allow)
    # URL entry (deep check) from ut1/adult/urls.
    out = lookup(store, "101soundboards.com/boards/231587-bbw-bdsm-erotic-audio-clips/more")
    assert "url entry:" in out and "adult" in out
    assert "not listed" in lookup(store, "example.invalid")
    assert "verdict: not listed" in lookup(store, "www.google.com")
    stats = db(store, "stats").stdout
    assert "generation: 10" in stats and "ut1:" in stats and "phishing:" in stats
    verified = db(store, "verify").stdout
    assert "ok" in verified
    # The lookup index matches on hashes: verify asks it for every stored name.
    checked = re.search(r"^index: (\d+) names answered as by the B-tree$", verified, re.M)
    assert checked and int(checked.group(1)) > 10000, verified

    # The later imports went into a delta over ut1's base: compact folds it into one base.
    def answers(names):
        return {n: re.sub(r"^generation: \d+$", "", lookup(store, n), flags=re.M) for n in names}
    before = answers(("_video-bagarre.com", shared, ip, allow, "example.invalid"))
    delta_line = re.search(r"^lookup index: base of (\d+) keys \+ delta of (\d+) keys", stats, re.M)
    assert delta_line, stats
    assert p.stdout.count("lookup index: base of") == 1, p.stdout  # the last import says it too
    out = db(store, "compact").stdout
    m = re.search(r"^compacted: (\d+) keys of the delta folded into a new base of (\d+) keys; generation 11", out, re.M)
    assert m and int(m.group(1)) > 1000 and int(m.group(2)) > 300000, out
    assert int(m.group(1)) == int(delta_line.group(2)), (out, stats)
    assert "nothing to compact" in db(store, "compact").stdout
    assert re.search(r"^lookup index: base of %s keys$" % m.group(2), db(store, "stats").stdout, re.M)
    assert answers(before) == before
    verified = db(store, "verify").stdout
    assert re.search(r"^index: \d+ names answered as by the B-tree$", verified, re.M), verified


def test_replace_union_remove_idn_gz_stdin(store, tmp_path):
    v1 = tmp_path / "v1.txt"
    v1.write_text("gone.example\nkept.example\n")
    db(store, "import", "--source", "a", "--format", "domains", "--category", "malware", v1)
    db(store, "import", "--source", "b", "--format", "csv", "-",
       input="kept.example,phishing\n日本語.jp,gambling\n")
    assert "gone.example" in lookup(store, "gone.example") and "malware" in lookup(store, "gone.example")
    assert re.search(r"categories: malware,phishing", lookup(store, "www.kept.example"))
    assert "gambling" in lookup(store, "xn--wgv71a119e.jp")
    assert "gambling" in lookup(store, "日本語.JP.")
    v2 = tmp_path / "v2.txt.gz"
    with gzip.open(v2, "wt") as f:
        f.write("kept.example\nnew.example\n")
    g = generation(store)
    db(store, "import", "--source", "a", "--format", "domains", "--category", "malware", v2)
    assert generation(store) == g + 1
    assert "not listed" in lookup(store, "gone.example")
    assert "malware" in lookup(store, "new.example")
    db(store, "remove-source", "a")
    out = lookup(store, "kept.example")
    assert "phishing" in out and "malware" not in out.split("sources:")[0]
    assert "not listed" in lookup(store, "new.example")
    assert db(store, "export").stdout.splitlines()[1:] == ["kept.example,phishing,subtree",
                                                            "xn--wgv71a119e.jp,gambling,subtree"]
    assert "ok" in db(store, "verify").stdout


def blocked_reading_stdin(pid):
    """Whether the process sleeps in a read of a pipe (its stdin here): past start-up, and past
    the point where an import re-executes itself."""
    try:
        return "pipe_read" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def test_import_runs_with_huge_page_malloc(store, tmp_path):
    """An import re-executes itself once with glibc's THP tunable (policy/import/huge_pages.h),
    keeping the user's own tunables; stdin survives the exec. The kernel's THP mode decides which
    branch runs: with "[madvise]" the re-exec is wanted; with "always" or "never" it is not, and the
    import runs in the environment it was given."""
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    wants_reexec = mode.exists() and "[madvise]" in mode.read_text()
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.check=0")
    p = subprocess.Popen([CLI, "db", "--db", str(store), "import", "--source", "s", "--format",
                          "domains", "--category", "ads", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The process waits on stdin: read the environment it runs with now.
        environ = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            environ = Path(f"/proc/{p.pid}/environ").read_bytes().decode(errors="replace")
            if ("hugetlb" in environ) if wants_reexec else blocked_reading_stdin(p.pid):
                break
            time.sleep(0.02)
        # glibc 2.36 cuts the string at each ':' in place while it parses the tunables, so the
        # raw block holds "GLIBC_TUNABLES=glibc.malloc.check=0\0glibc.malloc.hugetlb=1".
        assert "GLIBC_TUNABLES=glibc.malloc.check=0" in environ
        if wants_reexec:
            assert "glibc.malloc.hugetlb=1" in environ
        else:
            assert blocked_reading_stdin(p.pid), "the import never waited on its stdin"
            assert "hugetlb" not in environ, "re-executed although THP mode is %r" % mode.read_text()
        out, err = p.communicate("piped.example\n", timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "1 taken" in out
    assert "ads" in lookup(store, "www.piped.example")


@needs_data
def test_strict_writes_nothing(store):
    db(store, "import", "--source", "x", "--format", "domains", "--category", "ads", "-", input="a.example\n")
    g = generation(store)
    p = db(store, "import", "--source", "agdns", "--format", "adblock", "--category", "ads", "--strict",
           DATA / "adblock/adguard-dns-filter-2017.txt", check=False)
    assert p.returncode == 1 and "nothing written" in p.stderr
    assert generation(store) == g
    assert "not listed" in lookup(store, "doubleclick.net")


def big_list(path, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"host{i}.big{i % 997}.example\n")


def test_kill9_before_commit_keeps_previous_generation(store, tmp_path):
    db(store, "import", "--source", "base", "--format", "domains", "--category", "ads", "-", input="base.example\n")
    g = generation(store)
    big = tmp_path / "big.txt"
    big_list(big, 300000)
    env = dict(os.environ, SEKISHO_PAUSE_BEFORE_COMMIT_FOR_TEST="60")
    proc = subprocess.Popen([CLI, "db", "--db", str(store), "import", "--source", "big", "--format", "domains",
                             "--category", "malware", str(big)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env)
    try:
        deadline = time.time() + 120
        line = ""
        while "pausing before commit" not in line and time.time() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "pausing before commit" in line
        # All 300,000 entries are written into the open txn; readers are not blocked meanwhile.
        assert "not listed" in lookup(store, "host1.big1.example")
        assert generation(store) == g
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert generation(store) == g
    assert "not listed" in lookup(store, "host1.big1.example")
    assert "ads" in lookup(store, "base.example")
    assert "ok" in db(store, "verify").stdout
    # The writer lock of the dead process does not block the next import.
    db(store, "import", "--source", "big", "--format", "domains", "--category", "malware", big)
    assert generation(store) == g + 1
    assert "malware" in lookup(store, "host1.big1.example")


def test_kill9_at_random_points(store, tmp_path):
    db(store, "import", "--source", "base", "--format", "domains", "--category", "ads", "-", input="base.example\n")
    big = tmp_path / "big.txt"
    big_list(big, 600000)
    for delay in (0.2, 0.5, 0.9):
        g = generation(store)
        proc = subprocess.Popen([CLI, "db", "--db", str(store), "import", "--source", "big", "--format",
                                 "domains", "--category", "malware", str(big)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after = generation(store)
        assert after in (g, g + 1)
        listed = "malware" in lookup(store, "host5.big5.example")
        assert listed == (after == g + 1 or g > 1)
        assert "ok" in db(store, "verify").stdout
        assert "ads" in lookup(store, "base.example")


def test_filter_bench_setup_path(tmp_path):
    """bench/filter/run.sh --setup-only with tiny sizes: what it writes must be usable as is (the
    benchmark itself is not a test; this keeps its setup from rotting)."""
    out = tmp_path / "filter"
    env = dict(os.environ, BUILD_DIR=str(BUILD_DIR), SEKISHO_CLI=CLI, FILTER_N="3000", UNBOUND_N="1000",
               FILTER_BLOCKED="100", BENCH_NAMES="100")
    p = subprocess.run([str(SOURCE_DIR / "bench/filter/run.sh"), "--quick", "--setup-only", str(out)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    store = out / "store"
    assert "malware" in lookup(store, "www.b7.bench.example")
    assert "not listed" in lookup(store, "n7.bench.example")
    zones = (out / "local-zones.conf").read_text().splitlines()
    assert len(zones) == 1000 and 'local-zone: "b7.bench.example." always_null' in zones
    for wl, allowed in (("filter", 80), ("blocked", 0)):
        queries = (out / wl / "queries.txt").read_text().splitlines()
        assert len(queries) == 100
        assert sum(q.startswith("n") for q in queries) == allowed
        blocked = [q for q in queries if not q.startswith("n")]
        assert sum(q.startswith("www.b") for q in blocked) == len(blocked) // 5
        zone = (out / wl / "zone.txt").read_text()
        assert all(q.split()[0].replace(".bench.example", "") + " A" in zone for q in queries[:20])
        # each variant differs from sekishod in the one setting it names
        base = (out / wl / "sekishod.yaml.in").read_text().splitlines()
        for name, changed in (("sekishod_nolog", ("    log: full", "    log: none")),
                              ("sekishod_off_log", ("    block: [malware, phishing, adult]", "    block: []"))):
            variant = (out / wl / ("%s.yaml.in" % name)).read_text().splitlines()
            assert [(a, b) for a, b in zip(base, variant) if a != b] == [changed] and len(base) == len(variant)
        for name in ("sekishod", "sekishod_nolog", "sekishod_off_log", "sekishod_off"):
            conf = out / wl / ("%s.yaml" % name)
            conf.write_text((out / wl / ("%s.yaml.in" % name)).read_text()
                            .replace("@PORT@", "5399").replace("@KNOT_PORT@", "5398"))
            c = subprocess.run([CLI, "check-config", str(conf)], capture_output=True, text=True, timeout=30)
            assert c.returncode == 0, c.stdout + c.stderr
        # the CLI finds the store through sekishod's configuration
        assert "malware" in subprocess.run([CLI, "db", "--config", str(out / wl / "sekishod.yaml"), "lookup",
                                            "b3.bench.example"], capture_output=True, text=True, timeout=30).stdout
        unbound = out / wl / "unbound.conf"
        unbound.write_text((out / wl / "unbound.conf.in").read_text().replace("@PORT@", "5399")
                           .replace("@KNOT_PORT@", "5398").replace("@RUNDIR@", str(tmp_path)))
        if shutil.which("unbound-checkconf"):
            c = subprocess.run(["unbound-checkconf", str(unbound)], capture_output=True, text=True, timeout=60)
            assert c.returncode == 0, c.stdout + c.stderr
