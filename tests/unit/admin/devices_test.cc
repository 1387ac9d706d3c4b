// admin/tenant_files/devices: device tokens from the CSPRNG, and the add/revoke rules the CLI and the
// admin API share (max_devices, duplicates).
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "admin/tenant_files/devices.h"

using namespace sekisho;

TEST_CASE("device tokens: 20 characters of [a-z0-9], all characters used, never repeated") {
  std::set<std::string> seen;
  std::map<char, int> counts;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = config::generate_device_token();
    REQUIRE(t.size() == 20);
    for (char c : t) {
      REQUIRE(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')));
      ++counts[c];
    }
    seen.insert(t);
  }
  CHECK(seen.size() == 1000);
  // 20,000 characters over 36 symbols: about 556 each; a biased or stuck generator falls far off.
  CHECK(counts.size() == 36);
  for (const auto& count : counts) {
    const char c = count.first;  // plain names: doctest's INFO captures, and clang 14 cannot capture bindings
    const int n = count.second;
    INFO(c << " appeared " << n << " times");
    CHECK(n > 400);
    CHECK(n < 720);
  }
}

TEST_CASE("add_device: generates a token, honours max_devices, refuses duplicates") {
  config::TenantFileContent c;
  c.tenant.id = "acme";
  c.tenant.max_devices = 2;
  std::string token;
  CHECK(config::add_device(c, "taro-iphone", token).empty());
  CHECK(token.size() == 20);
  REQUIRE(c.tenant.devices.size() == 1);
  CHECK(c.tenant.devices[0].token == token);

  std::string same_name_token = "abcdefgh12";
  CHECK(config::add_device(c, "taro-iphone", same_name_token) == "tenant 'acme' already has a device named 'taro-iphone'");
  std::string reused = token;
  CHECK(config::add_device(c, "hana", reused).find("is already used by device 'taro-iphone'") != std::string::npos);
  std::string empty;
  CHECK(config::add_device(c, "", empty) == "a device needs a name");

  std::string given = "abcdefgh12";
  CHECK(config::add_device(c, "hana", given).empty());
  CHECK(given == "abcdefgh12");
  std::string third;
  const std::string why = config::add_device(c, "jiro", third);
  CHECK(why == "tenant 'acme' already has 2 devices, its max_devices limit (2); revoke one or raise max_devices");
  CHECK(third.empty());
  CHECK(c.tenant.devices.size() == 2);

  CHECK(config::revoke_device(c, "nobody") == "tenant 'acme' has no device named 'nobody'");
  CHECK(config::revoke_device(c, "taro-iphone").empty());
  CHECK(config::add_device(c, "jiro", third).empty());
  CHECK(c.tenant.devices.size() == 2);
  CHECK(c.tenant.devices[0].name == "hana");
  CHECK(c.tenant.devices[1].name == "jiro");
}
