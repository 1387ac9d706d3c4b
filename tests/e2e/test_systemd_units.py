"""tests/e2e/test_systemd_units.py — the unit files, sysusers.d and tmpfiles.d entries are valid and
agree with each other.

`systemd-analyze verify` checks every directive of the units against the installed systemd
(the ExecStart paths, /usr/sbin as packaged, are pointed at the build's binaries so that their
existence is checked too);
sysusers is parsed by `systemd-sysusers --dry-run`; both services must join the group that owns
the shared category store directory and be allowed to write there (LMDB reader slots).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("SEKISHO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("SEKISHO_BUILD_DIR", SOURCE_DIR / "build"))
SYSTEMD = SOURCE_DIR / "systemd"
UNITS = ["sekishod.service", "sekisho-intercept.service", "sekisho-feed.service"]
BINARIES = {"/usr/sbin/sekishod": BUILD_DIR / "daemon" / "sekishod",
            "/usr/sbin/sekisho-intercept": BUILD_DIR / "intercept" / "sekisho-intercept",
            "/usr/sbin/sekisho-feed": BUILD_DIR / "feed" / "sekisho-feed"}

@pytest.fixture
def needs_systemd():
    for tool in ("systemd-analyze", "systemd-sysusers"):
        if shutil.which(tool) is None:
            pytest.fail("%s is not installed (.ci/setup installs systemd): the units are not checked" % tool)


def directives(unit, key):
    return re.findall(rf"^{key}=(.*)$", (SYSTEMD / unit).read_text(), re.M)


def test_units_verify_with_systemd_analyze(needs_systemd, tmp_path):
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        for installed, built in BINARIES.items():
            text = text.replace(installed, str(built))
        (tmp_path / unit).write_text(text)
    # --man=no: the man pages of Documentation= are checked where they are installed
    # (e2e.test_package verifies the installed units with them).
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(tmp_path / u) for u in UNITS]],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # verify prints warnings without failing; a unit we ship must not have any.
    assert "sekisho" not in p.stderr, p.stderr


def test_shared_group_and_store_directory_agree(needs_systemd):
    p = subprocess.run(["systemd-sysusers", "--dry-run", str(SYSTEMD / "sekisho.sysusers")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    groups = re.findall(r"^g\s+(\S+)", (SYSTEMD / "sekisho.sysusers").read_text(), re.M)
    dirs = re.findall(r"^d\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)",
                      (SYSTEMD / "sekisho.tmpfiles").read_text(), re.M)
    assert groups == ["sekisho"]
    store = [d for d in dirs if d[0] == "/var/lib/sekisho-categories"]
    assert len(store) == 1, dirs
    path, mode, owner, group = store[0]
    assert group == "sekisho" and int(mode, 8) & 0o2070 == 0o2070  # setgid, group rwx
    # sekishod's state: its own user's, readable by the group (the intercept reads tenants.d).
    users = re.findall(r"^u\s+(\S+)\s+\S+\s+\"[^\"]*\"\s+(\S+)", (SYSTEMD / "sekisho.sysusers").read_text(), re.M)
    assert users == [("sekisho", "/var/lib/sekisho")], users
    assert directives("sekishod.service", "User") == ["sekisho"]
    assert directives("sekishod.service", "StateDirectory") == ["sekisho"]
    state = [d for d in dirs if d[0] == "/var/lib/sekisho"]
    assert state == [("/var/lib/sekisho", "0750", "sekisho", "sekisho")], dirs
    for unit in UNITS:
        assert directives(unit, "SupplementaryGroups") == ["sekisho"], unit
        assert path in directives(unit, "ReadWritePaths"), unit
    # The intercept keeps CA keys: its own state directory stays private.
    assert directives("sekisho-intercept.service", "StateDirectoryMode") == ["0700"]
