// Settings that are valid but expose something they likely should not: said as warnings by
// `check-config` and in sekishod's log at start, never refused (a deployment behind a firewall
// or a TLS proxy may mean them).
#pragma once

#include <string>
#include <vector>

#include "config/settings.h"

namespace sekisho::config {

// One sentence each, naming the setting and what to do about it; empty when nothing is risky.
std::vector<std::string> risky_settings(const Settings& settings);

}  // namespace sekisho::config
