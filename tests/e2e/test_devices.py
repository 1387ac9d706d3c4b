"""Devices and profiles (issue 5): `sekisho device add|list|revoke` on a real config directory,
max_devices refusals, `sekisho profile apple|android` checked with python's plistlib and
`openssl cms -verify`, and DDR (RFC 9462) answered by a running sekishod, read with kdig."""
import os
import plistlib
import re
import signal
import subprocess
import uuid

import dns.rcode
import dns.rdatatype
import pytest

from clients import kdig, query_udp
from netutil import Listen

CLI = os.environ.get("SEKISHO_CLI") or os.path.join(
    os.environ.get("SEKISHO_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")), "admin", "sekisho")
PUBLIC_NAME = "dns.test"
TOKEN_RE = re.compile(r"^token: ([a-z0-9]{20})$", re.M)


def sekisho(*args, timeout=20):
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, timeout=timeout)


def text(p):
    return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def openssl(*args):
    p = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, timeout=20)
    assert p.returncode == 0, "openssl %s failed:\n%s" % (" ".join(map(str, args)), text(p))
    return p


def make_cert(dir, name, cn, san=None):
    """Self-signed P-256 certificate and key (PEM) in dir."""
    cert, key = dir / ("%s.pem" % name), dir / ("%s.key" % name)
    args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-keyout", key, "-out", cert, "-subj", "/CN=%s" % cn]
    if san:
        args += ["-addext", "subjectAltName=%s" % san]
    openssl(*args)
    return cert, key


def tls_overrides(dir, public_name=PUBLIC_NAME):
    """DoH on 127.0.0.1 and ::1 (sk.ports["doh"]), DoT on 127.0.0.1 (sk.ports["dot"])."""
    cert, key = make_cert(dir, "server", PUBLIC_NAME, "DNS:%s,DNS:*.%s,IP:127.0.0.1" % (PUBLIC_NAME, PUBLIC_NAME))
    server = {"listen": {"doh": [Listen("127.0.0.1", "doh"), Listen("::1", "doh")],
                         "dot": [Listen("127.0.0.1", "dot")]},
              "tls": {"cert": str(cert), "key": str(key)}}
    if public_name:
        server["public_name"] = public_name
    return server


@pytest.fixture
def confdir(sekishod, knot, tmp_path):
    """A sekishod config directory (not started): tenant acme in tenants.d/acme.yaml with
    max_devices 2, tenant mainco in the main file."""
    sk = sekishod([knot.addresses[0]], {
        "server": tls_overrides(tmp_path),
        "tenants": [{"id": "mainco", "networks": ["127.0.0.2/32"], "policy": "office"}],
        "policies": {"office": {"block": ["malware"]}},
    }, start=False)
    (sk.dir / "tenants.d").mkdir()
    (sk.dir / "tenants.d" / "acme.yaml").write_text(
        'tenants:\n  - id: acme\n    name: "ACME 株式会社"\n    networks: ["127.0.0.1/32", "::1/128"]\n'
        '    policy: office\n    max_devices: 2\n')
    # Written now for the CLI; start() tries the same ports first (new ones only if they were
    # taken meanwhile, rewriting the file).
    sk.prepare()
    sk.server_cert = tmp_path / "server.pem"
    return sk


def devices(sk, tenant=None):
    args = ["device", "list", "--config", sk.config_path] + (["--tenant", tenant] if tenant else [])
    p = sekisho(*args)
    assert p.returncode == 0, text(p)
    return [tuple(line.split("\t")) for line in p.stdout.decode().splitlines()]


def add(sk, name, tenant="acme", token=None):
    args = ["device", "add", "--config", sk.config_path, "--tenant", tenant, "--device", name]
    if token:
        args += ["--token", token]
    return sekisho(*args)


