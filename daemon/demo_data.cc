#include "daemon/demo_data.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "base/file.h"
#include "base/systemd.h"
#include "policy/import/importer.h"
#include "policy/store/store_writer.h"
#include "daemon/demo_categories.h"  // generated from etc/demo/categories.csv

namespace sekisho::daemon {

std::string prepare_demo_store() {
  namespace fs = std::filesystem;
  const std::string state = base::state_directory("demo-categories");
  fs::path dir = !state.empty() ? fs::path(state) : fs::path("/tmp") / ("sekisho-demo-" + std::to_string(getuid())) / "categories";
  if (std::string error = base::make_directories(dir.string()); !error.empty())
    throw std::runtime_error("the demo store directory: " + error);

  policy::ImportOptions options;
  options.format = policy::Format::kCsv;
  std::ostringstream refused;
  options.diagnostics = &refused;
  policy::EntrySet set;
  policy::ImportReport report;
  policy::ImportSink sink(set, report, options);
  sink.set_file("etc/demo/categories.csv");
  policy::parse_text(policy::Format::kCsv, std::string(kDemoCategoriesCsv), sink);
  // The demo file ships with the binary: a refused line is a bug in it, not user input.
  if (report.refused > 0) throw std::runtime_error("demo category data has refused lines: " + refused.str());
  set.finalize();

  // Re-importing replaces the source, so a restart after an upgrade picks up the new demo data.
  policy::StoreWriter writer(dir.string());
  policy::SourceInfo info;
  info.name = "demo";
  info.format = "csv";
  info.origin = "etc/demo/categories.csv (embedded)";
  writer.replace_source(info, set);
  return dir.string();
}

}  // namespace sekisho::daemon
