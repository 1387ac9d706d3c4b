#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

TEST_CASE("make_directories: parents 0755 and the directory as asked, even under umask 000") {
  TempDir tmp;
  Umask open_umask(0);
  const fs::path dir = tmp.path / "a" / "b" / "ca";
  REQUIRE(make_directories(dir.string(), 0700) == "");
  CHECK(mode_of(tmp.path / "a") == 0755);
  CHECK(mode_of(tmp.path / "a" / "b") == 0755);
  CHECK(mode_of(dir) == 0700);
  // Existing: left as it is, and a trailing slash is fine.
  ::chmod(dir.c_str(), 0750);
  CHECK(make_directories(dir.string() + "/", 0700) == "");
  CHECK(mode_of(dir) == 0750);
  // A file in the way: named.
  REQUIRE(write_file_atomically((tmp.path / "file").string(), "x") == "");
  CHECK(make_directories((tmp.path / "file").string()) == "cannot create " + (tmp.path / "file").string() + ": a file of that name exists");
  CHECK(make_directories((tmp.path / "file" / "sub").string()).find("cannot create " + (tmp.path / "file" / "sub").string() + ": Not a directory") == 0);
}

TEST_CASE("remove_abandoned_temporaries: a dead writer's temporary files go, a live one's stay") {
  TempDir tmp;
  // A pid that surely ran and has ended: a child we waited for.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = ".t1.yaml.tmp-" + std::to_string(child) + "-0123456789abcdef";
  const std::string live = ".t2.yaml.tmp-" + std::to_string(::getpid()) + "-fedcba9876543210";
  for (const std::string& name : {dead, live, std::string("t1.yaml"), std::string(".t3.yaml.tmp-12x-0123456789abcdef"),
                                  std::string(".t4.yaml.tmp-") + std::to_string(child) + "-0123"})
    std::ofstream(tmp.path / name) << "devices: [token]\n";
  CHECK(remove_abandoned_temporaries(tmp.path.string()) == 1);
  CHECK_FALSE(fs::exists(tmp.path / dead));
  CHECK(entries(tmp.path) == 4);
  CHECK(remove_abandoned_temporaries((tmp.path / "missing").string()) == 0);
}

}
