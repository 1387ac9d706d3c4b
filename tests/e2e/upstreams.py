"""Upstreams for the e2e tests.

KnotUpstream     a real authoritative server (knotd) serving tests/e2e/zones/*.zone on 127.0.0.1 and ::1.
ScriptedUpstream a small Python DNS server (UDP + TCP, one thread) whose behaviour each test sets:
                 answer normally, TC=1 over UDP, forged ID / question / source first, silence, delays.
                 It records every query it receives so tests can assert what reached the upstream.
"""
import errno
import heapq
import os
import pathlib
import re
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from netutil import BIND_TRIES, LOOPBACKS, address_in_use, free_port, hostport, shared_ports

HERE = pathlib.Path(__file__).resolve().parent
ZONES = HERE / "zones"
KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")


# --------------------------------------------------------------------------------------------- knot

class KnotUpstream:
    """knotd with a generated config, listening on 127.0.0.1 and ::1 at a free port.

    zones: None serves tests/e2e/zones/*.zone; a dict {origin: zone file text} serves those instead
    (written into workdir). stats=True loads knot's mod-stats, so queries() can say how many queries
    knot received, in all or for one zone (a native upstream's own count, for tests under load).
    """

    def __init__(self, workdir, zones=None, stats=False):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = None
        self.proc = None
        self.log = None
        self.log_path = self.dir / "knotd.log"
        self.stats = stats
        if zones is None:
            self.zone_dir = ZONES
        else:
            self.zone_dir = self.dir / "zones"
            self.zone_dir.mkdir(exist_ok=True)
            for origin, text in zones.items():
                (self.zone_dir / ("%s.zone" % origin.rstrip("."))).write_text(text)

    @property
    def addresses(self):
        return [hostport(h, self.port) for h in LOOPBACKS]

    @property
    def address(self):
        return self.addresses[0]

    def _config(self):
        zones = sorted(p.name[: -len(".zone")] for p in self.zone_dir.glob("*.zone"))
        lines = [
            "server:",
            "    rundir: \"%s\"" % self.dir,
            "    listen: [ 127.0.0.1@%d, ::1@%d ]" % (self.port, self.port),
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "control:",
            "    listen: \"%s\"" % (self.dir / "knot.sock"),
            "database:",
            "    storage: \"%s\"" % (self.dir / "db"),
            "log:",
            "  - target: stderr",
            "    any: info",
        ]
        if self.stats:
            lines += ["mod-stats:", "  - id: default"]
        lines += [
            "template:",
            "  - id: default",
            "    storage: \"%s\"" % self.zone_dir,
            "    file: \"%s.zone\"",
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
        ]
        if self.stats:
            lines += ["    global-module: mod-stats/default", "    module: mod-stats/default"]
        lines.append("zone:")
        for z in zones:
            lines.append("  - domain: %s" % z)
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0, tries=BIND_TRIES):
        """Start knotd on a free port and wait until it answers over 127.0.0.1 and ::1. When a port
        is taken between picking and binding it (knotd: 'address already in use'), retried with
        another port; any other failure is reported at once with knotd's log."""
        from clients import query_udp  # local import: clients imports nothing from here
        zones = sorted(p.name[: -len(".zone")] for p in self.zone_dir.glob("*.zone"))
        probe_zone = ("test.example" if "test.example" in zones else zones[0]) + "."
        for attempt in range(tries):
            self.port = free_port()
            conf = self.dir / "knot.conf"
            conf.write_text(self._config())
            self.log = open(self.log_path, "ab")
            offset = self.log.tell()
            self.proc = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=self.log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            last_err, answered = "", False
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None and not answered:
                try:
                    r = query_udp("127.0.0.1", self.port, probe_zone, "SOA", timeout=0.2)
                    if r.rcode() == dns.rcode.NOERROR and r.answer:
                        answered = bool(query_udp("::1", self.port, probe_zone, "SOA", timeout=0.5).answer)
                except Exception as e:  # noqa: BLE001 - not up yet
                    last_err = repr(e)
                if not answered:
                    time.sleep(0.05)
            # knotd binds UDP with SO_REUSEPORT: a server of the same user on the same port is no
            # 'address in use' but a silent share of the queries.
            shared = shared_ports(self.proc.pid, {self.port}) if answered else []
            if answered and not shared:
                return self
            exited = self.proc.poll() is not None
            self.stop()
            this_attempt = self.log_path.read_bytes()[offset:].decode(errors="replace")
            if (shared or (exited and address_in_use(this_attempt))) and attempt + 1 < tries:
                continue  # lost a free-port race
            if shared:
                raise RuntimeError("knotd shares port %s with another process" % shared)
            raise RuntimeError("knotd did not start (%s): %s\n%s" % (
                "exited" if exited else "no answer within %.0f s" % timeout, last_err, this_attempt[-3000:]))
        raise RuntimeError("knotd could not start")

    def queries(self, zone=None):
        """Queries knot has received (needs stats=True): all of them, or those for `zone`."""
        assert self.stats, "KnotUpstream(stats=True) counts queries"
        args = ["zone-stats", zone] if zone else ["stats"]
        p = subprocess.run(["knotc", "-s", str(self.dir / "knot.sock")] + args + ["mod-stats.server-operation"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stdout + p.stderr
        m = re.search(r"mod-stats\.server-operation\[query\] = (\d+)", p.stdout)
        return int(m.group(1)) if m else 0  # no line until the first query

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


def wildcard_zone(origin, rdatas, ttl=300):
    """A zone for KnotUpstream(zones=...): `origin` and every name under it answer `rdatas`
    (e.g. [("A", "192.0.2.1")]), other types NODATA."""
    lines = ["$ORIGIN %s." % origin.rstrip("."), "$TTL %d" % ttl,
             "@ SOA ns hostmaster 1 3600 600 86400 60", "@ NS ns", "ns A 127.0.0.1"]
    for owner in ("@", "*"):
        lines += ["%s %s %s" % (owner, rtype, rdata) for rtype, rdata in rdatas]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ scripted upstream

class Seen:
    """One query as received by the scripted upstream."""

    def __init__(self, msg, transport, peer, wire):
        self.msg = msg
        self.transport = transport          # "udp" | "tcp"
        self.peer = peer
        self.wire = wire
        self.time = time.monotonic()
        q = msg.question[0] if msg.question else None
        self.qname = q.name.to_text().lower() if q is not None else None
        self.qtype = dns.rdatatype.to_text(q.rdtype) if q is not None else None
        self.edns = msg.edns                # -1 when no OPT
        self.payload = msg.payload if msg.edns >= 0 else None
        self.do = bool(msg.ednsflags & dns.flags.DO)

    def __repr__(self):
        return "<Seen %s %s %s edns=%s do=%s>" % (self.transport, self.qname, self.qtype,
                                                  self.edns, self.do)


def default_answer(query, addr="192.0.2.1", ttl=300, neg_minimum=60):
    """Answer any A query with `addr`; names starting with 'nx' are NXDOMAIN and names starting with
    'nodata' are NODATA, both with an SOA whose TTL is 300 and minimum 60 (negative TTL 60)."""
    r = dns.message.make_response(query)
    r.flags |= dns.flags.AA
    q = query.question[0]
    first = q.name.labels[0].lower() if q.name.labels else b""
    if first.startswith(b"nx") or first.startswith(b"nodata"):
        if first.startswith(b"nx"):
            r.set_rcode(dns.rcode.NXDOMAIN)
        zone = q.name.parent() if len(q.name.labels) > 1 else q.name
        r.authority.append(dns.rrset.from_text(
            zone, 300, "IN", "SOA", "ns.%s hostmaster.%s 1 3600 600 86400 %d" % (zone, zone,
                                                                                 neg_minimum)))
        return r
    if q.rdtype == dns.rdatatype.A:
        r.answer.append(dns.rrset.from_text(q.name, ttl, "IN", "A", addr))
    elif q.rdtype == dns.rdatatype.AAAA:
        r.answer.append(dns.rrset.from_text(q.name, ttl, "IN", "AAAA", "2001:db8::1"))
    elif q.rdtype == dns.rdatatype.TXT:
        r.answer.append(dns.rrset.from_text(q.name, ttl, "IN", "TXT", '"scripted"'))
    return r


class Action:
    """What the scripted upstream does with one query: a list of (delay_s, wire, via) sends.
    via: None = the listening socket / same TCP connection, "other_port" = a different UDP socket."""

    def __init__(self):
        self.sends = []

    def send(self, msg_or_wire, delay=0.0, via=None):
        wire = msg_or_wire if isinstance(msg_or_wire, (bytes, bytearray)) else msg_or_wire.to_wire(
            max_size=65535)
        self.sends.append((delay, bytes(wire), via))
        return self


class ScriptedUpstream:
    """A misbehaving-on-demand DNS server on 127.0.0.1 (and optionally ::1), UDP and TCP.

    Set `behaviour` to one of the names below, or `handler` to a function (query, transport) ->
    Action | Message | None. All queries are recorded in `seen` (thread-safe list).

    behaviours:
      normal          answer with default_answer (A 192.0.2.1 / `addr`, TTL `ttl`)
      silent          never answer (the query is still recorded)
      tc              UDP: empty answer with TC=1; TCP: the normal answer
      wrong_id        UDP: forged answer (ID xor 0x5a5a, A 6.6.6.6) then, after `forge_gap`, the real one
      wrong_id_only   only the forged answer
      wrong_question  forged answer for another name (evil.example.) with the query's ID, then the real one
      wrong_question_only
      wrong_source    forged answer from a different UDP port, then the real one from the right port
      wrong_source_only
      servfail        rcode SERVFAIL
    `delay` (seconds) postpones every answer; the server thread never blocks.
    """

    FORGED_ADDR = "6.6.6.6"

    def __init__(self, hosts=("127.0.0.1",), behaviour="normal", addr="192.0.2.1", ttl=300,
                 delay=0.0):
        self.hosts = tuple(hosts)
        self.behaviour = behaviour
        self.handler = None
        self.addr = addr
        self.ttl = ttl
        self.delay = delay
        self.neg_minimum = 60      # SOA minimum in negative answers (the SOA's own TTL is 300)
        self.forge_gap = 0.05
        self.seen = []
        self.errors = []           # exceptions raised by handlers
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._timers = []          # heap of (when, seq, fn)
        self._seq = 0
        self._stop = False
        self._tcp_bufs = {}
        self.port = None
        self._socks = []
        self._thread = None
        self.udp_enabled = True
        self.tcp_enabled = True
        # TCP behaviours (RFC 7766 connection reuse): counters of connections, and whether the
        # server closes a connection right after each answer it sends on it.
        self.tcp_accepts = 0
        self.tcp_peer_closes = 0       # connections the client (sekishod) closed
        self.tcp_close_after_answer = False
        self.tcp_close_unanswered = 0  # this many TCP queries: recorded, then the connection closed
        # This many TCP connections, the first ones accepted: kept open but never read (a hung
        # server process behind a listening socket). Closed at stop().
        self.tcp_hang_connections = 0
        self._hung = []

    # lifecycle ---------------------------------------------------------------------------------
    def start(self):
        for _ in range(20):
            port = free_port(self.hosts)
            try:
                self._bind(port)
                break
            except OSError as e:
                for s in self._socks:
                    s.close()
                self._socks = []
                if e.errno != errno.EADDRINUSE:
                    raise
                # lost a free-port race: another port
        else:
            raise RuntimeError("scripted upstream: no free port in 20 tries")
        self.port = port
        self._other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._other.bind(("127.0.0.1", 0))
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread = threading.Thread(target=self._run, name="scripted-upstream", daemon=True)
        self._thread.start()
        return self

    def _bind(self, port):
        for h in self.hosts:
            fam = socket.AF_INET6 if ":" in h else socket.AF_INET
            u = socket.socket(fam, socket.SOCK_DGRAM)
            t = socket.socket(fam, socket.SOCK_STREAM)
            self._socks += [u, t]
            if fam == socket.AF_INET6:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            u.bind((h, port))
            t.bind((h, port))
            t.listen(64)
            u.setblocking(False)
            t.setblocking(False)
        for s in self._socks:
            kind = "udp" if s.type == socket.SOCK_DGRAM else "listen"
            self._sel.register(s, selectors.EVENT_READ, (kind, None))

    def stop(self):
        """Close every socket: queries now get ICMP port unreachable / connection refused."""
        if self._thread is None:
            return
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5)
        self._thread = None
        for key in list(self._sel.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        for c in self._hung:
            c.close()
        self._sel.close()
        self._other.close()
        self._wake_w.close()

    @property
    def address(self):
        return hostport(self.hosts[0], self.port)

    # observations ------------------------------------------------------------------------------
    def queries(self, qname=None, qtype=None, transport=None):
        with self._lock:
            out = list(self.seen)
        if qname is not None:
            qn = qname.lower() if qname.endswith(".") else qname.lower() + "."
            out = [s for s in out if s.qname == qn]
        if qtype is not None:
            out = [s for s in out if s.qtype == qtype]
        if transport is not None:
            out = [s for s in out if s.transport == transport]
        return out

    def count(self, qname=None, qtype=None, transport=None):
        return len(self.queries(qname, qtype, transport))

    def reset(self):
        with self._lock:
            self.seen.clear()

    # behaviour ---------------------------------------------------------------------------------
    def _real(self, q):
        return default_answer(q, self.addr, self.ttl, self.neg_minimum)

    def _forged_id(self, q):
        r = default_answer(q, self.FORGED_ADDR, self.ttl)
        r.id = q.id ^ 0x5A5A
        return r

    def _forged_question(self, q):
        fake = dns.message.make_query("evil.example.", q.question[0].rdtype)
        fake.id = q.id
        r = default_answer(fake, self.FORGED_ADDR, self.ttl)
        return r

    def _forged_source(self, q):
        return default_answer(q, self.FORGED_ADDR, self.ttl)

    def _decide(self, q, transport):
        if self.handler is not None:
            res = self.handler(q, transport)
            if isinstance(res, dns.message.Message):
                return Action().send(res, self.delay)
            return res
        b, d, gap = self.behaviour, self.delay, self.forge_gap
        a = Action()
        if b == "silent":
            return None
        if b == "servfail":
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.SERVFAIL)
            return a.send(r, d)
        if b == "tc" and transport == "udp":
            r = dns.message.make_response(q)
            r.flags |= dns.flags.TC
            return a.send(r, d)
        if transport == "udp" and b.startswith("wrong_"):
            kind = b[len("wrong_"):].replace("_only", "")
            forged = {"id": self._forged_id, "question": self._forged_question,
                      "source": self._forged_source}[kind](q)
            a.send(forged, d, via="other_port" if kind == "source" else None)
            if not b.endswith("_only"):
                a.send(self._real(q), d + gap)
            return a
        return a.send(self._real(q), d)

    # server loop -------------------------------------------------------------------------------
    def _later(self, delay, fn):
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._seq, fn))

    def _record(self, wire, transport, peer):
        try:
            q = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - garbage to an upstream: ignore
            return None
        with self._lock:
            self.seen.append(Seen(q, transport, peer, wire))
        return q

    def _handle(self, wire, transport, peer, reply):
        q = self._record(wire, transport, peer)
        if q is None or not q.question:
            return
        if (transport == "udp" and not self.udp_enabled) or (transport == "tcp" and not self.tcp_enabled):
            return
        try:
            act = self._decide(q, transport)
        except Exception as e:  # noqa: BLE001 - a test's handler bug must not kill the server
            self.errors.append(repr(e))
            return
        if act is None:
            return
        for delay, out, via in act.sends:
            self._later(delay, lambda out=out, via=via: reply(out, via))

    def _run(self):
        while not self._stop:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, _ in self._sel.select(timeout if timeout is not None else 0.5):
                kind, _ = key.data
                s = key.fileobj
                if kind == "wake":
                    s.recv(64)
                elif kind == "udp":
                    self._on_udp(s)
                elif kind == "listen":
                    try:
                        c, _ = s.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.tcp_accepts += 1
                    if self.tcp_hang_connections > 0:
                        self.tcp_hang_connections -= 1
                        self._hung.append(c)
                        continue
                    self._tcp_bufs[c] = b""
                    self._sel.register(c, selectors.EVENT_READ, ("tcp", None))
                elif kind == "tcp":
                    self._on_tcp(s)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                try:
                    fn()
                except OSError:
                    pass

    def _on_udp(self, s):
        for _ in range(64):
            try:
                wire, peer = s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return

            def reply(out, via, s=s, peer=peer):
                (self._other if via == "other_port" else s).sendto(out, peer)
            self._handle(wire, "udp", peer, reply)

    def _on_tcp(self, c):
        try:
            data = c.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.tcp_peer_closes += 1
            self._sel.unregister(c)
            self._tcp_bufs.pop(c, None)
            c.close()
            return
        buf = self._tcp_bufs.get(c, b"") + data
        while len(buf) >= 2:
            n = struct.unpack("!H", buf[:2])[0]
            if len(buf) < 2 + n:
                break
            wire, buf = buf[2:2 + n], buf[2 + n:]
            if self.tcp_close_unanswered > 0:
                self.tcp_close_unanswered -= 1
                self._record(wire, "tcp", c.getpeername())
                self._sel.unregister(c)
                self._tcp_bufs.pop(c, None)
                c.close()
                return

            def reply(out, via, c=c):
                if c.fileno() >= 0:
                    c.setblocking(True)
                    try:
                        c.sendall(struct.pack("!H", len(out)) + out)
                    finally:
                        c.setblocking(False)
                    if self.tcp_close_after_answer:
                        self._sel.unregister(c)
                        self._tcp_bufs.pop(c, None)
                        c.close()
            self._handle(wire, "tcp", c.getpeername() if c.fileno() >= 0 else None, reply)
        self._tcp_bufs[c] = buf
