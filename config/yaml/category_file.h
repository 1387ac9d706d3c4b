// A categories file: the categories a deployment adds to the built-ins (config key
// `categories_file`, `sekisho db --categories FILE`), read into plain definitions.
//
// YAML (.yaml/.yml):                        CSV (.csv; optional header line, # comments):
//   categories:                               id,slug,group,en,ja[,kind]
//     - id: 32                                32,intranet,internet,Intranet,社内サイト
//       slug: intranet
//       group: internet       # a group's slug (config/categories.h); security | content as before
//       kind: content         # optional: security | content, by default the group's
//       en: Intranet
//       ja: 社内サイト
//
// Ids are written in the file (32–63, 192–255) rather than assigned, so editing or reordering the file
// cannot move a category to another bit; the store keeps the ids it has seen and refuses a
// registry that renumbers them (policy/store/category_table.h). Every problem is reported
// (config/categories.h's CategoryChecker), with file:line.
#pragma once

#include <string>
#include <vector>

#include "config/categories.h"

namespace sekisho::config {

// The file's definitions that passed every check; each problem is appended to `errors`.
std::vector<CategoryDefinition> read_category_file(const std::string& path, std::vector<ConfigError>& errors);

}  // namespace sekisho::config
