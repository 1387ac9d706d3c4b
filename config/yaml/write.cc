#include "config/yaml/write.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "config/schema.h"

namespace sekisho::config {
namespace {

template <class S>
void write_fields(YAML::Emitter& out, const S& s);

void write_strings(YAML::Emitter& out, std::string_view key, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& item : items) out << YAML::DoubleQuoted << item;
  out << YAML::EndSeq;
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Text<S>& f, const S& s) {
  if (f.write == schema::Write::unless_default && s.*f.member == schema::defaults<S>().*f.member) return;
  out << YAML::Key << std::string(f.key) << YAML::Value << YAML::DoubleQuoted << s.*f.member;
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Texts<S>& f, const S& s) {
  write_strings(out, f.key, s.*f.member);
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Patterns<S>& f, const S& s) {
  std::vector<std::string> patterns;
  for (const auto& e : s.*f.member) patterns.push_back(e.pattern);
  write_strings(out, f.key, patterns);
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Networks<S>& f, const S& s) {
  std::vector<std::string> networks;
  for (const auto& n : s.*f.member) networks.push_back(n.text);
  write_strings(out, f.key, networks);
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Flag<S>& f, const S& s) {
  if (s.*f.member != schema::defaults<S>().*f.member) out << YAML::Key << std::string(f.key) << YAML::Value << s.*f.member;
}

template <class S, class Int>
void write_field(YAML::Emitter& out, const schema::Number<S, Int>& f, const S& s) {
  if (s.*f.member != schema::defaults<S>().*f.member) out << YAML::Key << std::string(f.key) << YAML::Value << s.*f.member;
}

template <class S, class E>
void write_field(YAML::Emitter& out, const schema::Choice<S, E>& f, const S& s) {
  if (f.write == schema::Write::unless_default && s.*f.member == schema::defaults<S>().*f.member) return;
  out << YAML::Key << std::string(f.key) << YAML::Value << std::string(name_of(s.*f.member));
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Time<S>& f, const S& s) {
  out << YAML::Key << std::string(f.key) << YAML::Value << YAML::DoubleQuoted << time_of_day_text(s.*f.member);
}

template <class S>
void write_field(YAML::Emitter& out, const schema::Days<S>& f, const S& s) {
  const uint8_t days = s.*f.member;
  if (days == schema::defaults<S>().*f.member) return;
  std::vector<std::string> names;
  for (unsigned d = 0; d < std::size(kDayNames); ++d)
    if (days & (1u << d)) names.emplace_back(kDayNames[d]);
  out << YAML::Key << std::string(f.key) << YAML::Value << YAML::Flow << names;
}

template <class S, class Item>
void write_field(YAML::Emitter& out, const schema::Items<S, Item>& f, const S& s) {
  const std::vector<Item>& items = s.*f.member;
  if (items.empty()) return;
  out << YAML::Key << std::string(f.key) << YAML::Value << YAML::BeginSeq;
  for (const auto& item : items) {
    out << YAML::BeginMap;
    write_fields(out, item);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

template <class S>
void write_fields(YAML::Emitter& out, const S& s) {
  schema::for_each_field<S>([&](const auto& field) { write_field(out, field, s); });
}

}  // namespace

std::string render_tenant_file(const TenantFileContent& content) {
  TenantSettings t = content.tenant;
  apply_derived_defaults(t);
  YAML::Emitter out;
  out.SetOutputCharset(YAML::EmitNonAscii);  // Japanese names stay readable
  out << YAML::Comment("Tenant '" + t.id + "'. Written by sekisho (`sekisho device`, admin API): values edited by hand are kept, comments are not.");
  out << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "tenants" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  write_fields(out, t);
  out << YAML::EndMap << YAML::EndSeq;
  if (!content.policies.empty()) {
    out << YAML::Key << "policies" << YAML::Value << YAML::BeginMap;
    // By name, as the reader keeps them, so rendering what was read reproduces the file.
    std::vector<const PolicySettings*> sorted;
    for (const auto& p : content.policies) sorted.push_back(&p);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const auto* p : sorted) {
      out << YAML::Key << YAML::DoubleQuoted << p->name << YAML::Value << YAML::BeginMap;
      write_fields(out, *p);
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

bool tenant_file_holds_only(const std::string& bytes, const std::string& path, const std::string& tenant_id,
                            std::string& why) {
  YAML::Node root;
  try {
    root = YAML::Load(bytes);
  } catch (const YAML::Exception& e) {
    why = path + " does not parse (" + e.msg + "); fix it by hand first";
    return false;
  }
  if (root.IsNull()) return true;
  const YAML::Node tenants = root.IsMap() ? root["tenants"] : YAML::Node();
  if (!root.IsMap() || (tenants.IsDefined() && !tenants.IsSequence())) {
    why = path + " is not a tenants.d file (a mapping with 'tenants' and 'policies'); fix it by hand first";
    return false;
  }
  if (!tenants.IsDefined()) return true;
  for (const auto& t : tenants) {
    const YAML::Node id = t.IsMap() ? t["id"] : YAML::Node();
    if (!id.IsDefined() || !id.IsScalar() || id.Scalar() != tenant_id) {
      why = path + " also defines tenant '" + (id.IsDefined() && id.IsScalar() ? id.Scalar() : std::string("?")) +
            "'; give each tenant its own file before changing it here";
      return false;
    }
  }
  return true;
}

}  // namespace sekisho::config
