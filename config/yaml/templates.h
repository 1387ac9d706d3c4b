// The policy templates of a directory (config/policy_template.h), each <id>.yaml file:
//
//   name: {en: "Elementary school", ja: "小学校"}
//   description: {en: "…", ja: "…"}
//   policy: {block: [...], block_groups: [...], safe_search: true, …}   # as under `policies:`
//
// read with the one schema, so a template holds nothing a policy could not.
#pragma once

#include <string>
#include <vector>

#include "config/error.h"
#include "config/policy_template.h"

namespace sekisho::config {

// The templates in `directory`, by id; every problem appended to `errors` (file:line). A
// missing directory is no templates and no error.
std::vector<PolicyTemplate> load_policy_templates(const std::string& directory, std::vector<ConfigError>& errors);

// One policy from a file of its own, named `name`: either a policy mapping as written under
// `policies:` or a template file (its `policy:`). What `sekisho policy replay` compares.
bool load_policy_file(const std::string& path, const std::string& name, PolicySettings& out,
                      std::vector<ConfigError>& errors);

// Where the templates of the configuration at `main_file` are: templates/ beside it (as tenants.d/).
std::string templates_dir(const std::string& main_file);

}  // namespace sekisho::config
