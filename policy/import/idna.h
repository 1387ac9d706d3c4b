// policy/import/idna.h — name normalisation shared by import, config and the lookup CLI.
//
// normalize_name() turns user/list input into the canonical presentation form stored in the
// category store: ASCII lowercase, A-labels for Unicode (IDNA2008 with UTS #46 mapping,
// non-transitional, via libidn2), no trailing dot. It validates lengths (label ≤ 63, name ≤ 253)
// and characters: letters, digits, '-' and '_' (real lists contain "_video-bagarre.com";
// underscores are valid DNS names though not host names). Control plane only (allocates).
#pragma once

#include <string>
#include <string_view>

namespace sekisho::policy {

// On success writes the canonical name to out and returns true; otherwise sets reason
// ("label over 63 bytes", "bad character '%'", ...) and returns false.
bool normalize_name(std::string_view in, std::string& out, std::string& reason);

}  // namespace sekisho::policy
