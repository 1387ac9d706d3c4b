// policy/import/huge_pages.cc — see huge_pages.h.
#include "policy/import/huge_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace sekisho::policy {

void reexec_with_huge_page_malloc(char** argv) {
  constexpr const char* kTunable = "glibc.malloc.hugetlb";
  const char* env = std::getenv("GLIBC_TUNABLES");
  if (env && std::strstr(env, kTunable)) return;  // set by the user or by our first exec
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  // "always": malloc gets huge pages anyway; "never": the tunable cannot help.
  if (!std::getline(mode, line) || line.find("[madvise]") == std::string::npos) return;
  // The new program gets an environment of its own, built here: ours is never modified (a change
  // would race with any other thread's getenv, and would need undoing if exec fails).
  std::string tunables = "GLIBC_TUNABLES=";
  if (env && *env) tunables += std::string(env) + ":";
  tunables += kTunable;
  tunables += "=1";
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GLIBC_TUNABLES=", 15) != 0) envp.push_back(*e);
  envp.push_back(tunables.data());
  envp.push_back(nullptr);
  ::execve("/proc/self/exe", argv, envp.data());
  // exec failed: run on as we are, on small pages.
}

}  // namespace sekisho::policy
