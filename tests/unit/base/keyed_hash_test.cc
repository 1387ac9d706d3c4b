#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "base/keyed_hash.h"
#include "base/string_map.h"

using namespace sekisho::base;

TEST_SUITE("base.keyed_hash") {

// The reference vectors (the SipHash paper, appendix A, and the reference code's vectors.h):
// key 00 01 … 0f, message 00 01 … (n-1), digest read as a little-endian word. The 1-3 variant
// we use is the same code with other round counts.
TEST_CASE("siphash-2-4 matches the reference vectors (every tail length, one word, word + 7)") {
  const HashKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  uint8_t msg[16];
  for (int i = 0; i < 16; ++i) msg[i] = static_cast<uint8_t>(i);
  CHECK(siphash<2, 4>(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
  CHECK(siphash<2, 4>(key, msg, 1) == 0x74f839c593dc67fdULL);
  CHECK(siphash<2, 4>(key, msg, 2) == 0x0d6c8009d9a94f5aULL);
  CHECK(siphash<2, 4>(key, msg, 3) == 0x85676696d7fb7e2dULL);
  CHECK(siphash<2, 4>(key, msg, 4) == 0xcf2794e0277187b7ULL);
  CHECK(siphash<2, 4>(key, msg, 5) == 0x18765564cd99a68dULL);
  CHECK(siphash<2, 4>(key, msg, 6) == 0xcbc9466e58fee3ceULL);
  CHECK(siphash<2, 4>(key, msg, 7) == 0xab0200f58b01d137ULL);
  CHECK(siphash<2, 4>(key, msg, 8) == 0x93f5f5799a932462ULL);
  CHECK(siphash<2, 4>(key, msg, 15) == 0xa129ca6149be45e5ULL);
  // Fewer rounds give another function of the same input.
  CHECK(siphash<1, 3>(key, msg, 15) != siphash<2, 4>(key, msg, 15));
}

TEST_CASE("the key changes every output; length is part of the input") {
  const HashKey a{1, 2}, b{1, 3};
  const char* name = "\x03www\x07" "example\x00";
  CHECK(siphash<1, 3>(a, name, 13) != siphash<1, 3>(b, name, 13));
  const uint8_t zeros[16] = {};
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= 16; ++n) seen.insert(siphash<1, 3>(a, zeros, n));
  CHECK(seen.size() == 17);  // trailing zero bytes are not lost in padding
}

// The point of the key: each process draws its own, so names that collide in one run do not in
// the next. Children are forked before this process draws its key (this case runs alone in its
// process under ctest), so each child draws one of its own.
TEST_CASE("every process draws its own hash key") {
  const std::string key = std::string("\x06victim\x07" "example\x00\x00\x01\x00\x01\x00", 20);
  uint64_t from_child[2] = {};
  for (auto& out : from_child) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const uint64_t h = keyed_hash(key);
      const bool ok = ::write(fds[1], &h, sizeof h) == static_cast<ssize_t>(sizeof h);
      ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    CHECK(::read(fds[0], &out, sizeof out) == static_cast<ssize_t>(sizeof out));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  const uint64_t mine = keyed_hash(key);
  CHECK(from_child[0] != from_child[1]);
  CHECK(mine != from_child[0]);
  CHECK(mine != from_child[1]);
  // Within a process it is a function: the same bytes always give the same hash.
  CHECK(keyed_hash(key) == mine);
  CHECK(keyed_hash(key.data(), key.size()) == mine);
}

TEST_CASE("string maps use the keyed hash and still find by string_view") {
  sekisho::StringMap<int> m;
  m.emplace("abcdefgh12345678", 1);
  m.emplace("token-2", 2);
  CHECK(m.find(std::string_view("abcdefgh12345678"))->second == 1);
  CHECK(m.find(std::string_view("token-2"))->second == 2);
  CHECK(m.find(std::string_view("token-3")) == m.end());
  CHECK(m.hash_function()("token-2") == keyed_hash("token-2"));
}

}