def test_device_add_list_revoke_and_max_devices(confdir):
    sk = confdir
    acme_file = sk.dir / "tenants.d" / "acme.yaml"

    p = add(sk, "taro-iphone")
    assert p.returncode == 0, text(p)
    m = TOKEN_RE.search(p.stdout.decode())
    assert m, text(p)
    token = m.group(1)
    assert "DoH:   https://%s:%d/dns-query/%s" % (PUBLIC_NAME, sk.ports["doh"], token) in p.stdout.decode(), text(p)
    assert "DoT:   %s.%s" % (token, PUBLIC_NAME) in p.stdout.decode(), text(p)

    p = add(sk, "hana-ipad", token="hana0000ipad")
    assert p.returncode == 0, text(p)
    assert devices(sk, "acme") == [("acme", "taro-iphone", token), ("acme", "hana-ipad", "hana0000ipad")]

    # One over max_devices is refused, naming the limit; the file is not touched.
    before = acme_file.read_bytes()
    p = add(sk, "jiro-android")
    assert p.returncode == 1, text(p)
    assert "tenant 'acme' already has 2 devices, its max_devices limit (2)" in text(p), text(p)
    assert acme_file.read_bytes() == before

    # Duplicates and bad tokens are refused with the reason.
    p = add(sk, "taro-iphone")
    assert p.returncode == 1 and "already has a device named 'taro-iphone'" in text(p), text(p)
    p = sekisho("device", "revoke", "--config", sk.config_path, "--tenant", "acme", "--device", "hana-ipad")
    assert p.returncode == 0, text(p)
    assert "hana0000ipad" not in acme_file.read_text()
    p = add(sk, "bad", token="UPPER-case")
    assert p.returncode == 1 and "a token is 8 to 32 characters of a-z and 0-9" in text(p), text(p)
    assert re.search(r"tenants\.d/acme\.yaml:\d+:\d+: tenants\[0\]\.devices\[1\]\.token", text(p)), text(p)
    p = add(sk, "copycat", token=token)
    assert p.returncode == 1 and "already used by device 'taro-iphone'" in text(p), text(p)
    assert devices(sk) == [("acme", "taro-iphone", token)]  # mainco has none

    # A tenant written in the main file is never rewritten by the CLI.
    main_before = sk.config_path.read_bytes()
    p = add(sk, "x", tenant="mainco")
    assert p.returncode == 1, text(p)
    assert "tenant 'mainco' is defined in %s:" % sk.config_path in text(p), text(p)
    assert sk.config_path.read_bytes() == main_before
    assert not (sk.dir / "tenants.d" / "mainco.yaml").exists()

    p = add(sk, "x", tenant="nobody")
    assert p.returncode == 1 and "no tenant 'nobody'" in text(p), text(p)
    p = sekisho("device", "revoke", "--config", sk.config_path, "--tenant", "acme", "--device", "ghost")
    assert p.returncode == 1 and "has no device named 'ghost'" in text(p), text(p)
    p = sekisho("device", "add", "--config", sk.config_path, "--tenant", "acme")
    assert p.returncode == 2 and "--device is required" in text(p), text(p)

    # What was written is a valid configuration for sekishod, with no temporary files left.
    p = sekisho("check-config", sk.config_path)
    assert p.returncode == 0, text(p)
    assert sorted(os.listdir(sk.dir / "tenants.d")) == ["acme.yaml"]


def doh_query(sk, path, name):
    return kdig("127.0.0.1", sk.ports["doh"], name, "A",
                extra=["+https=%s" % path, "+tls-ca=%s" % sk.server_cert,
                       "+tls-hostname=%s" % PUBLIC_NAME])


def test_added_device_works_after_sighup(confdir):
    """The CLI's file is what sekishod reloads: the new token is refused over DoH before SIGHUP
    and accepted after it."""
    sk = confdir
    sk.start()
    # DoH itself answers (tenant acme by the source address), so a refusal below is the token's.
    data, p = doh_query(sk, "/dns-query", "www.test.example")
    assert data and data.get("RCODE") == 0, "DoH does not answer:\n%s\n%s" % (p.stdout, p.stderr)
    p = add(sk, "taro-iphone")
    assert p.returncode == 0, text(p)
    token = TOKEN_RE.search(p.stdout.decode()).group(1)
    data, p = doh_query(sk, "/dns-query/%s" % token, "www.test.example")
    assert not (data and data.get("RCODE") == 0), "token accepted before the reload:\n%s" % p.stdout
    n = len(sk.notify_lines())
    sk.signal(signal.SIGHUP)
    assert sk.wait_notify("STATUS=configuration reloaded", 5.0, after=n), \
        "no reload after SIGHUP: %r\n%s" % (sk.notify_lines()[n:], sk.stderr()[-3000:])
    assert sk.alive()
    data, p = doh_query(sk, "/dns-query/%s" % token, "www.test.example")
    assert data and data.get("RCODE") == 0, "DoH with the new token failed:\n%s\n%s" % (p.stdout, p.stderr)


def profile(sk, *args):
    return sekisho("profile", *args)


@pytest.fixture
def with_device(confdir):
    p = add(confdir, "taro-iphone")
    assert p.returncode == 0, text(p)
    confdir.token = TOKEN_RE.search(p.stdout.decode()).group(1)
    return confdir


def test_profile_apple_plist(with_device, tmp_path):
    sk = with_device
    base = ["apple", "--config", sk.config_path, "--tenant", "acme", "--device", "taro-iphone"]
    p = profile(sk, *base)
    assert p.returncode == 0, text(p)
    prof = plistlib.loads(p.stdout)
    assert prof["PayloadType"] == "Configuration"
    assert prof["PayloadVersion"] == 1
    assert prof["PayloadIdentifier"] == "test.dns.sekisho.acme.taro-iphone"
    assert "ACME 株式会社" in prof["PayloadDisplayName"]
    assert len(prof["PayloadContent"]) == 1
    dnsp = prof["PayloadContent"][0]
    assert dnsp["PayloadType"] == "com.apple.dnsSettings.managed"
    assert dnsp["DNSSettings"] == {
        "DNSProtocol": "HTTPS",
        "ServerURL": "https://%s:%d/dns-query/%s" % (PUBLIC_NAME, sk.ports["doh"], sk.token)}
    uuids = {prof["PayloadUUID"], dnsp["PayloadUUID"]}
    assert len(uuids) == 2
    for u in uuids:
        assert uuid.UUID(u).version == 5, u
    # Re-issuing gives the same identity, so the device replaces the profile instead of adding one.
    again = plistlib.loads(profile(sk, *base).stdout)
    assert again["PayloadUUID"] == prof["PayloadUUID"]

    # With the inspection CA: a root payload carrying the certificate's DER.
    ca, _ = make_cert(tmp_path, "inspection-ca", "ACME Inspection CA")
    out = tmp_path / "taro.mobileconfig"
    p = profile(sk, *base, "--ca-cert", ca, "-o", out)
    assert p.returncode == 0, text(p)
    prof = plistlib.loads(out.read_bytes())
    types = [x["PayloadType"] for x in prof["PayloadContent"]]
    assert types == ["com.apple.dnsSettings.managed", "com.apple.security.root"]
    root = prof["PayloadContent"][1]
    der = openssl("x509", "-in", ca, "-outform", "DER").stdout
    assert root["PayloadContent"] == der
    assert "ACME Inspection CA" in root["PayloadDisplayName"]
    assert root["PayloadUUID"] not in uuids


