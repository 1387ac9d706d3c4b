#include "config/schema.h"

#include <algorithm>
#include <cstdio>

#include "base/civil_date.h"

namespace sekisho::config {

std::optional<unsigned> parse_day(std::string_view text) {
  for (unsigned d = 0; d < std::size(kDayNames); ++d)
    if (kDayNames[d] == text) return d;
  return std::nullopt;
}

std::string check_date(std::string_view text) {
  if (base::parse_date(text)) return {};
  return "'" + std::string(text) + "' is not a date (YYYY-MM-DD)";
}

std::string parse_date_range(std::string_view text, int64_t& first, int64_t& last) {
  const size_t dots = text.find("..");
  const std::string_view a = text.substr(0, dots);
  const std::string_view b = dots == std::string_view::npos ? a : text.substr(dots + 2);
  const auto from = base::parse_date(a), to = base::parse_date(b);
  if (!from || !to) return "'" + std::string(text) + "' is not a date (YYYY-MM-DD) or a range of dates (YYYY-MM-DD..YYYY-MM-DD)";
  if (*to < *from) return "'" + std::string(text) + "' ends before it starts";
  first = *from;
  last = *to;
  return {};
}

std::string not_a_day(std::string_view text) {
  std::string list;
  for (auto d : kDayNames) list += (list.empty() ? "" : " ") + std::string(d);
  return "'" + std::string(text) + "' is not a day (" + list + ")";
}

bool parse_time_of_day(std::string_view text, uint16_t& minutes) {
  if (text.size() != 5 || text[2] != ':') return false;
  for (int i : {0, 1, 3, 4})
    if (text[i] < '0' || text[i] > '9') return false;
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return false;
  minutes = static_cast<uint16_t>(h * 60 + m);
  return true;
}

std::string time_of_day_text(uint16_t minutes) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u:%02u", minutes / 60u, minutes % 60u);
  return buf;
}

std::string not_a_time_of_day(std::string_view text) {
  return "\"" + std::string(text) + "\" is not a time of day (HH:MM)";
}

std::string check_tenant_id(std::string_view value) {
  const bool ok = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  return ok ? std::string() : "'" + std::string(value) + "': use lower-case letters, digits, '-' and '_'";
}

std::string check_device_token(std::string_view value) {
  const bool ok = value.size() >= 8 && value.size() <= 32 && std::all_of(value.begin(), value.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                  });
  return ok ? std::string() : "a token is 8 to 32 characters of a-z and 0-9 (it becomes a DNS label)";
}

std::string check_host_port(std::string_view value) {
  std::string why;
  if (net::parse_socket_address(std::string(value), 53, why)) return {};
  return "'" + std::string(value) + "': " + why;
}

std::string check_domain_name(std::string_view value) {
  std::string_view v = value;
  if (v.size() > 1 && v.ends_with('.')) v.remove_suffix(1);
  size_t label = 0;
  bool ok = !v.empty() && v.size() <= 253 && v != ".";
  for (char c : v) {
    if (c == '.') {
      ok = ok && label > 0;
      label = 0;
    } else if (c <= ' ' || c == '\\' || c > '~' || ++label > 63) {
      ok = false;
    }
  }
  ok = ok && label > 0;
  return ok ? std::string() : "'" + std::string(value) + "' is not a domain name";
}

std::string check_feed_url(std::string_view value) {
  std::string_view rest = value;
  if (rest.starts_with("https://")) rest.remove_prefix(8);
  else if (rest.starts_with("http://")) rest.remove_prefix(7);
  else return "'" + std::string(value) + "' is not an http:// or https:// URL";
  const size_t host_end = rest.find_first_of("/?#");
  if (rest.substr(0, host_end).empty()) return "'" + std::string(value) + "' names no host";
  for (char c : value)
    if (c <= ' ' || c > '~') return "'" + std::string(value) + "': spaces and non-ASCII characters must be %-encoded";
  return {};
}

std::vector<std::pair<std::string_view, std::string>> check_feed_kind(const FeedSettings& f) {
  std::vector<std::pair<std::string_view, std::string>> out;
  const std::string kind(name_of(f.kind));
  auto need = [&](std::string_view key, bool given, const char* what) {
    if (!given) out.emplace_back(key, "an " + kind + " feed needs " + what);  // rpz-xfr, http: both "an"
  };
  auto not_for = [&](std::string_view key, bool given) {
    if (given) out.emplace_back(key, std::string(key) + " is not for " + kind + " feeds");
  };
  if (f.kind == FeedKind::rpz_xfr) {
    need("primary", !f.primary.empty(), "its primary (address:port)");
    need("zone", !f.zone.empty(), "its zone");
    not_for("url", !f.url.empty());
    not_for("ca_file", !f.ca_file.empty());
  } else {
    need("url", !f.url.empty(), "its url (https://…)");
    not_for("primary", !f.primary.empty());
    not_for("zone", !f.zone.empty());
    not_for("tsig", !f.tsig.name.empty());
    if (!f.ca_file.empty() && f.url.starts_with("http://"))
      out.emplace_back("ca_file", "ca_file is for https:// URLs");
  }
  return out;
}

void apply_derived_defaults(TenantSettings& t) {
  if (t.name.empty()) t.name = t.id;
}

}  // namespace sekisho::config
