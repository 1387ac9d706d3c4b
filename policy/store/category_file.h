// policy/store/category_file.h — reading a categories file: the categories a deployment adds
// to the built-ins (config key `categories_file`, `sekisho db --categories FILE`).
//
// YAML (.yaml/.yml):                        CSV (.csv; optional header line, # comments):
//   categories:                               id,slug,group,en,ja
//     - id: 32                                32,intranet,content,Intranet,社内サイト
//       slug: intranet
//       group: content        # security | content
//       en: Intranet
//       ja: 社内サイト
//
// Ids are written in the file (32–63) rather than assigned, so editing or reordering the file
// cannot move a category to another bit; the store keeps the ids it has seen and refuses a
// file that renumbers them (category_table.h). Every problem is reported, with file:line.
#pragma once

#include <string>
#include <vector>

#include "policy/store/categories.h"

namespace sekisho::policy {

struct CategoryFileError {
  std::string file;
  int line = 0;  // 1-based; 0: the file as a whole
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

// Parses and validates; on any error the returned list is not meant to be installed.
std::vector<CategoryDefinition> load_category_file(const std::string& path, std::vector<CategoryFileError>& errors);

// load_category_file + install_category_extensions; an empty path installs none. Returns false
// (and installs nothing) on errors.
bool apply_category_file(const std::string& path, std::vector<CategoryFileError>& errors);

}  // namespace sekisho::policy
