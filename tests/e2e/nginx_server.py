"""A real nginx on a loopback port for the e2e tests: TLS with a test CA's certificate, static files
from a directory of the test's own, and an access log that records the request headers a test asks
about (If-None-Match, If-Modified-Since, Accept-Encoding).

    srv = Nginx(workdir, cert, key, extra_locations="location = /down.txt { return 503; }")
    srv.start(); ... srv.url("/list.txt"); srv.access_log(); srv.stop()

Started in the foreground (daemon off) as a child of the test; bound to 127.0.0.1 only. A start that
fails with 'address in use' is retried on another port.
"""
import pathlib
import shutil
import subprocess
import time

from netutil import BIND_TRIES, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    def __init__(self, workdir, cert, key, extra_locations="", gzip_text=True):
        self.dir = pathlib.Path(workdir)
        self.www = self.dir / "www"
        self.www.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = cert, key
        self.extra = extra_locations
        self.gzip_text = gzip_text
        self.port = None
        self.proc = None

    def _config(self):
        d = self.dir
        temp = "".join("    %s_temp_path %s/%s;\n" % (k, d, k) for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return """user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format feed '$status "$request" inm="$http_if_none_match" ims="$http_if_modified_since" ae="$http_accept_encoding" bytes=$body_bytes_sent';
    access_log {d}/access.log feed;
{temp}    types {{ text/plain txt; text/html html; application/gzip gz; }}
    default_type application/octet-stream;
    gzip {gzip};
    gzip_types text/plain;
    gzip_min_length 1;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        error_page 503 /503.html;
        location = /503.html {{ internal; }}
{extra}
    }}
}}
""".format(d=d, temp=temp, gzip="on" if self.gzip_text else "off", port=self.port, cert=self.cert, key=self.key,
           www=self.www, extra=self.extra)

    def start(self, tries=BIND_TRIES):
        for _ in range(tries):
            self.port = free_port(("127.0.0.1",))
            (self.dir / "nginx.conf").write_text(self._config())
            for name in ("error.log", "access.log"):
                (self.dir / name).write_text("")
            self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c",
                                          str(self.dir / "nginx.conf")], stdout=subprocess.DEVNULL,
                                         stderr=open(self.dir / "stderr", "w"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if "start worker process" in (self.dir / "error.log").read_text(errors="replace"):
                    return self
                time.sleep(0.05)
            text = (self.dir / "error.log").read_text(errors="replace") + (self.dir / "stderr").read_text()
            self.stop()
            if "Address already in use" not in text:
                raise AssertionError("nginx did not start:\n" + text[-3000:])
        raise AssertionError("nginx: no free port after %d tries" % tries)

    def url(self, path, host="127.0.0.1"):
        return "https://%s:%d%s" % (host, self.port, path)

    def access_log(self):
        return (self.dir / "access.log").read_text(errors="replace").splitlines()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
