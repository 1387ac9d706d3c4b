#include "policy/domain_list.h"

#include "policy/import/idna.h"

namespace sekisho::policy {

std::string to_wire(std::string_view name) {
  std::string wire;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    wire += static_cast<char>(dot - start);
    wire.append(name.substr(start, dot - start));
    start = dot + 1;
  }
  wire += '\0';
  return wire;
}

bool DomainList::add(std::string_view pattern, std::string& why) {
  bool subtree_only = pattern.size() > 2 && pattern.substr(0, 2) == "*.";
  std::string_view name = subtree_only ? pattern.substr(2) : pattern;
  std::string normalised;
  if (!normalize_name(name, normalised, why)) return false;
  (subtree_only ? subtrees_ : names_)[to_wire(normalised)] = std::string(pattern);
  return true;
}

const std::string* DomainList::match(const uint8_t* wire, size_t len) const {
  if (empty()) return nullptr;
  size_t pos = 0;
  while (pos < len) {
    std::string_view suffix(reinterpret_cast<const char*>(wire + pos), len - pos);
    if (auto it = names_.find(suffix); it != names_.end()) return &it->second;
    if (pos > 0)
      if (auto it = subtrees_.find(suffix); it != subtrees_.end()) return &it->second;
    if (wire[pos] == 0) break;
    pos += 1 + wire[pos];
  }
  return nullptr;
}

}  // namespace sekisho::policy
