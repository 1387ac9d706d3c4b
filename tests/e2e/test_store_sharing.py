"""tests/e2e/test_store_sharing.py — one category store, several users of one group.

In production sekishod and sekisho-intercept run as different dynamic users and an admin imports
as root; they meet in a setgid directory of the `sekisho` group (systemd/sekisho.tmpfiles). LMDB
creates its files with the creator's umask, and every reader needs to write lock.mdb. These tests
create that layout with a spare gid, import as root under umask 022, and read the store as other
uids of the group through the real CLI (the same read-only open sekishod and the intercept use).
Needs root (to switch users with setpriv); the CI runs as root.
"""
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

CLI = os.environ.get("SEKISHO_CLI", "sekisho")
GROUP = 64000            # a gid no Debian package allocates (64000-64999 is left to sites)
READER_A, READER_B = 64001, 64002

@pytest.fixture(autouse=True)
def root_and_setpriv():
    if os.geteuid() != 0:
        pytest.fail("switching users needs root (CI runs as root): the shared store is not tested")
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv is not installed (util-linux): the shared store is not tested")


def run_as(uid, umask, *args):
    # setpriv keeps the environment; the umask is set by a shell so the child inherits it.
    argv = ["setpriv", f"--reuid={uid}", f"--regid={GROUP}", f"--groups={GROUP}", "--",
            "sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", CLI, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.fixture
def shared_dir():
    # /tmp itself is world-traversable; pytest's tmp_path (under a 0700 dir) is not.
    base = tempfile.mkdtemp(prefix="sekisho-share-", dir="/tmp")
    os.chmod(base, 0o755)
    store_dir = os.path.join(base, "sekisho-categories")
    os.mkdir(store_dir)
    os.chown(store_dir, 0, GROUP)
    os.chmod(store_dir, 0o2770)
    yield store_dir
    shutil.rmtree(base)


def import_as_root(store, tmp_path, umask):
    feed = tmp_path / "feed.txt"
    feed.write_text("casino.example\nwww.bets.example\n")
    os.chmod(tmp_path, 0o755)
    old = os.umask(umask)
    try:
        p = subprocess.run([CLI, "db", "--db", store, "import", "--source", "feed",
                            "--format", "domains", "--category", "gambling", str(feed)],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stderr


def test_root_import_under_umask_022_is_readable_by_group_members(shared_dir, tmp_path):
    store = os.path.join(shared_dir, "categories")
    import_as_root(store, tmp_path, 0o022)
    lock = os.stat(os.path.join(store, "lock.mdb"))
    assert lock.st_mode & (stat.S_IRGRP | stat.S_IWGRP) == stat.S_IRGRP | stat.S_IWGRP
    for uid in (READER_A, READER_B):
        p = run_as(uid, 0o077, "db", "--db", store, "lookup", "www.casino.example")
        assert p.returncode == 0, p.stderr
        assert "gambling" in p.stdout
    # A uid outside the group is refused with the path in the message, not a crash.
    p = subprocess.run(["setpriv", "--reuid=64010", "--regid=64010", "--clear-groups", CLI, "db",
                        "--db", store, "lookup", "casino.example"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and store in p.stderr


def test_lock_file_created_by_a_reader_under_umask_077_is_shared(shared_dir, tmp_path):
    store = os.path.join(shared_dir, "categories")
    import_as_root(store, tmp_path, 0o077)
    # The services' readers may be the first to open after a reboot (lock.mdb lives with the
    # data but is only a cache of reader slots): the first reader recreates it under its umask.
    os.unlink(os.path.join(store, "lock.mdb"))
    p = run_as(READER_A, 0o077, "db", "--db", store, "lookup", "casino.example")
    assert p.returncode == 0, p.stderr
    lock = os.stat(os.path.join(store, "lock.mdb"))
    assert lock.st_uid == READER_A and lock.st_gid == GROUP
    p = run_as(READER_B, 0o077, "db", "--db", store, "lookup", "casino.example")
    assert p.returncode == 0, p.stderr
    assert "gambling" in p.stdout
