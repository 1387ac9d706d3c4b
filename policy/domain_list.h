// A tenant's allow or deny list: "example.com" matches the name and every name below it,
// "*.example.com" only the names below it. Matched against the lowercased wire-form qname by
// probing each label boundary, most specific first; lookups allocate nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/string_map.h"

namespace sekisho::policy {

class DomainList {
 public:
  // Adds a pattern as users write it (Unicode names become A-labels). False with `why` when
  // the name is not valid.
  bool add(std::string_view pattern, std::string& why);

  // The pattern (as written) that covers `wire`, or nullptr. `wire` is lowercase, uncompressed.
  const std::string* match(const uint8_t* wire, size_t len) const;

  bool empty() const { return names_.empty() && subtrees_.empty(); }
  size_t size() const { return names_.size() + subtrees_.size(); }

 private:
  using Map = StringMap<std::string>;
  Map names_;     // wire name → pattern: the name and its subtree
  Map subtrees_;  // wire name → pattern: strictly below the name
};

// "www.example.com" → wire form ("\3www\7example\3com\0"); the name must already be normalised.
std::string to_wire(std::string_view normalised_name);

}  // namespace sekisho::policy
