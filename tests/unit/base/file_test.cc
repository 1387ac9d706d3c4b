#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "base/file.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::base;
using sekisho::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

int entries(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Sets the umask for one scope.
struct Umask {
  mode_t old;
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
};

}  // namespace

TEST_SUITE("base.file.atomic") {

TEST_CASE("write_file_atomically creates, then replaces, leaving no temporary file") {
  TempDir tmp;
  const fs::path file = tmp.path / "a.yaml";
  REQUIRE(write_file_atomically(file.string(), "one\n") == "");
  CHECK(slurp(file) == "one\n");
  REQUIRE(write_file_atomically(file.string(), std::string(100000, 'x')) == "");
  CHECK(slurp(file) == std::string(100000, 'x'));
  REQUIRE(write_file_atomically(file.string(), "") == "");
  CHECK(slurp(file).empty());
  CHECK(entries(tmp.path) == 1);
}

TEST_CASE("the mode is exact unless the umask is asked to narrow it") {
  TempDir tmp;
  Umask narrow(077);
  AtomicWrite exact;
  exact.mode = 0644;
  REQUIRE(write_file_atomically((tmp.path / "cert.pem").string(), "c", exact) == "");
  CHECK(mode_of(tmp.path / "cert.pem") == 0644);
  AtomicWrite narrowed;
  narrowed.mode = 0640;
  narrowed.umask_narrows = true;
  REQUIRE(write_file_atomically((tmp.path / "stats.jsonl").string(), "s", narrowed) == "");
  CHECK(mode_of(tmp.path / "stats.jsonl") == 0600);
}

TEST_CASE("a replaced file gets the new mode and owner the caller names") {
  TempDir tmp;
  const fs::path file = tmp.path / "t.yaml";
  REQUIRE(write_file_atomically(file.string(), "a") == "");
  CHECK(mode_of(file) == 0600);
  AtomicWrite how;
  how.mode = 0604;
  how.uid = ::geteuid();  // giving a file to oneself needs no privilege
  how.gid = ::getegid();
  REQUIRE(write_file_atomically(file.string(), "b", how) == "");
  CHECK(mode_of(file) == 0604);
  CHECK(slurp(file) == "b");
}

TEST_CASE("failures name the file and the reason, and leave the old content") {
  TempDir tmp;
  const std::string missing = (tmp.path / "no-such-dir" / "x.pem").string();
  const std::string error = write_file_atomically(missing, "x");
  CHECK(error.find("cannot create " + (tmp.path / "no-such-dir").string() + "/.x.pem.tmp-") == 0);
  CHECK(error.find("No such file or directory") != std::string::npos);

  // Renaming over a directory fails after the temporary file was written: it is removed again.
  fs::create_directory(tmp.path / "taken");
  const std::string busy = write_file_atomically((tmp.path / "taken").string(), "x");
  CHECK(busy.find("cannot rename ") == 0);
  CHECK(busy.find(" to " + (tmp.path / "taken").string()) != std::string::npos);
  CHECK(entries(tmp.path) == 1);
}

TEST_CASE("write_all writes everything") {
  TempDir tmp;
  const fs::path file = tmp.path / "w";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  CHECK(write_all(fd, std::string(1 << 20, 'z')));
  ::close(fd);
  CHECK(fs::file_size(file) == (1u << 20));
  CHECK_FALSE(write_all(-1, "x"));
}

}

TEST_SUITE("base.file") {

TEST_CASE("read_file: the whole file, or nullopt with errno") {
  TempDir tmp;
  const fs::path file = tmp.path / "f";
  REQUIRE(write_file_atomically(file.string(), std::string(200000, 'r') + "end") == "");
  const auto text = read_file(file.string());
  REQUIRE(text);
  CHECK(*text == std::string(200000, 'r') + "end");
  REQUIRE(write_file_atomically(file.string(), "") == "");
  CHECK(read_file(file.string()) == std::string());
  errno = 0;
  CHECK_FALSE(read_file((tmp.path / "missing").string()));
  CHECK(errno == ENOENT);
  CHECK_FALSE(read_file(tmp.path.string()));  // a directory opens but does not read
  CHECK(errno == EISDIR);
}

}
