#include "admin/cli/querylog.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "policy/querylog/log_file_reader.h"

namespace sekisho::cli {
namespace {

namespace ql = querylog;

// The log files of a directory, by day; of one day the JSON lines (older) before the binary file.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::pair<std::pair<int64_t, int>, std::string>> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (auto day = ql::log_file_day(name, ql::kLegacyFileSuffix)) found.push_back({{*day, 0}, e.path().string()});
    if (auto day = ql::log_file_day(name, ql::kLogFileSuffix)) found.push_back({{*day, 1}, e.path().string()});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool print_binary(const std::string& path) {
  ql::LogFileReader reader(path);
  if (!reader.error().empty()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), reader.error().c_str());
    return false;
  }
  ql::StoredRecord record;
  std::string line;
  uint64_t start = 0, end = 0;
  while (reader.next(start, end, record)) {
    line.clear();
    ql::append_json_line(line, record);
    std::fwrite(line.data(), 1, line.size(), stdout);
    start = end;
  }
  if (reader.skipped_bytes() > 0)
    std::fprintf(stderr, "%s: %llu bytes skipped (not a whole record: a torn tail or damage)\n", path.c_str(),
                 static_cast<unsigned long long>(reader.skipped_bytes()));
  return true;
}

bool print_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return false;
  }
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) std::printf("%s\n", line.c_str());
  return true;
}

}  // namespace

int run_querylog_print(const QuerylogArgs& args) {
  bool ok = true;
  for (const std::string& path : args.paths) {
    std::error_code ec;
    const std::vector<std::string> files =
        std::filesystem::is_directory(path, ec) ? files_in(path) : std::vector<std::string>{path};
    for (const std::string& file : files)
      ok &= file.ends_with(ql::kLegacyFileSuffix) ? print_legacy(file) : print_binary(file);
  }
  return ok ? 0 : 1;
}

}  // namespace sekisho::cli
