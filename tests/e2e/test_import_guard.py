"""tests/e2e/test_import_guard.py — an update never destroys good data, end to end.

The real `sekisho db` CLI against a real store holding a real list (URLhaus's hosts file from
../shared/data): an HTML error page, an empty file, binary data, a file whose every line is refused
and an update that would remove most of the source are refused with a non-zero exit and a message
naming why, and the source keeps its entries (the generation does not move, lookups answer as
before); --max-shrink and --allow-shrink force a shrink. Public suffixes in a list are refused and
counted unless the source allows them. UT1 categories usable both ways are categorised. And
`sekisho db export` imports back into a fresh store exactly: the same export, the same lookups.
No network at all.
"""
import gzip
import os
import re
import subprocess
from pathlib import Path

import pytest

CLI = os.environ.get("SEKISHO_CLI", "sekisho")
SOURCE_DIR = Path(os.environ.get("SEKISHO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
DATA = (SOURCE_DIR / ".." / "shared" / "data").resolve()
HOSTS = DATA / "urlhaus" / "urlhaus-filter-hosts.txt"


@pytest.fixture(autouse=True)
def shared_data():
    # CI checks the repository out beside ../shared, so the real lists are always there.
    if not DATA.is_dir():
        pytest.fail("the real lists are missing: expected %s (../shared/data beside the repository)" % DATA)


def db(store, *args, input=None, check=True):
    p = subprocess.run([CLI, "db", "--db", str(store), *map(str, args)], input=input,
                       capture_output=True, text=True, timeout=240)
    if check and p.returncode != 0:
        raise AssertionError(f"sekisho db {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def stats(store):
    out = db(store, "stats").stdout
    gen = int(re.search(r"^generation: (\d+)$", out, re.M).group(1))
    sources = dict((m.group(1), int(m.group(2)))
                   for m in re.finditer(r"^  ([\w-]+): id \d+, format \w+, (\d+) domain entries", out, re.M))
    return gen, sources


def hosts_names():
    return [l.split()[1] for l in HOSTS.read_text().splitlines() if l.startswith("0.0.0.0 ")]


@pytest.fixture
def urlhaus(tmp_path):
    """A store with the URLhaus hosts list as source 'urlhaus' (2,689 entries)."""
    store = tmp_path / "categories"
    out = db(store, "import", "--source", "urlhaus", "--format", "hosts", "--category", "malware", HOSTS).stdout
    assert "2689 taken, 0 refused" in out, out
    return store


def import_hosts(store, path, *extra):
    return db(store, "import", "--source", "urlhaus", "--format", "hosts", "--category", "malware", *extra, path,
              check=False)


def assert_kept(store, before, p, reason):
    """The import `p` was refused for `reason`, and the store is as `before` left it."""
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "sekisho db import: refused (%s): " % reason in p.stderr, p.stderr
    assert "nothing written: source 'urlhaus' keeps its 2689 entries" in p.stderr, p.stderr
    assert stats(store) == before
    names = hosts_names()
    for name in (names[0], names[len(names) // 2], names[-1]):
        out = db(store, "lookup", name).stdout
        assert "verdict: listed" in out and "categories: malware" in out, out


ERROR_PAGE = """<!DOCTYPE html>
<html>
<head><title>503 Service Temporarily Unavailable</title></head>
<body>
<center><h1>503 Service Temporarily Unavailable</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def test_error_pages_empty_and_binary_files_are_refused(urlhaus, tmp_path):
    before = stats(urlhaus)
    assert before[1] == {"urlhaus": 2689}
    page = tmp_path / "hosts.txt"
    page.write_text(ERROR_PAGE)
    p = import_hosts(urlhaus, page)
    assert_kept(urlhaus, before, p, "markup")
    assert "hosts.txt: an HTML or XML document (it starts with '<!DOCTYPE html>'), not a list" in p.stderr
    # Without a DOCTYPE, with CRLF, gzip-compressed, through stdin: the same.
    gz = tmp_path / "hosts.txt.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"\r\n<html>\r\n<head><title>404 Not Found</title></head>\r\n</html>\r\n")
    assert_kept(urlhaus, before, import_hosts(urlhaus, gz), "markup")
    p = db(urlhaus, "import", "--source", "urlhaus", "--format", "hosts", "--category", "malware", "-",
           input=ERROR_PAGE, check=False)
    assert_kept(urlhaus, before, p, "markup")
    # The adblock and domains parsers would refuse the page line by line; it is refused whole.
    for fmt in ("domains", "adblock", "rpz", "csv"):
        p = db(urlhaus, "import", "--source", "urlhaus", "--format", fmt, "--category", "malware", page, check=False)
        assert_kept(urlhaus, before, p, "markup")

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    p = import_hosts(urlhaus, empty)
    assert_kept(urlhaus, before, p, "empty")
    assert "empty.txt: empty (0 bytes)" in p.stderr
    assert_kept(urlhaus, before, import_hosts(urlhaus, empty, "--strict"), "empty")
    assert_kept(urlhaus, before, import_hosts(urlhaus, empty, "--allow-shrink"), "empty")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n")
    assert_kept(urlhaus, before, import_hosts(urlhaus, blank), "empty")
    comments = tmp_path / "comments.txt"
    comments.write_text("# Title: Malicious Hosts Blocklist\n# Updated: never\n")
    assert_kept(urlhaus, before, import_hosts(urlhaus, comments), "no-entries")

    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    p = import_hosts(urlhaus, binary)
    assert_kept(urlhaus, before, p, "binary")
    assert "binary data (a NUL byte at offset 0)" in p.stderr


def test_a_file_of_refused_lines_is_refused(urlhaus, tmp_path):
    before = stats(urlhaus)
    junk = tmp_path / "junk.txt"
    junk.write_text('{"error": "rate limited", "retry_after": 3600}\nService Unavailable\n')
    p = import_hosts(urlhaus, junk)
    assert_kept(urlhaus, before, p, "all-refused")
    assert "junk.txt: every line was refused (2 of 2), no entry taken" in p.stderr
    assert "read %s: 2 lines, 0 taken, 2 refused" % junk in p.stdout
    # The domains list given as hosts: every line refused, the same.
    p = import_hosts(urlhaus, DATA / "urlhaus" / "urlhaus-filter-domains.txt")
    assert_kept(urlhaus, before, p, "all-refused")


def test_shrink_is_refused_unless_allowed(urlhaus, tmp_path):
    before = stats(urlhaus)
    lines = HOSTS.read_text().splitlines(keepends=True)
    entries = [l for l in lines if l.startswith("0.0.0.0 ")]
    # A download cut short: the first 1,000 names are left, 1,689 of 2,689 would go (62.8 %).
    truncated = tmp_path / "truncated.txt"
    truncated.write_text("".join(entries[:1000]))
    p = import_hosts(urlhaus, truncated)
    assert_kept(urlhaus, before, p, "shrink")
    assert ("the update would remove 1689 of the source's 2689 entries (62.8%), more than the 50% allowed "
            "(--max-shrink PERCENT or --allow-shrink to force it)") in p.stderr, p.stderr
    assert "read %s: 1000 lines, 1000 taken, 0 refused" % truncated in p.stdout
    # Removing exactly half is allowed by the default limit (not more than half).
    half = tmp_path / "half.txt"
    half.write_text("".join(entries[:1345]))  # removes 1,344 of 2,689
    p = import_hosts(urlhaus, half)
    assert p.returncode == 0, p.stderr
    gen, sources = stats(urlhaus)
    assert (gen, sources) == (before[0] + 1, {"urlhaus": 1345})
    assert "not listed" in db(urlhaus, "lookup", entries[-1].split()[1], check=False).stdout
    # Back to the whole list (only additions), then a per-call limit above the shrink.
    assert import_hosts(urlhaus, HOSTS).returncode == 0
    p = import_hosts(urlhaus, truncated, "--max-shrink", "60")
    assert p.returncode == 1 and "refused (shrink)" in p.stderr and "more than the 60% allowed" in p.stderr
    assert stats(urlhaus)[1] == {"urlhaus": 2689}
    p = import_hosts(urlhaus, truncated, "--max-shrink", "63")
    assert p.returncode == 0, p.stderr
    assert stats(urlhaus)[1] == {"urlhaus": 1000}
    assert import_hosts(urlhaus, HOSTS).returncode == 0
    # --allow-shrink forces any shrink, down to one entry.
    one = tmp_path / "one.txt"
    one.write_text(entries[0])
    p = import_hosts(urlhaus, one, "--allow-shrink")
    assert p.returncode == 0, p.stderr
    assert stats(urlhaus)[1] == {"urlhaus": 1}
    # Bad limits are usage errors.
    for bad in (["--max-shrink", "150"], ["--max-shrink", "half"], ["--max-shrink", "10", "--allow-shrink"]):
        p = import_hosts(urlhaus, HOSTS, *bad)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)
    # Other sources do not count: a second source sharing every name leaves the guard as it was.
    assert db(urlhaus, "import", "--source", "copy", "--format", "hosts", "--category", "phishing", HOSTS).returncode == 0
    assert import_hosts(urlhaus, HOSTS).returncode == 0
    assert_kept_urlhaus = stats(urlhaus)
    p = import_hosts(urlhaus, truncated)
    assert p.returncode == 1 and "refused (shrink)" in p.stderr
    assert stats(urlhaus) == assert_kept_urlhaus


def test_public_suffixes_are_refused_unless_the_source_allows_them(tmp_path):
    store = tmp_path / "categories"
    lst = tmp_path / "list.txt"
    lst.write_text("# a list with registries in it\ncom\nco.jp\n*.uk\nbad.example.com\nads.example.co.jp\n")
    p = db(store, "import", "--source", "l", "--format", "domains", "--category", "malware", lst)
    assert "6 lines, 2 taken, 3 refused (3 public suffixes), 1 ignored" in p.stdout, p.stdout
    assert "list.txt:2: a public suffix, not an entry" in p.stderr, p.stderr
    assert "list.txt:3: a public suffix" in p.stderr and "list.txt:4: a public suffix" in p.stderr
    assert "not listed" in db(store, "lookup", "google.com", check=False).stdout
    assert "not listed" in db(store, "lookup", "www.yahoo.co.jp", check=False).stdout
    assert "malware" in db(store, "lookup", "x.bad.example.com").stdout
    # A list of nothing but suffixes is refused whole.
    only = tmp_path / "only.txt"
    only.write_text("com\nnet\n")
    p = db(store, "import", "--source", "l", "--format", "domains", "--category", "malware", only, check=False)
    assert p.returncode == 1 and "refused (all-refused)" in p.stderr
    # A source that means it.
    p = db(store, "import", "--source", "tlds", "--format", "domains", "--category", "malware",
           "--allow-public-suffixes", only)
    assert "2 taken, 0 refused" in p.stdout
    out = db(store, "lookup", "google.com").stdout
    assert "entry: com (parent, subtree entry)" in out and "tlds" in out


def test_ut1_usage_both_ways_is_categorised(tmp_path):
    tree = tmp_path / "ut1"
    for d, domains, usage in (("chat", "teams.live.com\n", "black\nwhite\n"),
                              ("liste_blanche", "school.example\n", "white\n"),
                              ("gambling", "casino.example\n", "black\n")):
        (tree / d).mkdir(parents=True)
        (tree / d / "domains").write_text(domains)
        (tree / d / "usage").write_text(usage)
    (tree / "global_usage").write_text("NAME:\tchat\nDEFAULT_TYPE: black\n")
    store = tmp_path / "categories"
    db(store, "import", "--source", "ut1", "--format", "ut1", tree)
    out = db(store, "lookup", "teams.live.com").stdout
    assert "verdict: listed" in out and "categories: chat" in out, out
    out = db(store, "lookup", "school.example").stdout
    assert "verdict: allow-listed" in out, out
    # The real collection: liste_blanche (white only) is the one allow list in the sample.
    real = tmp_path / "real"
    db(real, "import", "--source", "ut1", "--format", "ut1", DATA / "ut1")
    allow = (DATA / "ut1" / "liste_blanche" / "domains").read_text().split()[0]
    assert "allow-listed" in db(real, "lookup", allow).stdout


def test_export_imports_back_exactly(tmp_path):
    a = tmp_path / "a"
    db(a, "import", "--source", "ut1", "--format", "ut1", DATA / "ut1")
    db(a, "import", "--source", "referral", "--format", "adblock", DATA / "adblock" / "hagezi-whitelist-referral.txt")
    first = db(a, "export").stdout
    assert first.startswith("name,categories,scope\n")
    rows = first.splitlines()[1:]
    assert any(r.endswith(",url") for r in rows)                      # URL entries are in it
    assert any(re.match(r"^[^,]+,malware;phishing,subtree$", r) for r in rows)  # every category
    assert any(r.endswith(",exact") for r in rows)                    # IPv4 literals are exact
    assert any(",allowlist," in r for r in rows)
    export = tmp_path / "export.csv"
    export.write_text(first)
    b = tmp_path / "b"
    p = db(b, "import", "--source", "restored", "--format", "csv", export)
    assert " 0 refused" in p.stdout, p.stdout
    assert db(b, "export").stdout == first
    # Lookups answer the same (names, subdomains, URLs), up to the sources' names.
    urls = [r.rsplit(",", 2)[0].strip('"') for r in rows if r.endswith(",url")]
    names = [r.split(",")[0] for r in rows if not r.endswith(",url")]
    probes = names[::997] + ["www." + n for n in names[::1999]] + urls[::211] + [u + "/deeper" for u in urls[::401]]
    probes += ["example.invalid", "www.google.com"]
    assert len(probes) > 200

    def answers(store):
        out = db(store, "lookup", *probes, check=False).stdout
        return [l for l in out.splitlines() if not l.startswith(("sources:", "url sources:", "generation:"))]
    assert answers(a) == answers(b)
    # One source's export is that source, imported back under its name.
    one = db(a, "export", "--source", "referral").stdout
    (tmp_path / "referral.csv").write_text(one)
    c = tmp_path / "c"
    db(c, "import", "--source", "referral", "--format", "csv", tmp_path / "referral.csv")
    assert db(c, "export", "--source", "referral").stdout == one
