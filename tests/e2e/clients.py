"""Clients for the e2e tests: dnspython for crafted packets, kdig / dig / dnsperf for real-client
coverage. Every call is bounded in time (and in count where it loops)."""
import json
import os
import random
import re
import socket
import struct
import subprocess
import tempfile
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

KDIG = os.environ.get("KDIG", "/usr/bin/kdig")
DIG = os.environ.get("DIG", "/usr/bin/dig")
DNSPERF = os.environ.get("DNSPERF", "/usr/bin/dnsperf")


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def make_query(name, rdtype="A", edns=0, payload=1232, do=False, rd=True, qid=None):
    """A query; edns=-1 for none."""
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns >= 0 else False,
                               payload=payload, want_dnssec=do)
    if edns > 0:
        q.use_edns(edns, q.ednsflags, payload)
    if not rd:
        q.flags &= ~dns.flags.RD
    q.id = random.randrange(0, 65536) if qid is None else qid
    return q


def check_response(q, r, transport):
    """The reply must be a response to q: QR set, same ID, same question (letter case included)."""
    assert r.flags & dns.flags.QR, "%s reply without QR:\n%s" % (transport, r)
    assert r.id == q.id, "%s reply ID %d != query ID %d" % (transport, r.id, q.id)
    if r.question:
        qn, rn = q.question[0], r.question[0]
        assert (rn.name.to_text(), rn.rdtype, rn.rdclass) == (qn.name.to_text(), qn.rdtype,
                                                           qn.rdclass), \
            "%s reply question %s != query question %s" % (transport, rn, qn)


def query_udp(host, port, name, rdtype="A", timeout=2.0, check=True, **kw):
    """One UDP exchange; returns the FIRST datagram that comes back (so a server sending anything
    unexpected is seen), parsed. Raises socket.timeout when nothing arrives."""
    q = name if isinstance(name, dns.message.Message) else make_query(name, rdtype, **kw)
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), (host, port))
        data, _ = s.recvfrom(65535)
    finally:
        s.close()
    r = dns.message.from_wire(data)
    if check:
        check_response(q, r, "udp")
    return r


def query_tcp(host, port, name, rdtype="A", timeout=2.0, check=True, **kw):
    q = name if isinstance(name, dns.message.Message) else make_query(name, rdtype, **kw)
    s = tcp_connect(host, port, timeout)
    try:
        s.sendall(frame(q.to_wire()))
        r = tcp_read_message(s, timeout)
    finally:
        s.close()
    if check:
        check_response(q, r, "tcp")
    return r


def query(transport, host, port, name, rdtype="A", timeout=2.0, **kw):
    return (query_udp if transport == "udp" else query_tcp)(host, port, name, rdtype, timeout, **kw)


# ---------------------------------------------------------------------------------------- raw wire

def udp_exchange_raw(host, port, wire, timeout=1.0, expect=True):
    """Send raw bytes over UDP; return the first datagram received within `timeout`, or None."""
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None
    finally:
        s.close()


def udp_send_raw(host, port, wires):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    try:
        for w in wires:
            s.sendto(w, (host, port))
    finally:
        s.close()


def tcp_connect(host, port, timeout=2.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("recv_exact timed out with %d/%d bytes" % (len(buf), n))
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d/%d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_read_message(s, timeout=2.0):
    deadline = time.monotonic() + timeout
    n = struct.unpack("!H", recv_exact(s, 2, deadline))[0]
    return dns.message.from_wire(recv_exact(s, n, deadline))


def wait_closed(s, timeout):
    """Wait until the peer closes `s` (EOF or reset). Returns seconds waited, or None on timeout.
    Data received meanwhile is discarded (bounded by the timeout)."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            chunk = s.recv(65535)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        if not chunk:
            return time.monotonic() - start


# --------------------------------------------------------------------------------------- EDNS / EDE

def ede_codes(msg):
    """Extended DNS Error codes (RFC 8914) present in a response."""
    out = []
    for opt in getattr(msg, "options", []) or []:
        if opt.otype == dns.edns.OptionType.EDE:
            out.append(int(opt.code))
    return out


def ede_texts(msg):
    return [getattr(o, "text", None) for o in (msg.options or [])
            if o.otype == dns.edns.OptionType.EDE]


def addresses(msg, rdtype="A"):
    """Set of addresses / rdata texts of type `rdtype` in the answer section."""
    t = dns.rdatatype.from_text(rdtype)
    return {rd.to_text() for rr in msg.answer if rr.rdtype == t for rd in rr}


def answer_ttls(msg):
    return [rr.ttl for rr in msg.answer]


def rcode_text(msg):
    return dns.rcode.to_text(msg.rcode())


# ------------------------------------------------------------------------------------ kdig / dig

def run(cmd, timeout):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def kdig(host, port, name, rdtype="A", tcp=False, extra=(), timeout=10):
    """kdig +json; returns (parsed JSON dict, CompletedProcess)."""
    cmd = [KDIG, "@%s" % host, "-p", str(port), name, rdtype, "+json", "+timeout=2", "+retry=0"]
    if tcp:
        cmd.append("+tcp")
    cmd += list(extra)
    p = run(cmd, timeout)
    try:
        data = json.loads(p.stdout)
    except ValueError:
        data = None
    return data, p


def dig(host, port, name, rdtype="A", tcp=False, extra=(), timeout=10):
    """dig +yaml; returns (the response message dict, CompletedProcess)."""
    import yaml  # python3-yaml
    cmd = [DIG, "@%s" % host, "-p", str(port), name, rdtype, "+yaml", "+time=2", "+tries=1"]
    if tcp:
        cmd.append("+tcp")
    cmd += list(extra)
    p = run(cmd, timeout)
    msg = None
    try:
        for doc in yaml.safe_load_all(p.stdout):
            for d in (doc if isinstance(doc, list) else [doc]):
                if isinstance(d, dict) and d.get("type") == "MESSAGE":
                    msg = d["message"]["response_message_data"]
    except Exception:  # noqa: BLE001 - leave msg None; the test prints stdout
        msg = None
    return msg, p


# ------------------------------------------------------------------------------------------ dnsperf

def dnsperf(host, port, names, duration=3, rate=2000, clients=4, timeout_s=2, extra=()):
    """Run dnsperf for `duration` seconds at most `rate` qps; returns dict with sent/completed/lost and
    the raw output."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for n, t in names:
            f.write("%s %s\n" % (n, t))
        path = f.name
    try:
        cmd = [DNSPERF, "-s", host, "-p", str(port), "-d", path, "-l", str(duration),
               "-Q", str(rate), "-c", str(clients), "-t", str(timeout_s)] + list(extra)
        p = run(cmd, duration + timeout_s + 20)
    finally:
        os.unlink(path)
    out = p.stdout + p.stderr
    res = {"output": out, "returncode": p.returncode}
    for key, pat in (("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)")):
        m = re.search(pat, out)
        res[key] = int(m.group(1)) if m else None
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = m.group(1) if m else ""
    return res
