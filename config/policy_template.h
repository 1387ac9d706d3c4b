// Policy templates (issue 21 item 6): starting policies for the kinds of organisation that run
// filters (elementary, junior high and high schools, universities, companies and government
// offices in three emphases), shipped as etc/templates/<id>.yaml. A template is a policy as
// every policy is written (config/schema.h's Fields<PolicySettings>) plus its names and a short
// description in Japanese and English. Plain structs; config/yaml/templates.h reads them.
#pragma once

#include <string>

#include "config/settings.h"

namespace sekisho::config {

struct PolicyTemplate {
  std::string id;  // the file's name without .yaml: "school-elementary"
  std::string name_en, name_ja;
  std::string description_en, description_ja;
  PolicySettings policy;  // policy.name is the id
};

}  // namespace sekisho::config
