"""tests/e2e/test_package.py — the Debian package, built, installed, run and purged on this machine.

`cmake --build BUILD --target package` (the README's command) writes build/sekisho_<version>_<arch>.deb;
its file list, control fields (Depends computed by dpkg-shlibdeps) and conffiles are checked and
lintian must report no error. It is then installed for real with `dpkg -i` (the test machine is
disposable; CI runs as root): the system user, the state directories and their owners, the units
under `systemd-analyze verify` (man pages named in Documentation= included). The installed sekishod
runs as the packaged user with the packaged configuration — only its listen address and upstream
changed to this test's loopback ports, and an admin token added — and must answer kdig through a
knotd upstream; its admin API must be able to create a tenant (a write into /var/lib/sekisho, which
the issue found failing under /etc); `sekisho device add` and a SIGHUP reload must be in the audit
log. Last, `dpkg --purge` must leave none of the package's files or state behind. The machine is
left as it was even when a step fails: the module's fixture purges, and removes the sekisho user
and group it made.
"""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from clients import kdig
from netutil import free_port
from upstreams import KnotUpstream

SOURCE_DIR = Path(os.environ.get("SEKISHO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("SEKISHO_BUILD_DIR", SOURCE_DIR / "build"))
VERSION = re.search(r"project\(sekisho VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text()).group(1)
UNITS = ["sekishod.service", "sekisho-intercept.service", "sekisho-feed.service"]
PROGRAMS = ["/usr/sbin/sekishod", "/usr/sbin/sekisho-intercept", "/usr/sbin/sekisho-feed", "/usr/bin/sekisho"]
MAN_PAGES = ["/usr/share/man/man8/sekishod.8.gz", "/usr/share/man/man1/sekisho.1.gz",
             "/usr/share/man/man8/sekisho-intercept.8.gz", "/usr/share/man/man8/sekisho-feed.8.gz",
             "/usr/share/man/man5/sekisho.yaml.5.gz"]
EXPECTED = PROGRAMS + MAN_PAGES + ["/usr/lib/systemd/system/" + u for u in UNITS] + [
    "/usr/lib/sysusers.d/sekisho.conf", "/usr/lib/tmpfiles.d/sekisho.conf", "/etc/sekisho/sekisho.yaml",
    "/usr/share/doc/sekisho/README.md", "/usr/share/doc/sekisho/copyright",
    "/usr/share/doc/sekisho/changelog.gz"]
# What sekisho writes at run time, which purge must remove too.
STATE = ["/var/lib/sekisho", "/var/lib/sekisho-categories", "/var/log/sekisho", "/etc/sekisho"]


def run(argv, timeout=300, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def installed_version():
    p = run(["dpkg-query", "-W", "-f=${Status}", "sekisho"])
    return p.returncode == 0 and "installed" in p.stdout and "not-installed" not in p.stdout


@pytest.fixture(scope="module")
def deb():
    if os.geteuid() != 0:
        pytest.fail("installing a package needs root (CI runs as root): the package is not tested")
    for tool in ("dpkg", "dpkg-deb", "dpkg-shlibdeps", "lintian", "systemd-analyze", "setpriv", "kdig"):
        if shutil.which(tool) is None:
            pytest.fail("%s is not installed (.ci/setup installs it): the package is not tested" % tool)
    p = run(["cmake", "--build", str(BUILD_DIR), "--target", "package"], timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    path = BUILD_DIR / ("sekisho_%s_%s.deb" % (VERSION, arch))
    assert path.exists(), "no %s after the package target: %s" % (path, p.stdout[-2000:])
    return path


def test_contents_and_control(deb):
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines() if not line.startswith("d")}
    missing = [f for f in EXPECTED if f not in files]
    assert not missing, "not in the package: %s\n%s" % (missing, listing)
    assert not any("/usr/local" in f for f in files), listing
    # The units point at the packaged programs and pages, not at /usr/local.
    with tempfile.TemporaryDirectory() as tmp:
        assert run(["dpkg-deb", "-x", str(deb), tmp]).returncode == 0
        for unit in UNITS:
            text = (Path(tmp) / "usr/lib/systemd/system" / unit).read_text()
            execs = re.findall(r"^Exec\w+=(?:[-@:+!]*)(\S+)", text, re.M)
            assert execs and all(e in PROGRAMS or e == "/bin/kill" for e in execs), (unit, execs)
            assert re.search(r"^Documentation=man:", text, re.M), unit
        assert "tenants_dir: /var/lib/sekisho/tenants.d" in (Path(tmp) / "etc/sekisho/sekisho.yaml").read_text()
    fields = run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends"]).stdout
    assert "Package: sekisho" in fields and ("Version: %s" % VERSION) in fields, fields
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    # Computed from the programs' ELF files (dpkg-shlibdeps), beside the ones named by hand.
    for lib in ("libuv1", "liblmdb0", "libldns3", "libyaml-cpp0.7", "libssl3", "libsystemd0", "libcurl4"):
        assert lib in depends, depends
    conffiles = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split()
    assert conffiles == ["/etc/sekisho/sekisho.yaml"], conffiles


def test_lintian_reports_no_errors(deb):
    p = run(["lintian", "--tag-display-limit", "0", str(deb)], timeout=600)
    errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
    assert not errors, p.stdout
    assert "E:" not in p.stderr, p.stderr


@pytest.fixture(scope="module")
def installed(deb):
    if installed_version():
        pytest.fail("a sekisho package is already installed on this machine; this test installs and purges its own")
    had_user = _exists(pwd.getpwnam, "sekisho")
    had_group = _exists(grp.getgrnam, "sekisho")
    try:
        p = run(["dpkg", "-i", str(deb)])
        assert p.returncode == 0, p.stdout + p.stderr
        yield deb
    finally:
        if installed_version() or run(["dpkg-query", "-W", "sekisho"]).returncode == 0:
            run(["dpkg", "--purge", "sekisho"])
        if not had_user and _exists(pwd.getpwnam, "sekisho"):
            run(["userdel", "sekisho"])
        if not had_group and _exists(grp.getgrnam, "sekisho"):
            run(["groupdel", "sekisho"])


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def owner(path):
    st = os.stat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777


def test_installed_files_user_and_state_directories(installed):
    for f in EXPECTED:
        assert os.path.exists(f), f
    for prog in PROGRAMS:
        assert os.access(prog, os.X_OK), prog
        p = run([prog, "--version"])
        assert p.stdout == "%s %s\n" % (os.path.basename(prog), VERSION), p.stdout + p.stderr
    user = pwd.getpwnam("sekisho")
    assert user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin", user
    assert owner("/var/lib/sekisho") == ("sekisho", "sekisho", 0o750)
    assert owner("/var/lib/sekisho/tenants.d") == ("sekisho", "sekisho", 0o750)
    assert owner("/var/lib/sekisho-categories") == ("root", "sekisho", 0o2770)
    assert owner("/var/log/sekisho/audit.jsonl") == ("sekisho", "sekisho", 0o640)
    # The packaged configuration is valid as installed, for the packaged user too.
    p = run(["setpriv", "--reuid=sekisho", "--regid=sekisho", "--init-groups", "--",
             "/usr/sbin/sekishod", "--check-config", "/etc/sekisho/sekisho.yaml"])
    assert p.returncode == 0, p.stdout + p.stderr
    p = run(["man", "-w", "sekishod"])
    assert p.stdout.strip() == "/usr/share/man/man8/sekishod.8.gz", p.stdout + p.stderr


def test_installed_units_verify(installed):
    # With the man pages installed, verify also checks each Documentation=man: page exists.
    p = run(["systemd-analyze", "verify", *["/usr/lib/systemd/system/" + u for u in UNITS]], timeout=120)
    assert p.returncode == 0, p.stderr
    assert "sekisho" not in p.stderr, p.stderr


def api(port, token, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def audit_lines():
    return [json.loads(line) for line in Path("/var/log/sekisho/audit.jsonl").read_text().splitlines() if line]


def test_installed_sekishod_runs_as_the_packaged_user(installed, tmp_path_factory):
    work = Path(tempfile.mkdtemp(prefix="sekisho-package-", dir="/tmp"))
    os.chmod(work, 0o755)
    knot = KnotUpstream(tmp_path_factory.mktemp("knot")).start()
    proc = None
    try:
        p = run(["/usr/bin/sekisho", "admin", "token", "--role", "operator", "--name", "package-test"])
        assert p.returncode == 0, p.stderr
        token = re.search(r"^token: (\S+)", p.stdout, re.M).group(1)
        entry = re.search(r"^\s+- \{.*\}$", p.stdout, re.M).group(0).strip()
        packaged = Path("/etc/sekisho/sekisho.yaml").read_text()
        for attempt in range(3):
            dns_port, admin_port = free_port(), free_port()
            text = packaged
            # Only what a test on a shared machine must change: ports, the upstream, a token.
            for old, new in (
                    ('dns: ["127.0.0.1:53", "[::1]:53"]', 'dns: ["127.0.0.1:%d"]' % dns_port),
                    ("#upstreams:\n", "upstreams: [\"%s\"]\n" % knot.address),
                    ('  #listen: ["127.0.0.1:8053"]\n  #tokens: []\n',
                     '  listen: ["127.0.0.1:%d"]\n  tokens:\n    %s\n' % (admin_port, entry))):
                assert old in text, "the packaged configuration changed: %r is not in it" % old
                text = text.replace(old, new)
            config = work / "sekisho.yaml"
            config.write_text(text)
            os.chmod(config, 0o644)
            stderr = open(work / "sekishod.stderr", "w")
            proc = subprocess.Popen(["setpriv", "--reuid=sekisho", "--regid=sekisho", "--init-groups", "--",
                                     "/usr/sbin/sekishod", "--config", str(config)], stdout=stderr, stderr=stderr)
            answer = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None and answer is None:
                data, _ = kdig("127.0.0.1", dns_port, "www.test.example", "A")
                if data and data.get("RCODE") == 0 and data.get("answerRRs"):
                    answer = data
                else:
                    time.sleep(0.2)
            log = (work / "sekishod.stderr").read_text()
            if answer or "in use" not in log:
                break
            proc.wait(5)
        assert answer, "no answer from the installed sekishod: %s" % (work / "sekishod.stderr").read_text()[-3000:]
        assert [a.get("rdataA") for a in answer["answerRRs"]] == ["192.0.2.1"], answer  # knotd's zone
        # setpriv execs sekishod: the same pid, now the packaged user's.
        assert pwd.getpwuid(os.stat("/proc/%d" % proc.pid).st_uid).pw_name == "sekisho"

        # The admin API writes a tenant into the state directory (the packaged tenants_dir).
        status, body = api(admin_port, token, "POST", "tenants", {"id": "pkg", "networks": ["10.77.0.0/16"]})
        assert status == 201, body
        written = Path("/var/lib/sekisho/tenants.d/pkg.yaml")
        assert written.exists() and owner(written)[0] == "sekisho"
        assert not list(Path("/etc/sekisho").glob("tenants.d")), "nothing may be written under /etc/sekisho"

        # sekisho device (as root, like an admin) and a SIGHUP reload, both in the audit log.
        p = run(["/usr/bin/sekisho", "device", "add", "--config", str(config), "--tenant", "pkg",
                 "--device", "phone"])
        assert p.returncode == 0, p.stdout + p.stderr
        generation = api(admin_port, token, "GET", "tenants")[1]["generation"]
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and api(admin_port, token, "GET", "tenants")[1]["generation"] == generation:
            time.sleep(0.1)
        status, devices = api(admin_port, token, "GET", "tenants/pkg/devices")
        assert status == 200 and [d["name"] for d in devices["devices"]] == ["phone"], devices
        lines = audit_lines()
        whats = [(l["who"], l["source"], l["what"], l["tenant"], l["outcome"]) for l in lines]
        assert ("package-test", "127.0.0.1", "create tenant", "pkg", "ok") in whats, whats
        assert ("root", "cli", "add device", "pkg", "ok") in whats, whats
        reloads = [l for l in lines if l["what"] == "reload" and l["who"] == "SIGHUP"]
        assert len(reloads) == 1 and reloads[0]["outcome"] == "ok", lines
        assert reloads[0]["after"] > reloads[0]["before"], reloads
        assert all("token" not in json.dumps(l.get("after")) for l in lines), lines
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", reloads[0]["time"]), reloads[0]
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        knot.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_purge_leaves_nothing(installed):
    # A category store an admin imported, and a CA: purge removes state, not only the package's files.
    p = run(["/usr/bin/sekisho", "db", "import", "--source", "t", "--format", "domains", "--category", "gambling",
             "-"], input="casino.example\n")
    assert p.returncode == 0, p.stdout + p.stderr
    assert os.path.exists("/var/lib/sekisho-categories/categories")
    p = run(["dpkg", "--purge", "sekisho"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert not installed_version()
    left = [f for f in EXPECTED + STATE if os.path.lexists(f)]
    assert not left, "left after purge: %s" % left
