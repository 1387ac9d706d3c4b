// Tenants, devices, policies, schedule entries and feeds: each field is read as config/schema.h
// describes it (key, type, range, required, enum names), so this reader, the YAML writer and
// the admin API's JSON reader agree on every one. What is left here is what relates fields to
// each other: a tenant without an id, its derived name, duplicate device names, max_devices.
#include "config/yaml/tenants.h"

#include "config/schema.h"

namespace sekisho::config {
namespace {

template <class S>
void read_fields(Reader& r, const YAML::Node& node, const std::string& path, S& out);

// Checks an item against the items of its list read before it (most lists have nothing to
// check here: schedule entries, local records and forward zones are checked when compiled).
template <class Item>
void check_item(Reader&, const YAML::Node&, const std::string&, const std::vector<Item>&, const Item&) {}

void check_item(Reader& r, const YAML::Node& item, const std::string& path, const std::vector<DeviceSettings>& before,
                const DeviceSettings& d) {
  for (const auto& other : before)
    if (!d.name.empty() && other.name == d.name)
      r.error(item["name"], path + ".name", "device '" + d.name + "' is listed twice");
}

void check_item(Reader& r, const YAML::Node& item, const std::string& path, const std::vector<FeedSettings>& before,
                const FeedSettings& f) {
  for (const auto& other : before)
    if (!f.name.empty() && other.name == f.name)
      r.error(item["name"], path + ".name", "feed '" + f.name + "' is listed twice (a feed is one source of the store)");
  for (const auto& [key, why] : check_feed_kind(f)) {
    const YAML::Node at = item[std::string(key)];
    r.error(at.IsDefined() ? at : item, path + "." + std::string(key), why);
  }
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Text<S>& f, S& out) {
  std::string value;
  const bool given = r.read_string(node, f.key, path, value);
  if (given) out.*f.member = std::move(value);
  if (f.mark) out.*f.mark = given ? r.mark(node[std::string(f.key)]) : out.mark;
  const std::string& v = out.*f.member;
  if (!f.required.empty() && v.empty()) {
    r.error(node, Reader::join(path, f.key), std::string(f.required));
  } else if (f.check && !v.empty()) {
    if (std::string why = f.check(v); !why.empty()) r.error(node[std::string(f.key)], Reader::join(path, f.key), why);
  }
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Texts<S>& f, S& out) {
  for (auto& [value, n] : r.read_string_list(node, f.key, path)) {
    (out.*f.member).push_back(value);
    if (f.marks) (out.*f.marks).push_back(r.mark(n));
  }
  if (!f.required.empty() && (out.*f.member).empty()) r.error(node, Reader::join(path, f.key), std::string(f.required));
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Patterns<S>& f, S& out) {
  for (auto& [pattern, n] : r.read_string_list(node, f.key, path)) (out.*f.member).push_back({pattern, r.mark(n)});
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Networks<S>& f, S& out) {
  read_network_list(r, node, f.key, path, out.*f.member);
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Flag<S>& f, S& out) {
  r.read_bool(node, f.key, path, out.*f.member);
}

template <class S, class Int>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Number<S, Int>& f, S& out) {
  r.read_uint(node, f.key, path, out.*f.member, f.min, f.max);
}

template <class S, class E>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Choice<S, E>& f, S& out) {
  std::string text;
  if (!r.read_string(node, f.key, path, text)) return;
  if (auto value = parse_enum<E>(text)) out.*f.member = *value;
  else r.error(node[std::string(f.key)], Reader::join(path, f.key), not_an_enum_value<E>(text));
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Time<S>& f, S& out) {
  std::string text;
  if (r.read_string(node, f.key, path, text) && !parse_time_of_day(text, out.*f.member))
    r.error(node[std::string(f.key)], Reader::join(path, f.key), not_a_time_of_day(text));
}

template <class S>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Days<S>& f, S& out) {
  if (!node[std::string(f.key)].IsDefined()) return;
  uint8_t& days = out.*f.member;
  days = 0;
  for (auto& [day, n] : r.read_string_list(node, f.key, path)) {
    if (auto bit = parse_day(day)) days |= static_cast<uint8_t>(1u << *bit);
    else r.error(n, Reader::join(path, f.key), not_a_day(day));
  }
}

template <class S, class Item>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Items<S, Item>& f, S& out) {
  const YAML::Node list = node[std::string(f.key)];
  if (!list.IsDefined()) return;
  static constexpr auto kKeys = schema::keys<Item>();
  std::vector<Item>& items = out.*f.member;
  r.read_map_list(list, Reader::join(path, f.key), f.what, kKeys, [&](const YAML::Node& at, const std::string& ipath) {
    Item item;
    item.mark = r.mark(at);
    read_fields(r, at, ipath, item);
    check_item(r, at, ipath, items, item);
    items.push_back(std::move(item));
  });
}

