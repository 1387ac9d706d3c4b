// Fuzzes what a category feed or `sekisho db import` reads from files it does not control: every
// line format (domains, hosts, adblock, CSV), RPZ zone text, the gzip unpacker in front of them,
// and the update guard's look at the whole text. The first byte picks the format. Beyond "never
// crashes": every key an importer produces fits the store's key limits, and the set finalises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/import/gzip.h"
#include "policy/import/importer.h"
#include "policy/import/update_guard.h"
#include "policy/store/key_format.h"

using namespace sekisho::policy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr Format formats[] = {Format::kDomains, Format::kHosts, Format::kAdblock, Format::kCsv, Format::kRpz};
  const Format format = formats[data[0] % std::size(formats)];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  // A body that claims to be gzip goes through the unpacker first, as an HTTP feed's does; a
  // small bound keeps a bomb from taking the run's memory.
  if (is_gzip(text)) {
    std::string unpacked;
    if (!gunzip(text, unpacked, 1 << 20).empty()) return 0;
    text = std::move(unpacked);
  }
  (void)check_list_text(text, "fuzz");

  EntrySet set;
  ImportReport report;
  ImportOptions options;
  options.format = format;
  options.categories.add(1);
  try {
    ImportSink sink(set, report, options);
    sink.set_file("fuzz");
    parse_text(format, text, sink);
  } catch (const ImportError&) {
    return 0;  // refused whole (UpdateRefused), or no public-suffix list: a clear error, not a crash
  }
  (void)check_parsed(report, "fuzz");
  set.finalize();
  for (const auto& item : set.domains())
    if (item.size == 0 || item.size > kMaxKeyLen) std::abort();
  for (const auto& item : set.urls())
    if (item.size == 0 || item.size > kMaxUrlKeyLen) std::abort();
  return 0;
}
