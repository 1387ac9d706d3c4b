"""Helpers for the tenant / policy end-to-end tests (test_policy.py).

- make_store(): a category store (LMDB) built with the real CLI (`sekisho db import --format csv`).
- policy_overrides(): the config keys of issue 4 (category_db, blockpage, tenants, policies) as a
  dict for the `sekishod` fixture.
- ask(): one dnspython exchange from a chosen loopback source address (127.0.0.2, 127.0.0.3, ...),
  the way a tenant's client is told apart; kdig_from(): the same with kdig -b.
- schedule windows computed around the current time, in any IANA zone.
- query_log(): every record of a query-log directory, read with the real CLI (`sekisho querylog
  print`): the files are binary, the CLI renders them as the JSON lines the search returns.

Every address is in 127.0.0.0/8; every socket read and subprocess is bounded.
"""
import datetime
import json
import os
import pathlib
import random
import socket
import subprocess
import zoneinfo

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype

from clients import KDIG, check_response, frame, make_query, tcp_read_message

CLI = os.environ.get("SEKISHO_CLI") or str(
    pathlib.Path(os.environ.get("SEKISHO_BUILD_DIR") or
                 pathlib.Path(__file__).resolve().parents[2] / "build") / "admin" / "sekisho")

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# ------------------------------------------------------------------------------------ category store

def db_import(store, source, rows, fmt="csv", category=None, timeout=120, extra=()):
    """Import `rows` (lines) as source `source` into the store at `store`; returns the process.
    `extra`: more options of `sekisho db import` (--allow-shrink to replace a source wholesale)."""
    cmd = [CLI, "db", "--db", str(store), "import", "--source", source, "--format", fmt, *extra]
    if category:
        cmd += ["--category", category]
    cmd.append("-")
    p = subprocess.run(cmd, input="\n".join(rows) + "\n", capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("%s -> %d\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def make_store(directory, rows, source="e2e"):
    """A category store at `directory` holding `rows` ('name,cat1;cat2[,exact|subtree]')."""
    store = pathlib.Path(directory)
    db_import(store, source, rows)
    return store


# -------------------------------------------------------------------------------------- query log

def query_log(directory, timeout=30):
    """The records of the query-log files in `directory` (dicts, oldest file first, in the order
    the writer appended them); [] when there is no directory yet. A torn record or an unreadable
    file fails the test: the writer leaves neither."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    p = subprocess.run([CLI, "querylog", "print", str(directory)], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0 or p.stderr:
        raise AssertionError("sekisho querylog print %s -> %d\n%s" % (directory, p.returncode, p.stderr))
    return [json.loads(line) for line in p.stdout.splitlines() if line]


# ----------------------------------------------------------------------------------------- config

def tenant(tid, networks, policy, name=None, max_devices=None):
    t = {"id": tid, "name": name or tid, "networks": list(networks), "policy": policy}
    if max_devices is not None:
        t["max_devices"] = max_devices
    return t


def policy_overrides(store, tenants, policies, blockpage=None):
    cfg = {"tenants": tenants, "policies": policies}
    if store is not None:
        cfg["category_db"] = str(store)
    if blockpage is not None:
        cfg["blockpage"] = blockpage
    return cfg


# ----------------------------------------------------------------------------------------- clients

def ask(port, name, rdtype="A", source="127.0.0.2", edns=0, timeout=2.0, tcp=False,
        host="127.0.0.1"):
    """One exchange with sekishod from `source`; the reply is checked (ID, QR, question)."""
    q = make_query(name, rdtype, edns=edns)
    if tcp:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.bind((source, 0))
            s.connect((host, port))
            s.sendall(frame(q.to_wire()))
            r = tcp_read_message(s, timeout)
        finally:
            s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.bind((source, 0))
            s.sendto(q.to_wire(), (host, port))
            data, _ = s.recvfrom(65535)
        finally:
            s.close()
        r = dns.message.from_wire(data)
    check_response(q, r, "tcp" if tcp else "udp")
    return r


def kdig_from(source, port, name, rdtype="A", extra=(), timeout=10):
    """kdig -b SOURCE +json; returns (parsed JSON or None, CompletedProcess)."""
    cmd = [KDIG, "@127.0.0.1", "-p", str(port), "-b", source, name, rdtype, "+json",
           "+timeout=2", "+retry=0"] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        data = json.loads(p.stdout)
    except ValueError:
        data = None
    return data, p


def kdig_text(source, port, name, rdtype="A", extra=(), timeout=10):
    """kdig -b SOURCE +edns (text output, which shows EDE lines); returns the CompletedProcess."""
    cmd = [KDIG, "@127.0.0.1", "-p", str(port), "-b", source, name, rdtype, "+edns",
           "+timeout=2", "+retry=0"] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def edes(msg):
    """[(code, text)] of the Extended DNS Errors in a response."""
    return [(int(o.code), o.text) for o in (msg.options or [])
            if o.otype == dns.edns.OptionType.EDE]


def rrsets(msg, section, rdtype):
    t = dns.rdatatype.from_text(rdtype)
    return [rr for rr in getattr(msg, section) if rr.rdtype == t]


def rdatas(msg, rdtype, section="answer"):
    return {rd.to_text() for rr in rrsets(msg, section, rdtype) for rd in rr}


def rcode(msg):
    return dns.rcode.to_text(msg.rcode())


def describe(msg):
    return "\n" + msg.to_text()


# --------------------------------------------------------------------------------------- schedules

def hhmm(dt):
    return "%02d:%02d" % (dt.hour, dt.minute)


def window(tz, start_offset_min, end_offset_min, now=None):
    """A schedule entry's days/from/to, in zone `tz`, spanning now+start .. now+end minutes.
    The day listed is the local weekday of the window's start (a window that wraps past midnight
    belongs to the day it starts on). Returns (days, from, to, description-days)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    local = now.astimezone(zoneinfo.ZoneInfo(tz))
    start = local + datetime.timedelta(minutes=start_offset_min)
    end = local + datetime.timedelta(minutes=end_offset_min)
    day = DAYS[start.weekday()]
    return [day], hhmm(start), hhmm(end)


def local_now(tz):
    return datetime.datetime.now(datetime.timezone.utc).astimezone(zoneinfo.ZoneInfo(tz))


def minutes_to_day_boundary(tz):
    """Minutes from now (in `tz`) to the nearest local midnight, in either direction."""
    n = local_now(tz)
    m = n.hour * 60 + n.minute
    return min(m, 1440 - m)


def rand_label(prefix):
    return "%s%06d" % (prefix, random.randrange(1000000))
