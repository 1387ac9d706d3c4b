// tests/unit/test_seed.h — the seed of a property test's generated inputs: fixed, so a run
// repeats, and SEKISHO_TEST_SEED=N to try others. Tests print it with every failure
// (INFO(seed_note(seed))).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

namespace sekisho::test {

inline uint64_t test_seed(uint64_t fixed) {
  const char* s = std::getenv("SEKISHO_TEST_SEED");
  return s ? std::strtoull(s, nullptr, 0) : fixed;
}

inline std::string seed_note(uint64_t seed) {
  return "seed " + std::to_string(seed) + " (SEKISHO_TEST_SEED=" + std::to_string(seed) + " repeats this run)";
}

}  // namespace sekisho::test