template <class S, class Item>
void read_field(Reader& r, const YAML::Node& node, const std::string& path, const schema::Section<S, Item>& f, S& out) {
  static constexpr auto kKeys = schema::keys<Item>();
  const YAML::Node at = node[std::string(f.key)];
  if (!at.IsDefined() || at.IsNull()) return;
  const std::string ipath = Reader::join(path, f.key);
  if (!r.expect_map(at, ipath)) return;
  r.check_keys(at, ipath, kKeys);
  Item& item = out.*f.member;
  item.mark = r.mark(at);
  read_fields(r, at, ipath, item);
}

template <class S>
void read_fields(Reader& r, const YAML::Node& node, const std::string& path, S& out) {
  schema::for_each_field<S>([&](const auto& field) { read_field(r, node, path, field, out); });
}

}  // namespace

void read_policy(Reader& r, const std::string& name, const YAML::Node& node, PolicySettings& out, const std::string& path) {
  static constexpr auto kKeys = schema::keys<PolicySettings>();
  out.name = name;
  out.mark = r.mark(node);
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, kKeys);
  read_fields(r, node, path, out);
}

void read_tenants(Reader& r, const YAML::Node& node, std::vector<TenantSettings>& out) {
  static constexpr auto kKeys = schema::keys<TenantSettings>();
  r.read_map_list(node, "tenants", "tenants", kKeys, [&](const YAML::Node& item, const std::string& ipath) {
    TenantSettings t;
    t.mark = r.mark(item);
    read_fields(r, item, ipath, t);
    if (t.id.empty()) return;  // reported by the id field; nothing can refer to it
    apply_derived_defaults(t);
    if (t.max_devices != 0 && t.devices.size() > t.max_devices)
      r.error(item["devices"], ipath + ".devices",
              std::to_string(t.devices.size()) + " devices exceed max_devices " + std::to_string(t.max_devices));
    out.push_back(std::move(t));
  });
}

void read_feeds(Reader& r, const YAML::Node& node, std::vector<FeedSettings>& out) {
  static constexpr auto kKeys = schema::keys<FeedSettings>();
  r.read_map_list(node, "feeds", "feeds", kKeys, [&](const YAML::Node& item, const std::string& ipath) {
    FeedSettings f;
    f.mark = r.mark(item);
    read_fields(r, item, ipath, f);
    check_item(r, item, ipath, out, f);
    out.push_back(std::move(f));
  });
}

void read_policies(Reader& r, const YAML::Node& node, std::map<std::string, PolicySettings>& out) {
  if (!r.expect_map(node, "policies")) return;
  for (const auto& kv : node) {
    const std::string name = kv.first.Scalar();
    if (out.count(name)) {
      r.error(kv.first, "policies." + name, "policy '" + name + "' is defined twice (first at " +
                                                 out[name].mark.file + ":" + std::to_string(out[name].mark.line) + ")");
      continue;
    }
    read_policy(r, name, kv.second, out[name], "policies." + name);
  }
}

namespace {

// A section of numbers (server.tcp, forwarding, limits), each as config/schema.h describes it.
template <class S>
void read_number_section(Reader& r, const YAML::Node& node, const std::string& path, S& out) {
  static constexpr auto kKeys = schema::keys<S>();
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, kKeys);
  read_fields(r, node, path, out);
}

}  // namespace

void read_described(Reader& r, const YAML::Node& node, const std::string& path, TcpSettings& out) {
  read_number_section(r, node, path, out);
}

void read_described(Reader& r, const YAML::Node& node, const std::string& path, ForwardingSettings& out) {
  read_number_section(r, node, path, out);
}

void read_described(Reader& r, const YAML::Node& node, const std::string& path, LimitSettings& out) {
  read_number_section(r, node, path, out);
}

void read_described(Reader& r, const YAML::Node& node, const std::string& path, InterceptLimitsSettings& out) {
  static constexpr auto kKeys = schema::keys<InterceptLimitsSettings>();
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, kKeys);
  read_fields(r, node, path, out);
}

void read_described(Reader& r, const YAML::Node& node, const std::string& path, FleetSettings& out) {
  static constexpr auto kKeys = schema::keys<FleetSettings>();
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, kKeys);
  out.mark = r.mark(node);
  read_fields(r, node, path, out);
  if (!out.password_file.empty() && !out.password_env.empty())
    r.error(node, path + ".password_env", "give the password in password_file or password_env, not both");
}

}  // namespace sekisho::config