def test_profile_apple_signed_verifies_with_openssl(with_device, tmp_path):
    sk = with_device
    signer, key = make_cert(tmp_path, "signer", "sekisho profile signer")
    other, _ = make_cert(tmp_path, "other", "someone else")
    base = ["apple", "--config", sk.config_path, "--tenant", "acme", "--device", "taro-iphone"]
    unsigned = profile(sk, *base).stdout
    signed = tmp_path / "signed.mobileconfig"
    p = profile(sk, *base, "--sign-cert", signer, "--sign-key", key, "-o", signed)
    assert p.returncode == 0, text(p)
    content = tmp_path / "content.xml"
    openssl("cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", signer, "-binary", "-out", content)
    assert content.read_bytes() == unsigned
    assert plistlib.loads(content.read_bytes())["PayloadContent"][0]["DNSSettings"]["DNSProtocol"] == "HTTPS"
    p = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", other,
                        "-binary", "-out", os.devnull], capture_output=True, timeout=20)
    assert p.returncode != 0, "verified against the wrong CA"
    p = profile(sk, *base, "--sign-cert", signer, "--sign-key", tmp_path / "other.key")
    assert p.returncode == 1 and "does not belong to the certificate" in text(p), text(p)
    p = profile(sk, *base, "--sign-cert", signer)
    assert p.returncode == 2 and "give both --sign-cert and --sign-key" in text(p), text(p)


def test_profile_android_and_errors(with_device):
    sk = with_device
    p = profile(sk, "android", "--config", sk.config_path, "--tenant", "acme", "--device", "taro-iphone")
    assert p.returncode == 0, text(p)
    assert p.stdout.decode() == "%s.%s\n" % (sk.token, PUBLIC_NAME)
    p = profile(sk, "android", "--config", sk.config_path, "--tenant", "acme", "--device", "nope")
    assert p.returncode == 1 and "tenant 'acme' has no device named 'nope'" in text(p), text(p)
    p = profile(sk, "windows", "--config", sk.config_path)
    assert p.returncode == 2 and "unknown profile kind 'windows'" in text(p), text(p)


# ------------------------------------------------------------------------------------------- DDR

def svcb_rdatas(data):
    return [rr.get("rdataSVCB") or rr.get("rdata") or str(rr) for rr in data.get("answerRRs", [])
            if rr.get("TYPEname") == "SVCB"]


def test_ddr_answers_with_doh_and_dot_endpoints(sekishod, knot, tmp_path):
    sk = sekishod([knot.addresses[0]], {"server": tls_overrides(tmp_path)})
    doh_port, dot_port = sk.ports["doh"], sk.ports["dot"]
    data, p = kdig("127.0.0.1", sk.port, "_dns.resolver.arpa", "SVCB")
    assert data and data.get("RCODE") == 0, "kdig: %s\n%s" % (p.stdout, p.stderr)
    records = sorted(svcb_rdatas(data))
    assert len(records) == 2, data
    doh, dot = records
    assert re.fullmatch(r'1 dns\.test\. alpn="?h2"? port="?%d"? ipv4hint="?127\.0\.0\.1"? ipv6hint="?::1"? '
                        r'(dohpath|key7)="?/dns-query\{\?dns\}"?' % doh_port, doh), doh
    assert re.fullmatch(r'2 dns\.test\. alpn="?dot"? port="?%d"? ipv4hint="?127\.0\.0\.1"?' % dot_port, dot), dot
    # Over TCP and with qtype A: the same name, NODATA.
    data, p = kdig("::1", sk.port, "_dns.resolver.arpa", "SVCB", tcp=True)
    assert data and len(svcb_rdatas(data)) == 2, p.stdout
    r = query_udp("127.0.0.1", sk.port, "_dns.resolver.arpa.", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, r


def test_ddr_nodata_without_public_name(sekishod, knot, tmp_path):
    sk = sekishod([knot.addresses[0]], {"server": tls_overrides(tmp_path, public_name="")})
    r = query_udp("127.0.0.1", sk.port, "_dns.resolver.arpa.", "SVCB")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, r
