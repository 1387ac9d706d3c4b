// base/string_map.h — a hash map keyed by std::string that is searched with a
// std::string_view: a lookup on a serving path (a DoH device token, a list entry) builds no
// std::string, so it allocates nothing however long the key is.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sekisho {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class Value>
using StringMap = std::unordered_map<std::string, Value, StringViewHash, std::equal_to<>>;

}  // namespace sekisho
