// policy/import/idna.cc — name normalisation (see idna.h). The ASCII path avoids libidn2: it is
// what 99.9% of list lines take and it must keep the importer above 1M names/s.
#include "policy/import/idna.h"

#include <idn2.h>

#include <cstdlib>

#include "base/text.h"
#include "policy/store/key_format.h"

namespace sekisho::policy {
namespace {

bool validate_ascii(std::string& name, std::string& reason) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) {
    reason = "empty name";
    return false;
  }
  if (name.size() > kMaxNameLen) {
    reason = "name over 253 bytes";
    return false;
  }
  size_t label = 0;
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c == '.') {
      if (label == 0) {
        reason = "empty label";
        return false;
      }
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      reason = "bad character '" + base::printable(std::string_view(&c, 1)) + "'";
      return false;
    }
    if (++label > kMaxLabelLen) {
      reason = "label over 63 bytes";
      return false;
    }
  }
  return true;
}

}  // namespace

bool normalize_name(std::string_view in, std::string& out, std::string& reason) {
  bool ascii = true;
  for (char c : in)
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  if (ascii) {
    out.assign(in);
    return validate_ascii(out, reason);
  }
  std::string input(in);
  if (!input.empty() && input.back() == '.') input.pop_back();
  char* converted = nullptr;
  int rc = idn2_to_ascii_8z(input.c_str(), &converted, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc != IDN2_OK) {
    reason = std::string("IDNA conversion failed: ") + idn2_strerror(rc);
    return false;
  }
  out.assign(converted);
  idn2_free(converted);
  return validate_ascii(out, reason);
}

}  // namespace sekisho::policy
