"""tests/e2e/test_man_pages.py — the man pages render, and say everything the programs say.

Each page built from man/*.scd (scdoc) is rendered by man(1) with warnings on; then every option
and subcommand that the programs' own --help lists (every subcommand of `sekisho` walked down),
and every configuration key the loader accepts (read from its own "unknown key (expected one of:
…)" message for each section), must appear in the page that documents it. A new option, command
or key without its words in the man page fails here, so the pages cannot drift from the code.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("SEKISHO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("SEKISHO_BUILD_DIR", SOURCE_DIR / "build"))
MAN_DIR = BUILD_DIR / "man"
PROGRAMS = {  # program → its page
    "sekishod": (BUILD_DIR / "daemon" / "sekishod", "sekishod.8"),
    "sekisho-intercept": (BUILD_DIR / "intercept" / "sekisho-intercept", "sekisho-intercept.8"),
    "sekisho-feed": (BUILD_DIR / "feed" / "sekisho-feed", "sekisho-feed.8"),
    "sekisho": (BUILD_DIR / "admin" / "sekisho", "sekisho.1"),
}
PAGES = ["sekishod.8", "sekisho.1", "sekisho-intercept.8", "sekisho-feed.8", "sekisho.yaml.5"]


def project_version():
    m = re.search(r"project\(sekisho VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text())
    return m.group(1)


def render(page):
    """The page as man(1) shows it: one very wide line per paragraph (no breaks, so no hyphens)."""
    if shutil.which("man") is None:
        pytest.fail("man is not installed (.ci/setup installs man-db): the man pages are not checked")
    path = MAN_DIR / page
    assert path.exists(), "%s was not built (cmake --build builds man/)" % path
    env = dict(os.environ, MANWIDTH="2000", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    p = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", "%s: %s" % (page, p.stderr)
    return p.stdout


def mentioned(word, text):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), text) is not None


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    text = render(page)
    name = page.rsplit(".", 1)[0]
    assert re.search(r"^NAME\n\s+%s - \S" % re.escape(name), text, re.M), text[:400]
    for section in ("DESCRIPTION", "SEE ALSO"):
        assert re.search(r"^%s$" % section, text, re.M), "%s has no %s" % (page, section)


def help_tree(binary, words=()):
    """{command path: (options, subcommands)} from --help, walking every subcommand."""
    p = subprocess.run([str(binary), *words, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    options, subcommands, section = set(), [], None
    for line in p.stdout.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section == "Options":
            m = re.match(r"^\s+((?:-\w,)?-{1,2}[\w-]+)", line)
            if m:
                options.update(o for o in m.group(1).split(","))
        elif section == "Subcommands":
            m = re.match(r"^\s+([a-z][\w-]*)\s", line)
            if m and m.group(1) not in subcommands:
                subcommands.append(m.group(1))
    tree = {words: (options, subcommands)}
    for sub in subcommands:
        tree.update(help_tree(binary, words + (sub,)))
    return tree


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_option_and_subcommand_is_in_the_page(program):
    binary, page = PROGRAMS[program]
    text = render(page)
    tree = help_tree(binary)
    missing = []
    for path, (options, subcommands) in tree.items():
        for word in sorted(options) + subcommands:
            if not mentioned(word, text):
                missing.append("%s %s" % (" ".join((program,) + path), word))
    assert not missing, "not in %s: %s" % (page, ", ".join(missing))
    assert len(tree) >= (20 if program == "sekisho" else 1)  # the walk went down every command


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_version(program):
    binary, _ = PROGRAMS[program]
    p = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "%s %s\n" % (program, project_version()), (p.stdout, p.stderr)


# Every section the loader checks the keys of, as a YAML snippet with a key it does not know.
LISTEN = 'server:\n  listen:\n    dns: ["127.0.0.1:5399"]\n'
UP = "upstreams: [127.0.0.1:5398]\n"
KEY_PROBES = [
    LISTEN + UP + "zzbogus: 1\n",
    'server:\n  zzbogus: 1\n  listen:\n    dns: ["127.0.0.1:5399"]\n' + UP,
    'server:\n  listen:\n    zzbogus: 1\n    dns: ["127.0.0.1:5399"]\n' + UP,
    'server:\n  tcp: {zzbogus: 1}\n  listen:\n    dns: ["127.0.0.1:5399"]\n' + UP,
    'server:\n  tls: {zzbogus: 1}\n  listen:\n    dns: ["127.0.0.1:5399"]\n' + UP,
    LISTEN + "upstreams:\n  - {address: 127.0.0.1:53, zzbogus: 1}\n",
    *[LISTEN + UP + "%s:\n  zzbogus: 1\n" % s for s in
      ("cache", "forwarding", "limits", "log", "blockpage", "querylog", "intercept", "admin", "feed_service")],
    LISTEN + UP + "intercept:\n  limits:\n    zzbogus: 1\n",
    LISTEN + UP + "tenants:\n  - {id: a, networks: [10.0.0.0/8], policy: p, zzbogus: 1,"
                  " devices: [{name: d, token: abcdefgh12, zzbogus: 1}]}\n"
                  "policies:\n  p: {zzbogus: 1, schedule: [{zzbogus: 1}]}\n",
    LISTEN + UP + "category_db: /nonexistent\nfeeds:\n  - {zzbogus: 1}\n",
]


def test_every_configuration_key_is_in_sekisho_yaml_5(tmp_path):
    text = render("sekisho.yaml.5")
    binary = PROGRAMS["sekishod"][0]
    keys = set()
    for i, probe in enumerate(KEY_PROBES):
        path = tmp_path / ("probe%d.yaml" % i)
        path.write_text(probe)
        p = subprocess.run([str(binary), "--check-config", str(path)], capture_output=True, text=True, timeout=30)
        lists = re.findall(r"unknown key \(expected one of: ([^)]*)\)", p.stdout + p.stderr)
        assert lists, "probe %d named no keys: %s" % (i, p.stdout + p.stderr)
        for found in lists:
            keys.update(k.strip() for k in found.split(","))
    assert len(keys) > 100, sorted(keys)
    missing = sorted(k for k in keys if not mentioned(k, text))
    assert not missing, "keys not in sekisho.yaml(5): %s" % ", ".join(missing)
