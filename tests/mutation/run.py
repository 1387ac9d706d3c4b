#!/usr/bin/env python3
"""Mutation check: plants each bug of mutations.py, one at a time, in a scratch copy of the
repository, builds it, runs the ctest entries expected to catch that bug and reports which did.

    python3 tests/mutation/run.py                 # every mutation, committed tree (HEAD)
    python3 tests/mutation/run.py --only safe-search-off,upstream-never-down --keep
    python3 tests/mutation/run.py --list | --check

The repository itself is only read (git archive, git ls-files, git show). The scratch directory
(default /tmp/sekisho-mutation) holds main/ (the copy, built in main/build), shared -> the
repository's ../shared (tests read ../shared/data), logs/ and results.{json,md}. One configure
and full build, then per mutation: apply, incremental build, ctest -R, restore. Before the first
mutation the same entries run on the unmutated build (the baseline): an entry that already fails
there proves nothing and is reported as such. Not part of CI: a full run takes about 20 minutes
on two cores. See tests/mutation/README.md.
"""
import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mutations import MUTATIONS  # noqa: E402

# The guard compares the cases that ran with every case the binary lists: under -R it always fails.
EXCLUDE = r"\.all_cases_ran$"
MARKER = ".sekisho-mutation"        # marks a scratch directory this script created (and may empty)
COPY_INFO = "copy.json"             # what main/ is a copy of, for --reuse
JOURNAL = "restore-pending.json"    # the original of a file while a mutation is applied
SHOWN_ENTRIES = 4                   # caught-by entries named in the table; the rest are counted


def log(msg=""):
    print(msg, flush=True)


def fmt_time(seconds):
    seconds = int(round(seconds))
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


# --- the list ---------------------------------------------------------------------------------

def load_mutations():
    seen = set()
    for m in MUTATIONS:
        for key in ("id", "file", "breaks", "edits", "tests"):
            if not m.get(key):
                sys.exit("mutations.py: %r lacks %r" % (m.get("id"), key))
        if m["id"] in seen:
            sys.exit("mutations.py: id %r is used twice" % m["id"])
        seen.add(m["id"])
        if isinstance(m["tests"], str) or Path(m["file"]).is_absolute():
            sys.exit("mutations.py: %s: 'tests' is a list of patterns and 'file' is relative" % m["id"])
    return MUTATIONS


def select(mutations, only):
    if not only:
        return list(mutations)
    wanted = [w for part in only for w in part.split(",") if w]
    by_id = {m["id"]: m for m in mutations}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        sys.exit("unknown mutation id(s): %s (see --list)" % ", ".join(unknown))
    return [by_id[w] for w in dict.fromkeys(wanted)]


def mutate(text, edits):
    """The mutated text, or (None, why) when an edit's old text is not there exactly once."""
    for n, (old, new) in enumerate(edits, 1):
        count = text.count(old)
        if count != 1:
            return None, "edit %d: its text occurs %d times in the file (expected once): %r" % (
                n, count, old if len(old) < 90 else old[:87] + "...")
        text = text.replace(old, new, 1)
    return text, None


def regex_of(m):
    return "|".join(m["tests"])


# --- the repository and the scratch copy -----------------------------------------------------

def git(repo, *args, binary=False):
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout
    return out if binary else out.decode()


def repo_root():
    return Path(git(HERE, "rev-parse", "--show-toplevel").strip())


def source_text(repo, rev, working_tree, path):
    """A file as the scratch copy will have it (None when absent)."""
    if working_tree:
        p = repo / path
        return p.read_text(encoding="utf-8") if p.exists() else None
    try:
        return git(repo, "show", "%s:%s" % (rev, path))
    except subprocess.CalledProcessError:
        return None


def prepare_dir(scratch, repo, reuse):
    scratch = scratch.resolve()
    if scratch == repo or repo in scratch.parents or scratch in repo.parents:
        sys.exit("the scratch directory %s must lie outside the repository %s" % (scratch, repo))
    if scratch.exists() and any(scratch.iterdir()) and not (scratch / MARKER).exists():
        sys.exit("%s exists and was not made by this script; pick another --scratch" % scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / MARKER).write_text("scratch directory of tests/mutation/run.py\n")
    if (scratch / "logs").exists():
        shutil.rmtree(scratch / "logs")  # the last run's logs would pass for this one's
    (scratch / "logs").mkdir()
    src = scratch / "main"
    if reuse and (src / "CMakeLists.txt").exists():
        restore_journal(scratch)
        return scratch, src, False
    if src.exists():
        shutil.rmtree(src)
    src.mkdir()
    return scratch, src, True


