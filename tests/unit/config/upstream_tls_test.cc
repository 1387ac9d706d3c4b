// config/yaml/load: the options of encrypted upstreams (transport: tls), read and refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/yaml/load.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using config::ConfigError;
using config::LoadResult;

namespace {

// SHA-256 of nothing, base64: a well-formed pin (32 bytes).
constexpr const char* kPin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

LoadResult load_upstream(const std::string& item) {
  return config::load_config_text("server: {listen: {dns: [\"127.0.0.1:5353\"]}}\nupstreams:\n  - " + item + "\n",
                                  "test.yaml");
}

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

// `r` has exactly one error, at `path`, saying `words` (besides "no upstream resolvers", which
// follows when the only upstream is refused).
void check_one_error(const LoadResult& r, const std::string& path, const std::string& words) {
  INFO(all_errors(r));
  REQUIRE(!r.errors.empty());
  REQUIRE(r.errors.size() == (r.errors.back().path == "upstreams" ? 2u : 1u));
  CHECK(r.errors[0].path == path);
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].message.find(words) != std::string::npos);
}

}  // namespace

TEST_CASE("transport tls: name, CA file and pin read; port 853 by default") {
  test::TempDir dir;
  const std::string ca = (dir.path / "ca.pem").string();
  std::ofstream(ca) << "-----BEGIN CERTIFICATE-----\n";
  LoadResult r = load_upstream("{address: 127.0.0.1, transport: tls, tls_name: DNS.Example., ca_file: " + ca +
                               ", spki_pin: \"" + kPin + "\"}");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  REQUIRE(r.settings.upstreams.size() == 1);
  const config::UpstreamSettings& u = r.settings.upstreams[0];
  CHECK(u.transport == config::UpstreamTransport::tls);
  CHECK(u.address.port() == 853);
  CHECK(u.tls_name == "dns.example");  // lower-cased, trailing dot dropped
  CHECK(u.ca_file == ca);
  REQUIRE(u.spki_sha256.size() == 32);
  CHECK(static_cast<uint8_t>(u.spki_sha256[0]) == 0xe3);
  CHECK(static_cast<uint8_t>(u.spki_sha256[31]) == 0x55);
  // A pin alone is enough (the pin decides; no name to check).
  r = load_upstream(std::string("{address: \"127.0.0.1:8853\", transport: tls, spki_pin: \"") + kPin + "\"}");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  CHECK(r.settings.upstreams[0].address.port() == 8853);
  CHECK(r.settings.upstreams[0].tls_name.empty());
}

TEST_CASE("transport tls without tls_name or spki_pin is refused") {
  check_one_error(load_upstream("{address: 127.0.0.1, transport: tls}"), "upstreams[0]", "transport: tls needs tls_name");
}

TEST_CASE("a bad pin is refused: not base64, not 32 bytes, unpadded, url alphabet") {
  for (const char* pin : {"not base64!", "AAAA", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
                          "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="}) {
    CAPTURE(pin);
    check_one_error(load_upstream(std::string("{address: 127.0.0.1, transport: tls, tls_name: dns.example, spki_pin: \"") +
                                  pin + "\"}"),
                    "upstreams[0].spki_pin", "base64 SHA-256");
  }
}

TEST_CASE("tls_name must be a host name; ca_file must exist") {
  check_one_error(load_upstream("{address: 127.0.0.1, transport: tls, tls_name: \"dns example\"}"),
                  "upstreams[0].tls_name", "is not a host name");
  check_one_error(load_upstream("{address: 127.0.0.1, transport: tls, tls_name: dns.example, ca_file: /nonexistent/ca.pem}"),
                  "upstreams[0].ca_file", "not a readable file");
}

TEST_CASE("TLS options on a udp or tcp upstream are refused") {
  check_one_error(load_upstream("{address: 127.0.0.1, transport: tcp, tls_name: dns.example}"),
                  "upstreams[0].tls_name", "only for transport: tls or https");
  check_one_error(load_upstream(std::string("{address: 127.0.0.1, spki_pin: \"") + kPin + "\"}"),
                  "upstreams[0].spki_pin", "only for transport: tls or https");
}

TEST_CASE("transport https: url into authority and path; address from an IP host; tls_name from a named host") {
  LoadResult r = load_upstream("{transport: https, url: \"https://127.0.0.1:8443/dns-query\", tls_name: dns.example}");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const config::UpstreamSettings& u = r.settings.upstreams[0];
  CHECK(u.transport == config::UpstreamTransport::https);
  CHECK(u.address.to_string() == "127.0.0.1:8443");
  CHECK(u.http_authority == "127.0.0.1:8443");
  CHECK(u.http_path == "/dns-query");
  CHECK(u.tls_name == "dns.example");
  r = load_upstream("{transport: https, url: \"https://DNS.Example/q?ct\", address: \"[::1]:443\"}");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  CHECK(r.settings.upstreams[0].tls_name == "dns.example");
  CHECK(r.settings.upstreams[0].http_authority == "dns.example");
  CHECK(r.settings.upstreams[0].http_path == "/q?ct");
  CHECK(r.settings.upstreams[0].address.to_string() == "[::1]:443");
  r = load_upstream("{transport: https, url: \"https://[::1]/dns-query\", spki_pin: \"" + std::string(kPin) + "\"}");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  CHECK(r.settings.upstreams[0].address.to_string() == "[::1]:443");
}

TEST_CASE("transport https refused: no url, no path, not https, bad port, a named host without address") {
  check_one_error(load_upstream("{transport: https, address: 127.0.0.1}"), "upstreams[0]", "needs url");
  check_one_error(load_upstream("{transport: https, url: \"https://127.0.0.1:8443\", tls_name: d.example}"),
                  "upstreams[0].url", "has no path");
  check_one_error(load_upstream("{transport: https, url: \"https://127.0.0.1/\", tls_name: d.example}"),
                  "upstreams[0].url", "has no path");
  check_one_error(load_upstream("{transport: https, url: \"http://127.0.0.1/dns-query\", tls_name: d.example}"),
                  "upstreams[0].url", "does not start with https://");
  check_one_error(load_upstream("{transport: https, url: \"https://127.0.0.1:99999/dns-query\", tls_name: d.example}"),
                  "upstreams[0].url", "bad port");
  check_one_error(load_upstream("{transport: https, url: \"https://dns.example/dns-query\"}"), "upstreams[0]",
                  "give 'address'");
  check_one_error(load_upstream("{transport: https, url: \"https://127.0.0.1/dns-query\"}"), "upstreams[0]",
                  "transport: https needs tls_name");
  check_one_error(load_upstream("{transport: tls, address: 127.0.0.1, tls_name: d.example, url: \"https://x/y\"}"),
                  "upstreams[0].url", "only for transport: https");
}

TEST_CASE("an unknown transport is named with the choices") {
  check_one_error(load_upstream("{address: 127.0.0.1, transport: quic}"), "upstreams[0].transport",
                  "'quic' is not a transport (udp | tcp | tls | https)");
}
