#!/usr/bin/env python3
"""ctest guard `unit.<layer>.all_cases_ran`: every doctest case the binary lists ran exactly once.

    check_all_ran.py BINARY RECORD_FILE

RECORD_FILE holds one "file:line name" line per case started by the `unit.*` entries of this ctest
run (tests/unit/main.cc writes it, `unit.<layer>.record_reset` empties it first). A case listed but never
run, run twice, or run without being listed fails the guard, naming it. Run the whole `unit` label
(`ctest -L unit`) for the guard to mean anything; alone it checks the last run's record.
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from register_cases import list_cases  # noqa: E402


def main():
    binary, record = sys.argv[1:3]
    listed = collections.Counter("%s:%d %s" % (f, line, name) for name, f, line in list_cases(binary))
    ran = collections.Counter()
    if os.path.exists(record):
        with open(record, encoding="utf-8") as f:
            ran.update(line.rstrip("\n") for line in f if line.strip())
    missing = sorted(listed - ran)
    extra = sorted(ran - listed)
    print("doctest lists %d test cases; ctest ran %d" % (sum(listed.values()), sum(ran.values())))
    for case in missing:
        print("never ran: " + case)
    for case in extra:
        print("ran more often than listed: " + case)
    if missing or extra or not listed:
        print("FAIL: the unit tests ctest ran differ from the cases the binary lists")
        return 1
    print("every listed test case ran exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
