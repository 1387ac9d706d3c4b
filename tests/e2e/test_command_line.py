"""The command line of all three programs (base/command_line.h): --version prints the version of
CMakeLists.txt's project() everywhere, an option's value may follow it as `--x y` or `--x=y`, every
command and subcommand answers --help (and the word `help` where a subcommand goes), and bad usage
is one message on stderr naming the command, nothing on stdout, and exit status 2."""
import os
import pathlib
import re
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or pathlib.Path(__file__).resolve().parents[2] / "build")
SOURCE = pathlib.Path(os.environ.get("SEKISHO_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[2])
SEKISHOD = os.environ.get("SEKISHOD") or str(BUILD / "daemon" / "sekishod")
INTERCEPT = os.environ.get("SEKISHO_INTERCEPT") or str(BUILD / "intercept" / "sekisho-intercept")
CLI = os.environ.get("SEKISHO_CLI") or str(BUILD / "admin" / "sekisho")
FEED = os.environ.get("SEKISHO_FEED") or str(BUILD / "feed" / "sekisho-feed")
PROGRAMS = {"sekishod": SEKISHOD, "sekisho-intercept": INTERCEPT, "sekisho": CLI, "sekisho-feed": FEED}

CONFIG = """server:
  listen:
    dns: ["127.0.0.1:0"]
upstreams: [127.0.0.1:53]
tenants:
  - id: acme
    networks: ["10.1.0.0/16"]
    policy: office
policies:
  office:
    block: [gambling]
"""

# Every command that takes options, as typed after the program's name.
COMMANDS = [["sekishod"], ["sekisho-intercept"], ["sekisho"], ["sekisho", "check-config"], ["sekisho", "version"],
            ["sekisho", "db"], *[["sekisho", "db", c] for c in ("import", "lookup", "stats", "export", "remove-source",
                                                                 "verify", "compact", "categories")],
            ["sekisho", "ca"], ["sekisho", "ca", "init"], ["sekisho", "ca", "export"],
            ["sekisho", "admin"], ["sekisho", "admin", "token"],
            ["sekisho", "device"], *[["sekisho", "device", c] for c in ("add", "list", "revoke")],
            ["sekisho", "profile"], ["sekisho", "profile", "apple"], ["sekisho", "profile", "android"],
            ["sekisho", "feed"], ["sekisho", "feed", "status"], ["sekisho-feed"],
            ["sekisho", "fleet"], *[["sekisho", "fleet", c] for c in ("init", "migrate", "import-yaml", "export-yaml",
                                                                     "status")]]


def run(program, *args, input=None):
    return subprocess.run([PROGRAMS[program], *map(str, args)], capture_output=True, text=True, input=input,
                          timeout=60)


def project_version():
    m = re.search(r"project\(sekisho VERSION (\S+)", (SOURCE / "CMakeLists.txt").read_text())
    assert m, "no project(sekisho VERSION …) in CMakeLists.txt"
    return m.group(1)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sekisho.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_version_is_the_projects(program):
    p = run(program, "--version")
    assert (p.returncode, p.stdout, p.stderr) == (0, "%s %s\n" % (program, project_version()), "")


def test_sekisho_version_command_says_the_same():
    p = run("sekisho", "version")
    assert (p.returncode, p.stdout) == (0, "sekisho %s\n" % project_version())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    p = run(command[0], *command[1:], "--help")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "Usage: %s " % " ".join(command) in p.stdout, p.stdout
    assert "--help" in p.stdout


@pytest.mark.parametrize("command", [["sekisho"], ["sekisho", "db"], ["sekisho", "ca"], ["sekisho", "device"],
                                     ["sekisho", "profile"], ["sekisho", "admin"], ["sekisho", "feed"], ["sekisho", "fleet"]],
                         ids=" ".join)
def test_help_word_where_a_subcommand_goes(command):
    p = run(command[0], *command[1:], "help")
    assert p.returncode == 0 and p.stdout == run(command[0], *command[1:], "--help").stdout


@pytest.mark.parametrize("program", ["sekishod", "sekisho-intercept"])
def test_servers_check_config_with_either_spelling(program, config):
    for args in (["--check-config", config], ["--check-config=%s" % config]):
        p = run(program, *args)
        assert (p.returncode, p.stdout) == (0, "%s: ok\n" % config), p.stderr


def test_sekisho_options_with_either_spelling(tmp_path, config):
    # The store: the same import and lookup both ways, the store's options before or after the command.
    for n, spell in enumerate((lambda k, v: [k, v], lambda k, v: ["%s=%s" % (k, v)])):
        store = tmp_path / ("store%d" % n)
        p = run("sekisho", "db", *spell("--db", store), "import", *spell("--source", "s"), *spell("--format", "domains"),
                *spell("--category", "ads"), *spell("--category", "malware"), "-", input="one.example\n")
        assert p.returncode == 0 and "1 taken" in p.stdout, p.stderr
        p = run("sekisho", "db", "lookup", *spell("--db", store), "www.one.example")
        assert p.returncode == 0 and re.search(r"^categories: malware,ads$", p.stdout, re.M), p.stdout
        # Devices, tokens and CAs.
        p = run("sekisho", "device", "list", *spell("--config", config), *spell("--tenant", "acme"))
        assert (p.returncode, p.stdout) == (0, ""), p.stderr
        p = run("sekisho", "admin", "token", *spell("--role", "tenant-admin"), *spell("--tenant", "acme"))
        assert p.returncode == 0 and 'tenant: "acme"' in p.stdout, p.stderr
        ca_dir = tmp_path / ("ca%d" % n)
        p = run("sekisho", "ca", "init", *spell("--dir", ca_dir), *spell("--tenant", "acme"))
        assert p.returncode == 0 and (ca_dir / "acme" / "ca.crt").exists(), p.stderr
        p = run("sekisho", "ca", "export", *spell("--dir", ca_dir), *spell("--tenant", "acme"))
        assert p.returncode == 0 and p.stdout.startswith("-----BEGIN CERTIFICATE-----"), p.stderr


BAD_USAGE = [
    # (program, args, the command named in the message, what the message says)
    ("sekishod", ["--bogus"], "sekishod", "--bogus"),
    ("sekishod", ["--config"], "sekishod", "--config"),
    ("sekishod", ["extra"], "sekishod", "extra"),
    ("sekisho-intercept", ["--bogus=1"], "sekisho-intercept", "--bogus"),
    ("sekisho-intercept", [], "sekisho-intercept", "--config FILE is required"),
    ("sekisho-feed", [], "sekisho-feed", "--config is required"),
    ("sekisho", ["feed", "status"], "sekisho feed status", "--config is required"),
    ("sekisho", ["fleet", "status"], "sekisho fleet status", "--config is required"),
    ("sekisho", [], "sekisho", "missing command"),
    ("sekisho", ["frobnicate"], "sekisho", "unknown command 'frobnicate'"),
    ("sekisho", ["--bogus"], "sekisho", "--bogus"),
    ("sekisho", ["check-config"], "sekisho check-config", "FILE is required"),
    ("sekisho", ["check-config", "a.yaml", "b.yaml"], "sekisho check-config", "b.yaml"),
    ("sekisho", ["db"], "sekisho db", "missing command"),
    ("sekisho", ["db", "frobnicate"], "sekisho db", "unknown command 'frobnicate'"),
    ("sekisho", ["db", "stats", "--urls"], "sekisho db stats", "--urls"),
    ("sekisho", ["db", "stats", "lookup"], "sekisho db stats", "lookup"),
    ("sekisho", ["db", "import", "--source", "s", "--format", "domains", "--category", "ads"], "sekisho db import",
     "INPUT is required"),
    ("sekisho", ["db", "import", "--source", "s", "--format", "nosuch", "-"], "sekisho db import",
     "unknown format 'nosuch'"),
    ("sekisho", ["db", "lookup", "--db"], "sekisho db lookup", "--db"),
    ("sekisho", ["ca", "init", "--dir", "a", "--config", "b"], "sekisho ca init", "give --dir or --config, not both"),
    ("sekisho", ["admin", "token", "--role", "root"], "sekisho admin token", "--role must be operator or tenant-admin"),
    ("sekisho", ["device", "add", "--config", "x.yaml", "--tenant", "acme"], "sekisho device add",
     "--device is required"),
    ("sekisho", ["device", "add", "--config", "x.yaml", "--tenant", "a", "--tenant", "b", "--device", "d"],
     "sekisho device add", "--tenant"),
    ("sekisho", ["profile", "windows", "--config", "x.yaml"], "sekisho profile", "unknown profile kind 'windows'"),
]


@pytest.mark.parametrize("program,args,command,message", BAD_USAGE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_usage_exits_2_naming_the_command(program, args, command, message, tmp_path):
    p = subprocess.run([PROGRAMS[program], *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       input="")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "", p.stdout
    first = p.stderr.splitlines()[0]
    assert first.startswith(command + ": ") and message in first, p.stderr


# ---------------------------------------------------------------------- what check-config catches

@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_check_config_refuses_a_key_written_twice(program, tmp_path):
    """The issue's case: a second `policies:` blocking gambling was read as nothing (yaml-cpp keeps
    the first), so check-config said ok and casino.example was not blocked."""
    path = tmp_path / "sekisho.yaml"
    path.write_text(CONFIG.replace("    block: [gambling]\n", "    block: [adult]\n") +
                    "policies:\n  office:\n    block: [gambling]\n")
    args = ["check-config", path] if program == "sekisho" else ["--check-config", path]
    p = run(program, *args)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "%s:12:1: policies: duplicate key (first written on line 9" % path in p.stderr, p.stderr


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_check_config_opens_the_category_store(program, tmp_path):
    """category_db must name a store that opens, as it will at start: not a missing directory, not a
    file, not a directory without a store. A real one (made by `sekisho db import`) passes."""
    not_a_store = tmp_path / "empty"
    not_a_store.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("names\n")
    store = tmp_path / "store"
    p = run("sekisho", "db", "--db", store, "import", "--source", "s", "--format", "domains",
            "--category", "gambling", "-", input="casino.example\n")
    assert p.returncode == 0, p.stderr
    path = tmp_path / "sekisho.yaml"
    args = ["check-config", path] if program == "sekisho" else ["--check-config", path]
    for db in (tmp_path / "missing", a_file, not_a_store):
        path.write_text(CONFIG + "category_db: %s\n" % db)
        p = run(program, *args)
        assert p.returncode == 1, "%s accepted category_db %s: %s" % (program, db, p.stdout + p.stderr)
        assert "%s:12:14: category_db: cannot open the category store" % path in p.stderr, p.stderr
        assert str(db) in p.stderr
    assert list(not_a_store.iterdir()) == [], "checking left files in a directory that holds no store"
    path.write_text(CONFIG + "category_db: %s\n" % store)
    p = run(program, *args)
    assert (p.returncode, p.stdout) == (0, "%s: ok\n" % path), p.stderr


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_check_config_warns_of_a_plain_http_admin_api_beyond_loopback(program, tmp_path):
    """admin.listen 0.0.0.0 over plain HTTP is valid (a firewall or a TLS proxy may front it) but
    sends tokens in clear: check-config says ok and warns, naming the setting; loopback does not."""
    path = tmp_path / "sekisho.yaml"
    args = ["check-config", path] if program == "sekisho" else ["--check-config", path]
    path.write_text(CONFIG + "admin:\n  listen: [\"0.0.0.0:0\"]\n")
    p = run(program, *args)
    assert (p.returncode, p.stdout) == (0, "%s: ok\n" % path), p.stderr
    assert "%s: warning: admin.listen 0.0.0.0:0 serves the admin API over plain HTTP beyond this host" % path in p.stderr, p.stderr
    path.write_text(CONFIG + "admin:\n  listen: [\"127.0.0.1:0\", \"[::1]:0\"]\n")
    p = run(program, *args)
    assert (p.returncode, p.stdout, p.stderr) == (0, "%s: ok\n" % path, ""), p.stderr
