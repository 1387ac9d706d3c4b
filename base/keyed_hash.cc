#include "base/keyed_hash.h"

#include <sys/random.h>

#include <cerrno>
#include <random>

namespace sekisho::base {

HashKey random_hash_key() {
  HashKey key;
  // getrandom without flags blocks only until the kernel's pool is first initialised (early
  // boot), then never fails for 16 bytes; a signal can interrupt the wait.
  ssize_t got = -1;
  do got = ::getrandom(&key, sizeof key, 0);
  while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof key)) {
    // No getrandom (ENOSYS under an old seccomp filter): std::random_device reads the CPU's
    // RDRAND or /dev/urandom, still unpredictable to clients.
    std::random_device rd;
    key.k0 = (uint64_t{rd()} << 32) ^ rd();
    key.k1 = (uint64_t{rd()} << 32) ^ rd();
  }
  return key;
}

}  // namespace sekisho::base