def copy_tree(repo, rev, working_tree, src):
    tar = git(repo, "archive", "--format=tar", rev, binary=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        if hasattr(tarfile, "tar_filter"):  # Python 3.12 warns without a filter
            t.extractall(src, filter="tar")
        else:
            t.extractall(src)
    if not working_tree:
        return 0
    # Uncommitted changes too: modified and untracked (not ignored) files, deletions.
    changed = [p for p in git(repo, "ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0") if p]
    deleted = set(p for p in git(repo, "ls-files", "-z", "--deleted").split("\0") if p)
    for p in changed:
        dst = src / p
        if p in deleted:
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        shutil.copy2(repo / p, dst, follow_symlinks=False)
    return len(changed)


def link_shared(scratch, repo):
    shared = repo.parent / "shared"
    link = scratch / "shared"
    if link.is_symlink() or link.exists():
        link.unlink()
    if shared.is_dir():
        link.symlink_to(shared)
    else:
        log("warning: %s does not exist; tests that read ../shared/data will fail" % shared)


def restore_journal(scratch):
    """Undoes a mutation a killed run left applied."""
    j = scratch / JOURNAL
    if j.exists():
        pending = json.loads(j.read_text(encoding="utf-8"))
        Path(pending["path"]).write_text(pending["original"], encoding="utf-8")
        j.unlink()
        log("restored %s, left mutated by an interrupted run" % pending["path"])


# --- processes --------------------------------------------------------------------------------

def stop_group(proc):
    """SIGINT first: pytest then runs its fixtures' teardown, which stops the servers it started."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_logged(cmd, log_path, timeout, env=None):
    """Runs cmd with its output in log_path; returns (exit code or None on timeout, seconds).
    A timeout (or Ctrl-C) stops its whole process group."""
    start = time.monotonic()
    with open(log_path, "ab") as out:
        out.write(("$ %s\n" % " ".join(cmd)).encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            stop_group(proc)
            rc = None
        except BaseException:
            stop_group(proc)
            raise
    return rc, time.monotonic() - start


def end_leftovers(scratch):
    """Ends processes a killed test left running: those started from the copy's binaries, and
    knotd and the like whose files lie in this run's pytest directory (their command line names
    it). Returns how many."""
    scratch = str(scratch.resolve())
    mine = {os.getpid(), os.getppid()}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % entry)
        except OSError:
            exe = ""
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if exe.startswith(scratch + "/main/") or (scratch + "/pt/") in cmdline:
            found.append(int(entry))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in found:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGTERM and found:
            time.sleep(3)
    return len(found)


def build(src, build_dir, jobs, log_path, timeout):
    if not (build_dir / "build.ninja").exists():
        rc, _ = run_logged(["cmake", "-S", str(src), "-B", str(build_dir), "-G", "Ninja"], log_path, timeout)
        if rc != 0:
            return rc, 0.0
    return run_logged(["cmake", "--build", str(build_dir), "-j", str(jobs)], log_path, timeout)


def tail(path, lines=12, match=None):
    text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    if match:
        hits = [l for l in text if re.search(match, l)]
        if hits:
            return hits[:lines]
    return text[-lines:]


def ctest_names(build_dir):
    out = subprocess.run(["ctest", "--test-dir", str(build_dir), "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    return [t["name"] for t in json.loads(out).get("tests", [])]


def selected_names(names, patterns):
    exclude = re.compile(EXCLUDE)
    rx = re.compile("|".join(patterns))
    return [n for n in names if rx.search(n) and not exclude.search(n)]


def run_ctest(scratch, build_dir, patterns, junit, log_path, timeout):
    """(failed entries, entries run, timed out, seconds)."""
    if junit.exists():
        junit.unlink()
    cmd = ["ctest", "--test-dir", str(build_dir), "-R", "|".join(patterns), "-E", EXCLUDE,
           "--output-on-failure", "--output-junit", str(junit)]
    # pytest's temporary files (and so the config paths of the servers the tests start) under
    # the scratch directory, kept short: knotd's control socket lives there too.
    env = dict(os.environ)
    env["PYTEST_ADDOPTS"] = (env.get("PYTEST_ADDOPTS", "") + " --basetemp=%s/pt" % scratch.resolve()).strip()
    try:
        rc, seconds = run_logged(cmd, log_path, timeout, env)
    finally:
        left = end_leftovers(scratch)
        if left:
            with open(log_path, "a", encoding="utf-8") as out:
                out.write("ended %d processes the tests left running\n" % left)
    failed, ran = [], []
    if junit.exists():
        for tc in ET.parse(junit).getroot().iter("testcase"):
            name = tc.get("name")
            status = tc.get("status", "")
            if status in ("disabled", "notrun") and tc.find("failure") is None:
                continue
            ran.append(name)
            if status == "fail" or tc.find("failure") is not None or tc.find("error") is not None:
                failed.append(name)
    else:  # killed before ctest wrote its report: read the progress lines
        line_rx = re.compile(r"Test\s+#\d+: (.+?) \.+\s*(\*\*\*\w+|Passed|Failed)")
        for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
            mt = line_rx.search(line)
            if mt:
                ran.append(mt.group(1))
                if mt.group(2) != "Passed":
                    failed.append(mt.group(1))
    return failed, ran, rc is None, seconds


# --- one mutation -----------------------------------------------------------------------------

def run_one(m, ctx):
    r = {"id": m["id"], "file": m["file"], "breaks": m["breaks"], "tests": m["tests"], "caught_by": [],
         "baseline_failures": [], "selected": 0, "build_s": 0.0, "test_s": 0.0, "note": ""}
    start = time.monotonic()
    path = ctx["src"] / m["file"]
    original = path.read_text(encoding="utf-8") if path.exists() else None
    mutated, why = (None, "the file does not exist") if original is None else mutate(original, m["edits"])
    if mutated is None:
        r.update(status="STALE", note=why)
        return r
    selected = selected_names(ctx["names"], m["tests"])
    r["selected"] = len(selected)
    if not selected:
        r.update(status="NO TESTS", note="no ctest entry matches " + regex_of(m))
        return r
    logs = ctx["scratch"] / "logs"
    (ctx["scratch"] / JOURNAL).write_text(json.dumps({"path": str(path), "original": original}), encoding="utf-8")
    try:
        path.write_text(mutated, encoding="utf-8")
        build_log = logs / ("%s.build.log" % m["id"])
        build_log.unlink(missing_ok=True)
        rc, r["build_s"] = build(ctx["src"], ctx["build"], ctx["jobs"], build_log, ctx["timeout"])
        if rc is None:
            r.update(status="TIMEOUT", note="the build took over %ds" % ctx["timeout"])
        elif rc != 0:
            r.update(status="NO BUILD", note=" / ".join(tail(build_log, 3, r"error:")))
        else:
            remaining = ctx["timeout"] - (time.monotonic() - start)
            ctest_log = logs / ("%s.ctest.log" % m["id"])
            ctest_log.unlink(missing_ok=True)
            failed, ran, timed_out, r["test_s"] = run_ctest(
                ctx["scratch"], ctx["build"], m["tests"], logs / ("%s.junit.xml" % m["id"]), ctest_log, remaining)
            baseline = ctx["baseline_failed"]
            r["caught_by"] = [n for n in failed if n not in baseline]
            r["baseline_failures"] = [n for n in failed if n in baseline]
            r["ran"] = len(ran)
            if r["caught_by"]:
                r["status"] = "CAUGHT"
            elif timed_out:
                r["status"] = "TIMEOUT"
            else:
                r["status"] = "SURVIVED"
            if timed_out:
                r["note"] = "ctest stopped after the %ds budget" % ctx["timeout"]
            if r["baseline_failures"]:
                r["note"] = (r["note"] + "; " if r["note"] else "") + \
                    "also failed, but already without the mutation: " + ", ".join(r["baseline_failures"])
    finally:
        path.write_text(original, encoding="utf-8")  # the next build recompiles it
        (ctx["scratch"] / JOURNAL).unlink(missing_ok=True)
    r["total_s"] = time.monotonic() - start
    return r


# --- report -----------------------------------------------------------------------------------

def entries_text(names):
    shown = names[:SHOWN_ENTRIES]
    more = len(names) - len(shown)
    return "; ".join(shown) + (" (+%d more)" % more if more else "")


def result_text(r):
    if r["status"] == "CAUGHT":
        return "caught by %s" % entries_text(r["caught_by"])
    if r["status"] == "SURVIVED":
        return "survived all %d selected entries" % r.get("ran", r["selected"])
    return r["note"]


def print_table(results):
    wid = max([len("ID")] + [len(r["id"]) for r in results])
    wfile = max([len("FILE")] + [len(r["file"]) for r in results])
    log("%-*s  %-*s  %-8s  %7s  %7s  %7s" % (wid, "ID", wfile, "FILE", "RESULT", "BUILD", "TESTS", "TOTAL"))
    for r in results:
        log("%-*s  %-*s  %-8s  %7s  %7s  %7s" % (
            wid, r["id"], wfile, r["file"], r["status"], fmt_time(r["build_s"]), fmt_time(r["test_s"]),
            fmt_time(r.get("total_s", 0))))
        log("    breaks: %s" % r["breaks"])
        log("    %s" % result_text(r))
        if r["status"] == "CAUGHT" and r["note"]:
            log("    note: %s" % r["note"])


def markdown(results, header):
    out = [header, "", "| id | file | what it breaks | result | caught by | time |", "|---|---|---|---|---|---|"]
    for r in results:
        caught = entries_text(r["caught_by"]) if r["caught_by"] else result_text(r)
        out.append("| `%s` | `%s` | %s | %s | %s | %s |" % (
            r["id"], r["file"], r["breaks"], r["status"], caught.replace("|", "\\|"), fmt_time(r.get("total_s", 0))))
    return "\n".join(out) + "\n"


def summary(results):
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    order = ["CAUGHT", "SURVIVED", "NO BUILD", "STALE", "NO TESTS", "TIMEOUT"]
    return ", ".join("%d %s" % (counts[s], s.lower()) for s in order if s in counts)


# --- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--check", action="store_true",
                    help="only check that every mutation still applies to the tree (no copy, no build)")
    ap.add_argument("--only", action="append", metavar="ID[,ID...]", help="run these mutations only")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/sekisho-mutation"),
                    help="scratch directory (default /tmp/sekisho-mutation)")
    ap.add_argument("--rev", default="HEAD", help="commit to copy (default HEAD)")
    ap.add_argument("--working-tree", action="store_true",
                    help="copy the working tree's uncommitted changes too (modified and untracked files)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the copy and build a --keep run left in the scratch directory")
    ap.add_argument("--keep", action="store_true",
                    help="keep the copy and its build afterwards (default: remove them, keep logs and results)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per mutation, build and tests (default 900)")
    ap.add_argument("--jobs", type=int, default=2, help="build jobs (default 2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run of the selected entries unmutated")
    ap.add_argument("--markdown", action="store_true", help="also print the results as a Markdown table")
    args = ap.parse_args()

    mutations = select(load_mutations(), args.only)
    repo = repo_root()

    if args.list:
        for m in mutations:
            log("%s  (%s)\n    breaks: %s\n    tests:  %s" % (m["id"], m["file"], m["breaks"], regex_of(m)))
        log("%d mutations" % len(mutations))
        return 0

    if args.check:
        bad = 0
        where = "the working tree" if args.working_tree else args.rev
        for m in mutations:
            text = source_text(repo, args.rev, args.working_tree, m["file"])
            why = "the file does not exist" if text is None else mutate(text, m["edits"])[1]
            bad += why is not None
            log("%-40s %s" % (m["id"], "ok" if why is None else "STALE: %s: %s" % (m["file"], why)))
        log("%d of %d mutations apply to %s" % (len(mutations) - bad, len(mutations), where))
        return 1 if bad else 0

    run_start = time.monotonic()
    scratch, src, fresh = prepare_dir(args.scratch, repo, args.reuse)
    build_dir = src / "build"
    if fresh:
        copy = {"commit": git(repo, "rev-parse", args.rev).strip(), "working_tree": args.working_tree}
        copied = copy_tree(repo, args.rev, args.working_tree, src)
        (scratch / COPY_INFO).write_text(json.dumps(copy), encoding="utf-8")
        log("copied %s (%s) of %s to %s%s" % (args.rev, copy["commit"][:12], repo, src,
                                              " with %d uncommitted files" % copied if args.working_tree else ""))
    else:
        info = scratch / COPY_INFO
        copy = json.loads(info.read_text(encoding="utf-8")) if info.exists() else {"commit": "?", "working_tree": False}
        log("reusing the copy of %s%s in %s (--rev and --working-tree apply to new copies only)" % (
            copy["commit"][:12], " + working tree" if copy["working_tree"] else "", src))
    link_shared(scratch, repo)

    # Stale entries are reported before the long build.
    for m in mutations:
        text = (src / m["file"]).read_text(encoding="utf-8") if (src / m["file"]).exists() else None
        why = "the file does not exist" if text is None else mutate(text, m["edits"])[1]
        if why:
            log("STALE %s (%s): %s" % (m["id"], m["file"], why))

    initial_log = scratch / "logs" / "build-initial.log"
    log("building %s (-j%d)%s ..." % (build_dir, args.jobs,
                                      "; a first build takes about 4 minutes" if fresh else ""))
    rc, secs = build(src, build_dir, args.jobs, initial_log, 3600)
    if rc != 0:
        log("\n".join(tail(initial_log, 20)))
        sys.exit("the unmutated tree does not build (log: %s)" % initial_log)
    log("built in %s" % fmt_time(secs))

    names = ctest_names(build_dir)
    for m in mutations:
        for p in m["tests"]:
            if not selected_names(names, [p]):
                log("warning: %s: pattern %r matches no ctest entry" % (m["id"], p))

    baseline_failed = set()
    if not args.no_baseline:
        patterns = sorted({p for m in mutations for p in m["tests"] if selected_names(names, [p])})
        if patterns:
            log("baseline: the %d selected entries, unmutated ..." % len(selected_names(names, patterns)))
            failed, ran, timed_out, secs = run_ctest(scratch, build_dir, patterns, scratch / "logs" / "baseline.junit.xml",
                                                     scratch / "logs" / "baseline.ctest.log", 3600)
            baseline_failed = set(failed)
            log("baseline: %d entries ran (fixtures included) in %s, %d failed%s%s" % (
                len(ran), fmt_time(secs), len(failed), " (timed out)" if timed_out else "",
                ": " + "; ".join(failed) if failed else ""))

    ctx = {"scratch": scratch, "src": src, "build": build_dir, "jobs": args.jobs, "timeout": args.timeout,
           "names": names, "baseline_failed": baseline_failed}
    results = []
    interrupted = False
    try:
        for i, m in enumerate(mutations, 1):
            r = run_one(m, ctx)
            results.append(r)
            log("[%d/%d] %s: %s (%s)" % (i, len(mutations), m["id"], r["status"], fmt_time(r.get("total_s", 0))))
            if r["status"] != "CAUGHT" or r["note"]:
                log("    " + (result_text(r) if r["status"] != "CAUGHT" else r["note"]))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; the mutated file was restored")

    log()
    print_table(results)
    total = time.monotonic() - run_start
    log("\n%d mutation%s: %s; %s in all%s" % (len(results), "" if len(results) == 1 else "s", summary(results), fmt_time(total),
                                            " (interrupted)" if interrupted else ""))
    header = "Mutation check of %s%s, %s: %s (%s)" % (
        copy["commit"][:12], " + working tree" if copy["working_tree"] else "",
        time.strftime("%Y-%m-%d"), summary(results), fmt_time(total))
    (scratch / "results.json").write_text(json.dumps(
        {"commit": copy["commit"], "working_tree": copy["working_tree"], "baseline_failed": sorted(baseline_failed),
         "total_s": total, "results": results}, indent=2, ensure_ascii=False), encoding="utf-8")
    (scratch / "results.md").write_text(markdown(results, header), encoding="utf-8")
    if args.markdown:
        log()
        log(markdown(results, header))

    if args.keep or interrupted:
        if results and not interrupted:
            build(src, build_dir, args.jobs, scratch / "logs" / "build-final.log", 3600)  # back to the unmutated tree
        log("kept %s (rerun with --reuse)" % src)
    else:
        shutil.rmtree(src)
    log("logs and results: %s" % scratch)
    return 0 if results and all(r["status"] == "CAUGHT" for r in results) and not interrupted else 1


if __name__ == "__main__":
    sys.exit(main())
