"""Sanitizer reports of every program a test ran.

The harness points the sanitizer runtimes' `log_path` into a directory of its own for the whole
pytest run (the options are inherited by every process the tests start: sekishod, the intercept,
the CLI, the test-hook build; programs built without a sanitizer ignore them). A runtime that finds
an error writes `<dir>/report.<pid>`; conftest.py fails the test during which a new report
appeared, and fails the run for a report written after the last test (a module-scoped server
stopping). A file per process, rather than scanning each server's stderr, also covers the programs
whose output a test captures itself (subprocess.run of the CLI) and keeps the reports out of the
stderr that tests assert on.
"""
import os
import pathlib
import tempfile

_OPTIONS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")


def install():
    """Creates the report directory and adds log_path to each sanitizer's options (kept after the
    caller's own, so a user's ASAN_OPTIONS still apply). Returns the directory."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="sekisho-sanitizer-reports-"))
    # Like /tmp: programs some tests run as another user (setpriv) must be able to report too.
    directory.chmod(0o1777)
    prefix = str(directory / "report")
    for var in _OPTIONS:
        old = os.environ.get(var, "")
        os.environ[var] = (old + ":" if old else "") + "log_path=" + prefix
    return directory


class Reports:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.seen = {}  # file name -> bytes already reported

    def new(self):
        """[(file name, text)] of what the reports gained since the last call (a process may still
        be writing its report when a test ends: the rest is new at the next call)."""
        out = []
        for p in sorted(self.directory.iterdir()):
            data = p.read_bytes()
            start = self.seen.get(p.name, 0)
            if len(data) <= start:
                continue
            self.seen[p.name] = len(data)
            text = data[start:].decode(errors="replace")
            if text.strip():
                out.append((p.name if start == 0 else "%s (continued)" % p.name, text))
        return out

    def describe(self, reports, limit=12000):
        """The reports as one message, cut at `limit` characters (the files stay for the rest)."""
        message = "\n".join("----- sanitizer report %s/%s -----\n%s" % (self.directory, name, text)
                            for name, text in reports)
        if len(message) > limit:
            message = message[:limit] + "\n… (cut; the rest is in the files named above)"
        return message

    def remove_if_empty(self):
        """Removes the directory when no program wrote anything to it (else it is kept to read)."""
        try:
            self.directory.rmdir()
        except OSError:
            pass


def sanitized_build():
    """The sanitizers of the build under test, from SEKISHO_E2E_SANITIZED (set by ctest in the ASan
    tree, tests/CMakeLists.txt), e.g. {"address", "undefined"}; empty for the plain build."""
    return {s for s in os.environ.get("SEKISHO_E2E_SANITIZED", "").split(",") if s}
