// policy/import/public_suffix.cc — the public suffix guard over libpsl (see public_suffix.h).
#include "policy/import/public_suffix.h"

#include <libpsl.h>

#include <cstring>

#include "policy/import/importer.h"

namespace sekisho::policy {

const PublicSuffixList& PublicSuffixList::system() {
  static const PublicSuffixList* list = [] {
    auto* l = new PublicSuffixList();  // lives as long as the process; importing threads share it
    l->ctx_ = psl_latest(nullptr);
    if (!l->ctx_) {
      delete l;
      const char* dist = psl_dist_filename();
      throw ImportError(std::string("cannot read the public suffix list") + (dist && *dist ? " " : "") +
                        (dist ? dist : "") + " (Debian package publicsuffix)");
    }
    const char* dist = psl_dist_filename();
    l->origin_ = dist && *dist ? dist : "libpsl's built-in list";
    return l;
  }();
  return *list;
}

PublicSuffixList::PublicSuffixList(const std::string& file) : ctx_(psl_load_file(file.c_str())), origin_(file) {
  if (!ctx_) throw ImportError(file + ": cannot read it as a public suffix list");
}

PublicSuffixList::~PublicSuffixList() { psl_free(ctx_); }

bool PublicSuffixList::is_public_suffix(std::string_view name) const {
  char buf[256];  // normalised names are at most 253 bytes
  if (name.empty() || name.size() >= sizeof buf) return false;
  std::memcpy(buf, name.data(), name.size());
  buf[name.size()] = '\0';
  return psl_is_public_suffix2(ctx_, buf, PSL_TYPE_ICANN) != 0;
}

}  // namespace sekisho::policy
