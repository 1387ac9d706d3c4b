"""Loopback-only networking helpers: free ports and bounded waits.

Every address used by the e2e tests is 127.0.0.0/8 or ::1.
"""
import socket
import time

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
