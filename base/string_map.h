// base/string_map.h — a hash map keyed by std::string that is searched with a
// std::string_view: a lookup on a serving path (a DoH device token, a list entry) builds no
// std::string, so it allocates nothing however long the key is.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/keyed_hash.h"

namespace sekisho {

// Keyed per process (base/keyed_hash.h): some of these maps are searched with what a client
// sent (a DoH path token), and libstdc++'s std::hash is an unkeyed MurmurHash.
template <class Value>
using StringMap = std::unordered_map<std::string, Value, base::KeyedStringHash, std::equal_to<>>;

}  // namespace sekisho
