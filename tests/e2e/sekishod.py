"""Start and stop a real sekishod for one test.

- The config is generated as YAML from a dict (see base_config) into the test's temp dir.
- NOTIFY_SOCKET points at an abstract unix datagram socket owned by the harness; start() returns once
  sekishod sends READY=1 (sd_notify), or fails with sekishod's stderr if it exits or times out.
- stderr goes to a file so tests can assert on log lines.
- stop(): SIGTERM, wait, then SIGKILL.

SEKISHO_E2E_STANDIN=unbound runs Debian's unbound with an equivalent config instead of sekishod. It
exists only to validate the harness and the tests' own logic while sekishod is being written;
tests that depend on sekishod-only behaviour are expected to fail against it.
"""
import copy
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

from netutil import BIND_TRIES, Listen, address_in_use, assign_ports, hostport, shared_ports

STANDIN = os.environ.get("SEKISHO_E2E_STANDIN", "")


def _default_binary():
    if os.environ.get("SEKISHOD"):
        return os.environ["SEKISHOD"]
    build = os.environ.get("SEKISHO_BUILD_DIR") or str(
        pathlib.Path(__file__).resolve().parents[2] / "build")
    return str(pathlib.Path(build) / "daemon" / "sekishod")


SEKISHOD = _default_binary()


# ------------------------------------------------------------------------------------- YAML emitter

def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def to_yaml(value, indent=0):
    """Block-style YAML for dicts / lists / scalars (enough for sekishod configs)."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append("%s%s: []" % (pad, k))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict):
                inner = to_yaml(v, indent + 2).split("\n")
                lines.append("%s- %s" % (pad, inner[0].lstrip()))
                lines.extend(inner[1:])
            else:
                lines.append("%s- %s" % (pad, _scalar(v)))
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines)


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def base_config(port, upstreams):
    """The harness's config; `port` None listens on a port picked at each start (ports["dns"])."""
    dns = [Listen(h, "dns") if port is None else hostport(h, port) for h in ("127.0.0.1", "::1")]
    return {
        "server": {
            "threads": 2,
            "listen": {"dns": dns},
            "tcp": {"idle_timeout_ms": 10000, "max_connections": 1024},
            "drain_timeout_ms": 3000,
        },
        "upstreams": list(upstreams),
        "forwarding": {"timeout_ms": 400, "attempts": 2},
        "cache": {"max_entries": 100000, "serve_stale": 0},
        "log": {"level": "info"},
    }


# ------------------------------------------------------------------------------------ the process

class SekishodError(AssertionError):
    pass


