// policy/import/huge_pages.cc — see huge_pages.h.
#include "policy/import/huge_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace sekisho::policy {

void reexec_with_huge_page_malloc(char** argv) {
  constexpr const char* kTunable = "glibc.malloc.hugetlb";
  const char* env = std::getenv("GLIBC_TUNABLES");
  if (env && std::strstr(env, kTunable)) return;  // set by the user or by our first exec
  const std::string before = env ? env : "";
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  // "always": malloc gets huge pages anyway; "never": the tunable cannot help.
  if (!std::getline(mode, line) || line.find("[madvise]") == std::string::npos) return;
  std::string value = before.empty() ? std::string() : before + ":";
  value += kTunable;
  value += "=1";
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed: run on as we are, with the environment we were given.
  if (env) ::setenv("GLIBC_TUNABLES", before.c_str(), 1);
  else ::unsetenv("GLIBC_TUNABLES");
}

}  // namespace sekisho::policy
