"""Loopback-only networking helpers: free ports, listen addresses whose port the harness picks at
each start attempt, recognising 'address in use', and bounded waits.

Every address used by the e2e tests is 127.0.0.0/8 or ::1.
"""
import datetime
import os
import socket
import time

# How many times a server is started with fresh ports when a port it was given is taken meanwhile.
BIND_TRIES = 5

LOOPBACKS = ("127.0.0.1", "::1")


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(hosts=LOOPBACKS, tries=50):
    """A port free for both UDP and TCP on every host in `hosts`.

    The kernel picks one for the first socket; the others must bind the same number. The sockets are
    closed before returning, so a small race with other processes remains; callers retry on
    'address in use' when they start a server.
    """
    for _ in range(tries):
        socks = []
        try:
            first = socket.socket(_family(hosts[0]), socket.SOCK_DGRAM)
            socks.append(first)
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
            for h in hosts:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    if h == hosts[0] and kind == socket.SOCK_DGRAM:
                        continue
                    s = socket.socket(_family(h), kind)
                    socks.append(s)
                    if _family(h) == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port found on %s" % (hosts,))


def hostport(host, port):
    """'127.0.0.1:53' / '[::1]:53'."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def address_in_use(text):
    """Whether a server's output says one of its binds failed because the port is taken (the
    race free_port leaves open): the start is worth retrying with other ports."""
    t = (text or "").lower()
    return "address already in use" in t or "eaddrinuse" in t


def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    return inodes


def shared_ports(pid, ports):
    """Ports among `ports` that process `pid` listens on (TCP) or is bound to (UDP) together with
    a socket of another process. sekishod and knotd bind with SO_REUSEPORT, so a second server of
    the same user that picked the same port binds without 'address in use' and the kernel splits
    the traffic between the two: the start has lost a port race as surely as with EADDRINUSE."""
    mine = _socket_inodes(pid)
    owners = {}  # port -> {inode: is ours}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open("/proc/net/" + proto) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if port in ports and inode != "0" and (proto.startswith("udp") or state == "0A"):
                owners.setdefault((proto[:3], port), {})[inode] = inode in mine
    return sorted("%s/%d" % key for key, socks in owners.items()
                  if any(socks.values()) and not all(socks.values()))


class Listen:
    """A listen address in a server config whose port the harness picks when it starts the
    server: Listen("127.0.0.1", "doh") is written as "127.0.0.1:<port>". Every Listen with the same
    name gets the same port (free on all of their hosts); after the start the port is in the
    server's `ports[name]`. A start that fails with 'address in use' is retried with new ports."""

    def __init__(self, host, name):
        self.host, self.name = host, name

    def __deepcopy__(self, memo):
        return self  # immutable

    def __repr__(self):
        return "Listen(%r, %r)" % (self.host, self.name)


def _walk(value, fn):
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    return fn(value)


def assign_ports(config, keep=None):
    """(config with every Listen written out, {name: port}). Ports in `keep` are reused (a restart
    keeps its addresses); the other names get fresh free ports."""
    hosts = {}

    def collect(v):
        if isinstance(v, Listen):
            hosts.setdefault(v.name, [])
            if v.host not in hosts[v.name]:
                hosts[v.name].append(v.host)
        return v
    _walk(config, collect)
    ports = {}
    for name, h in hosts.items():
        port = (keep or {}).get(name)
        while not port or port in ports.values():  # two names on one port would share it silently
            port = free_port(tuple(h))
        ports[name] = port
    return _walk(config, lambda v: hostport(v.host, ports[v.name]) if isinstance(v, Listen) else v), ports


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it is truthy or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def clear_of_utc_midnight(need):
    """Wait (at most `need` seconds) until at least `need` seconds of the current UTC day are
    left, so that a test taking less than that sees one date throughout: sekishod counts days in
    UTC by the same system clock, and a count split across a midnight would fail the test for
    no fault of the server. Returns the UTC date the test runs on."""
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(),
                                         datetime.timezone.utc)
    left = (midnight - now).total_seconds()
    if left < need:
        time.sleep(left + 0.5)
    return datetime.datetime.now(datetime.timezone.utc).date()
