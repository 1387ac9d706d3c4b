// The keys of a tenant's local names (config/local_names.h) as config/schema.h describes every
// field: the YAML reader and writer and the admin API's JSON body take them through
// Fields<TenantSettings>. Included by schema.h only.
#pragma once

namespace sekisho::config {

template <>
struct EnumNames<LocalRecordType> {
  static constexpr std::string_view what = "a local record type";
  static constexpr EnumName<LocalRecordType> names[] = {{LocalRecordType::a, "A"},
                                                        {LocalRecordType::aaaa, "AAAA"},
                                                        {LocalRecordType::cname, "CNAME"},
                                                        {LocalRecordType::txt, "TXT"}};
};

namespace schema {

template <>
struct Fields<LocalRecordSettings> {
  using S = LocalRecordSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"name", &S::name, Write::always, "a local record needs its name", check_domain_name},
      Choice<S, LocalRecordType>{"type", &S::type, Write::always},
      // Checked against the type by policy/local_names.cc (an address for A, a name for CNAME).
      Text<S>{"value", &S::value, Write::always, "a local record needs its value"},
      Number<S, uint32_t>{"ttl", &S::ttl, 0, 604800},
  };
};

template <>
struct Fields<ForwardZoneSettings> {
  using S = ForwardZoneSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"domain", &S::domain, Write::always, "a forward zone needs its domain", check_domain_name},
      Texts<S>{"upstreams", &S::upstreams, "a forward zone needs at least one upstream (address[:port])",
               &S::upstream_marks},
  };
};

}  // namespace schema
}  // namespace sekisho::config
