// The unit-test binary's entry point. Two things beyond doctest's own main:
//  - a run whose filters select no test case fails: ctest runs this binary once per case with
//    that case's name as the filter, and a name the filter cannot match must not pass as "0 run";
//  - with SEKISHO_UNIT_RECORD set, every test case that starts appends "file:line name" to that
//    file, so the ctest guard (tests/unit/check_all_ran.py) can compare what ran with what the
//    binary lists.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

unsigned cases_started = 0;

// Appends one line per started test case (O_APPEND, one write each: lines from ctest's parallel
// runs never interleave).
void record_start(const doctest::TestCaseData& tc) {
  ++cases_started;
  const char* path = std::getenv("SEKISHO_UNIT_RECORD");
  if (path == nullptr || *path == '\0') return;
  std::string line = std::string(tc.m_file.c_str()) + ":" + std::to_string(tc.m_line) + " " + tc.m_name + "\n";
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    std::fprintf(stderr, "cannot record the test case in %s\n", path);
    std::abort();
  }
  ::close(fd);
}

struct StartRecorder : doctest::IReporter {
  explicit StartRecorder(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData& tc) override { record_start(tc); }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("start_recorder", 1, StartRecorder);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;  // --list-test-cases, --help, --version
  if (cases_started == 0) {
    std::fprintf(stderr, "[doctest] no test case matched the filters: a run that executes nothing fails\n");
    return result != 0 ? result : 1;
  }
  return result;
}
