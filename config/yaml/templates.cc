#include "config/yaml/templates.h"

#include <algorithm>
#include <filesystem>

#include "config/schema.h"
#include "config/yaml/reader.h"
#include "config/yaml/tenants.h"

namespace sekisho::config {
namespace {

constexpr std::string_view kTemplateKeys[] = {"name", "description", "policy"};
constexpr std::string_view kLanguages[] = {"en", "ja"};

// name: {en: …, ja: …}, both required.
void read_texts(Reader& r, const YAML::Node& node, std::string_view key, std::string& en, std::string& ja) {
  const std::string path(key);
  const YAML::Node at = node[path];
  if (!at.IsDefined() || !r.expect_map(at, path)) {
    if (!at.IsDefined()) r.error(node, path, "a template needs its " + path + " in English and Japanese (en, ja)");
    return;
  }
  r.check_keys(at, path, std::span<const std::string_view>(kLanguages));
  for (auto [lang, out] : {std::pair{"en", &en}, std::pair{"ja", &ja}})
    if (!r.read_string(at, lang, path, *out) || out->empty()) r.error(at, path + "." + lang, "missing or empty");
}

}  // namespace

bool load_policy_file(const std::string& path, const std::string& name, PolicySettings& out,
                      std::vector<ConfigError>& errors) {
  const size_t before = errors.size();
  Reader r(path, errors);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    errors.push_back(ConfigError{path, e.mark.line + 1, e.mark.column + 1, "", e.msg});
    return false;
  }
  r.check_duplicate_keys(root);
  if (root.IsMap() && root["policy"].IsDefined()) {
    r.check_keys(root, "", std::span<const std::string_view>(kTemplateKeys));
    read_policy(r, name, root["policy"], out, "policy");
  } else {
    read_policy(r, name, root, out, "");
  }
  return errors.size() == before;
}

std::string templates_dir(const std::string& main_file) {
  return (std::filesystem::path(main_file).parent_path() / "templates").string();
}

std::vector<PolicyTemplate> load_policy_templates(const std::string& directory, std::vector<ConfigError>& errors) {
  std::vector<PolicyTemplate> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(directory, ec))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    Reader r(file.string(), errors);
    YAML::Node root;
    try {
      root = YAML::LoadFile(file.string());
    } catch (const YAML::Exception& e) {
      ConfigError err{file.string(), e.mark.line + 1, e.mark.column + 1, "", e.msg};
      errors.push_back(err);
      continue;
    }
    const size_t before = r.error_count();
    PolicyTemplate t;
    t.id = file.stem().string();
    if (std::string why = check_tenant_id(t.id); !why.empty()) r.error(root, "", "template file name " + why);
    if (!r.expect_map(root, "")) continue;
    r.check_duplicate_keys(root);
    r.check_keys(root, "", std::span<const std::string_view>(kTemplateKeys));
    read_texts(r, root, "name", t.name_en, t.name_ja);
    read_texts(r, root, "description", t.description_en, t.description_ja);
    if (!root["policy"].IsDefined()) r.error(root, "policy", "a template needs its policy");
    else read_policy(r, t.id, root["policy"], t.policy, "policy");
    if (r.error_count() == before) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace sekisho::config
