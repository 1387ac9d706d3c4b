"""A real PostgreSQL 15 for one test module: initdb and pg_ctl from /usr/lib/postgresql/15/bin,
run as the `postgres` user (runuser) when the harness is root (PostgreSQL refuses to run as
root), in a fresh directory under /tmp, listening on 127.0.0.1 on a port picked at each start
(the same port again on a restart, so clients' conninfo stays valid) and on a Unix socket in
its own directory. Password authentication (SCRAM) over TCP for the role `sekisho`, which owns
the database `sekisho`: the clients under test log in as a real deployment's would."""
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from netutil import free_port

BIN = "/usr/lib/postgresql/15/bin"


class PostgresError(AssertionError):
    pass


class Postgres:
    def __init__(self, user="sekisho", password="fleet-secret-pw", database="sekisho"):
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not os.access(os.path.join(BIN, tool), os.X_OK):
                raise PostgresError("%s/%s not found: install postgresql-15 (.ci/setup)" % (BIN, tool))
        self.user, self.password, self.database = user, password, database
        self.dir = tempfile.mkdtemp(prefix="sekisho-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = None
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)

    def _run(self, argv, timeout=60, check=True, input=None):
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_root else []) + argv
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise PostgresError("%s failed (%d):\n%s%s\n%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr,
                                                                 self.log_text()[-3000:]))
        return p

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def init(self):
        pwfile = os.path.join(self.dir, "superuser.pw")
        with open(pwfile, "w") as f:
            f.write("unused-superuser-pw\n")
        if self.as_root:
            shutil.chown(pwfile, "postgres")
        self._run([os.path.join(BIN, "initdb"), "-D", self.data, "-U", "postgres", "--pwfile", pwfile,
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            # Durability is not under test; fsync off keeps a shared 2-core machine's disk free.
            f.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                    "max_connections = 40\n" % self.dir)
        self.start()
        self._psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.user, self.password))
        self._psql("CREATE DATABASE %s OWNER %s" % (self.database, self.user))
        return self

    def reset(self):
        """An empty database again (started if it was stopped)."""
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.restart_same_port()
        self._psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.database)
        self._psql("CREATE DATABASE %s OWNER %s" % (self.database, self.user))

    def _psql(self, sql):
        return self._run([os.path.join(BIN, "psql"), "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                          "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql])

    def start(self, tries=5):
        for attempt in range(tries):
            if self.port is None or attempt > 0:
                self.port = free_port(hosts=("127.0.0.1",))
            p = self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", "-p %d" % self.port,
                           "-w", "-t", "30", "start"], check=False)
            if p.returncode == 0:
                return self
            if "could not bind" not in self.log_text() or attempt + 1 == tries:
                raise PostgresError("pg_ctl start failed:\n%s%s\n%s" % (p.stdout, p.stderr, self.log_text()[-3000:]))
        raise PostgresError("PostgreSQL could not start")

    def restart_same_port(self):
        """Start again on the port it had (clients reconnect to the address they know)."""
        p = self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", "-p %d" % self.port,
                       "-w", "-t", "30", "start"], check=False)
        if p.returncode != 0:
            raise PostgresError("pg_ctl start failed:\n%s%s\n%s" % (p.stdout, p.stderr, self.log_text()[-3000:]))
        return self

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"], check=False)

    def conninfo(self):
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.port, self.database, self.user)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
