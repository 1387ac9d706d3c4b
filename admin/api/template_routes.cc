// The policy templates (config/policy_template.h, etc/templates/): listed for the dashboard's
// form, and the starting policy of a tenant or policy created with `"template": ID`.
#include "admin/api/api_internal.h"
#include "admin/api/json_body.h"
#include "base/log.h"
#include "config/yaml/templates.h"

namespace sekisho::admin {

using nlohmann::json;
using net::http::Response;

namespace {

// Read at each request (a few small files, on the admin thread): a template added or edited
// beside the configuration is offered at once, without a reload.
std::vector<config::PolicyTemplate> read_templates(const std::string& config_path) {
  std::vector<config::ConfigError> errors;
  auto templates = config::load_policy_templates(config::templates_dir(config_path), errors);
  for (const auto& e : errors) log::warning("admin", "policy template skipped", {{"error", e.to_string()}});
  return templates;
}

}  // namespace

Response Api::templates(Context&) {
  json list = json::array();
  for (const auto& t : read_templates(host_.config_path))
    list.push_back({{"id", t.id},
                    {"name", {{"en", t.name_en}, {"ja", t.name_ja}}},
                    {"description", {{"en", t.description_en}, {"ja", t.description_ja}}},
                    {"policy", policy_to_json(t.policy)}});
  return json_response(200, {{"templates", list}});
}

std::optional<config::PolicySettings> Api::take_template(json& body) {
  auto it = body.find("template");
  if (it == body.end()) return std::nullopt;
  if (!it->is_string()) throw ApiError(400, "expected a template id (a string)", "template");
  const std::string id = it->get<std::string>();
  body.erase(it);
  for (auto& t : read_templates(host_.config_path))
    if (t.id == id) return std::move(t.policy);
  throw ApiError(400, "no policy template '" + id + "' (GET /api/v1/templates lists them)", "template");
}

}  // namespace sekisho::admin
