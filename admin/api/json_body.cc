#include "admin/api/json_body.h"

#include <algorithm>

#include "config/schema.h"
#include "policy/querylog/format.h"

namespace sekisho::admin {
namespace {

using nlohmann::json;
namespace schema = config::schema;

std::vector<std::string> string_list(const json& value, const std::string& field) {
  std::vector<std::string> out;
  if (!value.is_array()) throw ApiError(400, "expected a list of strings", field);
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) throw ApiError(400, "expected a string", field + "[" + std::to_string(i) + "]");
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

// Each reader gets the field's value (present and not null) and its name for messages.

template <class S>
void read_field(const json& v, const std::string& field, const schema::Text<S>& f, S& out) {
  if (!v.is_string()) throw ApiError(400, "expected a string", field);
  const std::string text = v.get<std::string>();
  // The field's own rule, as the YAML reader applies it (config/schema.h).
  if (f.check && !text.empty())
    if (std::string why = f.check(text); !why.empty()) throw ApiError(400, why, field);
  out.*f.member = text.empty() ? schema::defaults<S>().*f.member : text;
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Texts<S>& f, S& out) {
  out.*f.member = string_list(v, field);
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Patterns<S>& f, S& out) {
  auto& entries = out.*f.member;
  entries.clear();
  for (auto& pattern : string_list(v, field)) entries.push_back({std::move(pattern), {}});
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Networks<S>& f, S& out) {
  if (!v.is_array()) throw ApiError(400, "expected a list of networks", field);
  auto& networks = out.*f.member;
  networks.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) throw ApiError(400, "expected a network such as 10.1.0.0/16", field + "[" + std::to_string(i) + "]");
    config::NetworkSettings n;
    n.text = v[i].get<std::string>();
    networks.push_back(std::move(n));
  }
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Flag<S>& f, S& out) {
  if (!v.is_boolean()) throw ApiError(400, "expected true or false", field);
  out.*f.member = v.get<bool>();
}

template <class S, class Int>
void read_field(const json& v, const std::string& field, const schema::Number<S, Int>& f, S& out) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() < f.min || v.get<uint64_t>() > f.max)
    throw ApiError(400, "expected a whole number " + std::to_string(f.min) + " to " + std::to_string(f.max), field);
  out.*f.member = static_cast<Int>(v.get<uint64_t>());
}

template <class S, class E>
void read_field(const json& v, const std::string& field, const schema::Choice<S, E>& f, S& out) {
  if (!v.is_string()) throw ApiError(400, "expected a string", field);
  const std::string text = v.get<std::string>();
  if (text.empty()) {
    out.*f.member = schema::defaults<S>().*f.member;
  } else if (auto value = config::parse_enum<E>(text)) {
    out.*f.member = *value;
  } else {
    throw ApiError(400, config::not_an_enum_value<E>(text), field);
  }
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Time<S>& f, S& out) {
  if (!v.is_string()) throw ApiError(400, "expected a string", field);
  const std::string text = v.get<std::string>();
  if (text.empty()) out.*f.member = schema::defaults<S>().*f.member;
  else if (!config::parse_time_of_day(text, out.*f.member)) throw ApiError(400, config::not_a_time_of_day(text), field);
}

template <class S>
void read_field(const json& v, const std::string& field, const schema::Days<S>& f, S& out) {
  uint8_t days = 0;
  for (const auto& day : string_list(v, field)) {
    auto bit = config::parse_day(day);
    if (!bit) throw ApiError(400, config::not_a_day(day), field);
    days |= static_cast<uint8_t>(1u << *bit);
  }
  out.*f.member = days;
}

template <class S>
void read_fields(const json& body, const std::string& prefix, std::span<const std::string_view> allowed, S& out);
template <class S>
void require(const S& s, std::span<const std::string_view> keys, const std::string& prefix);

template <class S, class Item>
void read_field(const json& v, const std::string& field, const schema::Items<S, Item>& f, S& out) {
  if (!v.is_array()) throw ApiError(400, "expected a list of " + std::string(f.what), field);
  static constexpr auto kKeys = schema::keys<Item>();
  std::vector<Item> items;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item_field = field + "[" + std::to_string(i) + "]";
    if (!v[i].is_object()) throw ApiError(400, "expected an object", item_field);
    Item item;
    read_fields(v[i], item_field + ".", kKeys, item);
    require(item, kKeys, item_field + ".");
    items.push_back(std::move(item));
  }
  out.*f.member = std::move(items);
}