class Sekishod:
    host4 = "127.0.0.1"
    host6 = "::1"

    def __init__(self, workdir, upstreams, overrides=None, binary=None, name="sekishod"):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.binary = binary or SEKISHOD
        self.upstreams = upstreams
        self.overrides = overrides or {}
        self.name = name
        self.config_path = self.dir / ("%s.yaml" % name)
        self.stderr_path = self.dir / ("%s.stderr" % name)
        self.proc = None
        self.port = None
        self.ports = {}                  # Listen name -> port, from the last start / prepare
        self.config = None
        self.notifications = []          # every sd_notify datagram, decoded
        self._notify_lock = threading.Lock()
        self._notify_sock = None
        self._notify_thread = None
        self.ready_after = None          # seconds from exec to READY=1
        self.wrapper = []                # argv run before sekishod's, e.g. ["prlimit", "--nofile=256", "--"]

    # config ---------------------------------------------------------------------------------------
    def render(self, config=None):
        cfg = config if config is not None else self.config
        return to_yaml(cfg) + "\n"

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        self.config_path.write_text(self.render())
        if STANDIN == "unbound":
            (self.dir / ("%s.unbound.conf" % self.name)).write_text(self._unbound_conf())

    def set_upstreams(self, upstreams):
        self.config = copy.deepcopy(self.config)
        self.config["upstreams"] = list(upstreams)
        self.write_config()

    # notify ---------------------------------------------------------------------------------------
    def _open_notify(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = "sekisho-e2e-%d-%d-%s" % (os.getpid(), id(self), self.name)
        s.bind("\0" + name)
        s.settimeout(0.2)
        self._notify_sock = s
        self._notify_addr = "@" + name
        self._notify_stop = False
        self._notify_thread = threading.Thread(target=self._notify_loop, daemon=True)
        self._notify_thread.start()

    def _notify_loop(self):
        while not self._notify_stop:
            try:
                data = self._notify_sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._notify_lock:
                self.notifications.append((time.monotonic(), data.decode(errors="replace")))

    def notify_lines(self):
        with self._notify_lock:
            return [line for _, d in self.notifications for line in d.split("\n") if line]

    def wait_notify(self, what, timeout, after=0):
        """Wait until a notify line equal to `what` appears at index >= after."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.notify_lines()
            if what in lines[after:]:
                return True
            if self.proc.poll() is not None:
                return what in self.notify_lines()[after:]
            time.sleep(0.02)
        return False

    # lifecycle ------------------------------------------------------------------------------------
    def argv(self):
        if STANDIN == "unbound":
            return ["/usr/sbin/unbound", "-d", "-c", str(self.dir / ("%s.unbound.conf" % self.name))]
        return list(self.wrapper) + [self.binary, "--config", str(self.config_path)]

    def prepare(self, keep=None):
        """Pick the ports (the ones in `keep` kept) and write the config without starting, e.g. for
        the CLI to read first; start() then tries these ports first."""
        cfg = deep_merge(base_config(None, self.upstreams), self.overrides)
        self.config, self.ports = assign_ports(cfg, keep)
        self.port = self.ports.get("dns") or self._first_dns_port()
        self.write_config()
        return self

    def _first_dns_port(self):
        dns = self.config["server"]["listen"].get("dns") or []
        return int(dns[0].rsplit(":", 1)[1]) if dns else None

    def start(self, timeout=10.0, tries=BIND_TRIES):
        """Start and wait for READY=1. Listen addresses given as netutil.Listen get ports picked
        here (a restart keeps the previous ones); when a bind fails with 'address in use' (another
        process took a port since it was found free), or a port turns out shared with another
        process's SO_REUSEPORT socket, the start is retried with new ports."""
        if not STANDIN and not os.access(self.binary, os.X_OK):
            raise SekishodError("sekishod binary not found at %s (set SEKISHOD)" % self.binary)
        self._open_notify()
        for attempt in range(tries):
            self.ready_after = None
            # A restarted server's READY=1 is the new process's, not the one before it.
            seen = len(self.notify_lines())
            self.prepare(keep=self.ports if attempt == 0 else None)
            env = dict(os.environ, NOTIFY_SOCKET=self._notify_addr)
            env.pop("WATCHDOG_USEC", None)
            err = open(self.stderr_path, "ab")
            err.write(("=== start attempt %d: %s\n" % (attempt, " ".join(self.argv()))).encode())
            err.flush()
            offset = err.tell()
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err, env=env, start_new_session=True)
            err.close()
            deadline = t0 + timeout
            while time.monotonic() < deadline:
                if "READY=1" in self.notify_lines()[seen:]:
                    self.ready_after = time.monotonic() - t0
                    break
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
            if self.ready_after is not None:
                shared = shared_ports(self.proc.pid, set(self.ports.values()) | {self.port})
                if not shared:
                    return self
                if attempt + 1 == tries:
                    self.kill()
                    raise SekishodError("%s shares ports %s with another process" % (self.name, shared))
                self.stop_for_retry("ports %s shared with another process" % shared)
                continue  # lost a free-port race without 'address in use'; try other ports
            code = self.proc.poll()
            log = self.stderr()
            if code is None:
                self.kill()
                raise SekishodError("sekishod sent no READY=1 within %.0f s; notify=%r; stderr:\n%s"
                                    % (timeout, self.notify_lines(), log[-4000:]))
            this_attempt = self.stderr_path.read_bytes()[offset:].decode(errors="replace")
            if address_in_use(this_attempt) and attempt + 1 < tries:
                continue  # lost a free-port race; try other ports
            raise SekishodError("sekishod exited with %s before READY=1; stderr:\n%s"
                                % (code, log[-4000:]))
        raise SekishodError("sekishod could not start")

    def stop_for_retry(self, why):
        """End a started attempt that must be retried; the notify socket stays open."""
        with open(self.stderr_path, "ab") as err:
            err.write(("=== retrying: %s\n" % why).encode())
        self.kill()
        with self._notify_lock:
            self.notifications.clear()

    def run_to_exit(self, port, timeout=10.0):
        """Write the config for `port` and run sekishod expecting it to exit by itself (startup
        failure tests). Returns the CompletedProcess; notifications are collected as usual."""
        if self._notify_sock is None:
            self._open_notify()
        self.port = port
        self.config, self.ports = assign_ports(deep_merge(base_config(port, self.upstreams), self.overrides))
        self.write_config()
        env = dict(os.environ, NOTIFY_SOCKET=self._notify_addr)
        p = subprocess.run(self.argv(), capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
        time.sleep(0.1)
        return p

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, config=None):
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)

    def terminate(self, timeout=10.0):
        """SIGTERM and wait; returns (exit code or None if still running, seconds taken)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - t0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            code, _ = self.terminate(6.0)
            if code is None:
                self.kill()
        self._notify_stop = True
        if self._notify_thread is not None:
            self._notify_thread.join(2)
            self._notify_thread = None
        if self._notify_sock is not None:
            self._notify_sock.close()
            self._notify_sock = None

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # the unbound stand-in ---------------------------------------------------------------------------
    def _unbound_conf(self):
        cfg = self.config
        lines = ["server:", "  use-systemd: yes", "  do-daemonize: no", "  chroot: \"\"",
                 "  username: \"\"", "  pidfile: \"\"", "  directory: \"%s\"" % self.dir,
                 "  logfile: \"\"", "  use-syslog: no", "  verbosity: 1",
                 "  num-threads: 1", "  do-ip6: yes", "  interface-automatic: no",
                 "  access-control: 127.0.0.0/8 allow", "  access-control: ::1 allow",
                 "  module-config: \"iterator\"", "  qname-minimisation: no",
                 "  do-not-query-localhost: no", "  harden-referral-path: no",
                 "  edns-buffer-size: 1232", "  minimal-responses: yes",
                 "  incoming-num-tcp: %d" % cfg["server"]["tcp"]["max_connections"],
                 "  tcp-idle-timeout: %d" % cfg["server"]["tcp"]["idle_timeout_ms"],
                 "  msg-cache-slabs: 1", "  rrset-cache-slabs: 1",
                 "  serve-expired: %s" % ("yes" if cfg["cache"]["serve_stale"] else "no"),
                 "  serve-expired-client-timeout: 0", "  ede: yes", "  ede-serve-expired: yes",
                 "  val-log-level: 0", "  infra-host-ttl: 1"]
        for a in cfg["server"]["listen"]["dns"]:
            h, p = a.rsplit(":", 1)
            lines.append("  interface: %s@%s" % (h.strip("[]"), p))
        lines += ["forward-zone:", "  name: \".\""]
        for u in cfg["upstreams"]:
            addr = u["address"] if isinstance(u, dict) else u
            h, p = addr.rsplit(":", 1)
            lines.append("  forward-addr: %s@%s" % (h.strip("[]"), p))
        return "\n".join(lines) + "\n"
