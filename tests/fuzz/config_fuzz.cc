// Fuzzes the YAML configuration loader: any input must give settings or errors, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/yaml/load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = sekisho::config::load_config_text(text, "fuzz.yaml");
  for (const auto& e : result.errors) (void)e.to_string();
  return 0;
}