bool listed(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The fields of `allowed` that `body` holds; any other key is refused first.
template <class S>
void read_fields(const json& body, const std::string& prefix, std::span<const std::string_view> allowed, S& out) {
  only_keys(body, allowed, prefix);
  schema::for_each_field<S>([&](const auto& f) {
    if (!listed(allowed, f.key)) return;
    auto it = body.find(std::string(f.key));
    if (it == body.end() || it->is_null()) return;
    read_field(*it, prefix + std::string(f.key), f, out);
  });
}

// Refuses the first field of `keys` that the schema requires and `s` leaves empty.
template <class S>
void require(const S& s, std::span<const std::string_view> keys, const std::string& prefix) {
  schema::for_each_field<S>([&](const auto& f) {
    if constexpr (requires { f.required; }) {
      if (!f.required.empty() && listed(keys, f.key) && (s.*f.member).empty())
        throw ApiError(400, std::string(f.required), prefix + std::string(f.key));
    }
  });
}

template <class S>
json to_json(const S& s);

template <class S>
json field_json(const schema::Text<S>& f, const S& s) { return s.*f.member; }
template <class S>
json field_json(const schema::Texts<S>& f, const S& s) { return s.*f.member; }
template <class S>
json field_json(const schema::Patterns<S>& f, const S& s) {
  json out = json::array();
  for (const auto& e : s.*f.member) out.push_back(e.pattern);
  return out;
}
template <class S>
json field_json(const schema::Networks<S>& f, const S& s) {
  json out = json::array();
  for (const auto& n : s.*f.member) out.push_back(n.text);
  return out;
}
template <class S>
json field_json(const schema::Flag<S>& f, const S& s) { return s.*f.member; }
template <class S, class Int>
json field_json(const schema::Number<S, Int>& f, const S& s) { return s.*f.member; }
template <class S, class E>
json field_json(const schema::Choice<S, E>& f, const S& s) { return std::string(config::name_of(s.*f.member)); }
template <class S>
json field_json(const schema::Time<S>& f, const S& s) { return config::time_of_day_text(s.*f.member); }
template <class S>
json field_json(const schema::Days<S>& f, const S& s) {
  json out = json::array();
  for (unsigned d = 0; d < std::size(config::kDayNames); ++d)
    if (s.*f.member & (1u << d)) out.push_back(std::string(config::kDayNames[d]));
  return out;
}
template <class S, class Item>
json field_json(const schema::Items<S, Item>& f, const S& s) {
  json out = json::array();
  for (const auto& item : s.*f.member) out.push_back(to_json(item));
  return out;
}

// Every field, defaults included: a client reads the whole value.
template <class S>
json to_json(const S& s) {
  json out = json::object();
  schema::for_each_field<S>([&](const auto& f) { out[std::string(f.key)] = field_json(f, s); });
  return out;
}

}  // namespace

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw ApiError(400, "the body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the body must be a JSON object");
  return j;
}

void only_keys(const json& object, std::initializer_list<const char*> known, const std::string& prefix) {
  std::vector<std::string_view> keys(known.begin(), known.end());
  only_keys(object, std::span<const std::string_view>(keys), prefix);
}

void only_keys(const json& object, std::span<const std::string_view> known, const std::string& prefix) {
  for (const auto& item : object.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture those
    if (!listed(known, key)) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw ApiError(400, "unknown field (expected one of: " + list + ")", prefix + key);
    }
  }
}

json policy_to_json(const config::PolicySettings& p) {
  json out = to_json(p);
  out["name"] = p.name;
  return out;
}

void policy_from_json(const json& body, config::PolicySettings& out, const config::PolicySettings* base) {
  static constexpr auto kKeys = schema::keys<config::PolicySettings>();
  config::PolicySettings p = base ? *base : config::PolicySettings{};
  p.name = out.name;
  read_fields(body, "", kKeys, p);
  out = std::move(p);
}

json tenant_to_json(const config::TenantSettings& t) { return to_json(t); }

void tenant_from_json(const json& body, std::span<const std::string_view> allowed,
                      std::span<const std::string_view> required, config::TenantSettings& t) {
  read_fields(body, "", allowed, t);
  require(t, required, "");
}

json stats_to_json(const querylog::TenantStats& s, const policy::CategoryRegistry& categories) {
  json by_action = json::object();
  for (size_t a = 0; a < querylog::kActions; ++a)
    if (s.by_action[a]) by_action[std::string(querylog::action_name(static_cast<querylog::QueryAction>(a)))] = s.by_action[a];
  const auto by_slug = [&](const auto& counts) {
    json out = json::object();
    for (unsigned id = 0; id < counts.size(); ++id)
      if (counts[id])
        if (const auto* c = categories.by_id(static_cast<uint8_t>(id))) out[std::string(c->slug)] = counts[id];
    return out;
  };
  auto top = [](const std::vector<querylog::TopEntry>& list, const char* key) {
    json out = json::array();
    for (const auto& e : list) out.push_back({{key, e.key}, {"count", e.count}, {"error", e.error}});
    return out;
  };
  json hourly = json::array();
  for (const auto& h : s.hourly) {
    std::string hour;
    querylog::append_time(hour, h.hour_start_s * 1000000);
    hourly.push_back({{"start", hour}, {"queries", h.queries}, {"blocked", h.blocked}});
  }
  return {{"tenant", s.tenant_id},
          {"queries", s.queries},
          {"blocked", s.blocked},
          {"by_action", by_action},
          {"blocked_by_category", by_slug(s.blocked_by_category)},
          {"monitored_by_category", by_slug(s.monitored_by_category)},
          {"top_blocked_names", top(s.top_blocked_names, "name")},
          {"top_clients", top(s.top_clients, "client")},
          {"active_devices", s.active_devices},
          {"max_devices", s.max_devices},
          {"over_device_limit", s.over_device_limit},
          {"hourly", hourly}};
}

}  // namespace sekisho::admin
