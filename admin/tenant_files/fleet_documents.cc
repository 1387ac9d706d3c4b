#include "admin/tenant_files/fleet_documents.h"

#include <cstdlib>

#include "config/fleet/source.h"

namespace sekisho::config {
namespace {

TenantFileResult refusal(TenantFileStatus status, std::string message) {
  TenantFileResult r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

std::string unreachable(const fleet::FleetState& state) {
  return "the fleet database is unreachable: this node is running on its last snapshot (generation " +
         std::to_string(state.snapshot()->generation) + ") and refuses changes until the database is back";
}

}  // namespace

FleetDocuments::~FleetDocuments() = default;

TenantDocumentStore::Documents FleetDocuments::documents() const {
  const auto snapshot = state_->snapshot();
  Documents out;
  out.files = fleet::overrides(state_->main_config(), *snapshot);
  for (const auto& d : snapshot->tenants) out.etags[tenant_file_path(state_->main_config(), d.id)] = std::to_string(d.version);
  return out;
}

TenantFileResult FleetDocuments::store(const std::string& id, const std::string* text, const ExpectedEtag& expected) {
  if (!state_->connected) return refusal(TenantFileStatus::unavailable, unreachable(*state_));
  std::optional<int64_t> version;
  if (expected) {
    if (expected->empty()) {
      version = 0;
    } else {
      char* end = nullptr;
      const long long v = std::strtoll(expected->c_str(), &end, 10);
      if (*end != '\0' || v <= 0) return refusal(TenantFileStatus::conflict, "tenant '" + id + "' changed since it was read (ETag mismatch); read it again");
      version = v;
    }
  }
  fleet::Database::WriteResult w;
  // The connection kept from an earlier write may have died with a database restart, which
  // only its next statement finds out: then once more on a new one (nothing was committed).
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!db_ || !db_->ok()) db_ = std::make_unique<fleet::Database>(state_->settings(), "sekishod admin " + state_->node());
    w = db_->ok() ? (text ? db_->put(id, *text, version) : db_->erase(id, version))
                  : fleet::Database::WriteResult{fleet::Database::Outcome::error, 0, db_->error()};
    if (w.outcome != fleet::Database::Outcome::error || db_->ok()) break;
  }
  switch (w.outcome) {
    case fleet::Database::Outcome::ok: {
      state_->put_local(id, text, w.version);
      TenantFileResult r;
      r.etag = std::to_string(w.version);
      return r;
    }
    case fleet::Database::Outcome::conflict: return refusal(TenantFileStatus::conflict, w.message);
    case fleet::Database::Outcome::not_found: return refusal(TenantFileStatus::not_found, w.message);
    case fleet::Database::Outcome::error: break;
  }
  if (!db_->ok()) {
    db_.reset();
    return refusal(TenantFileStatus::unavailable, unreachable(*state_));
  }
  return refusal(TenantFileStatus::io_error, "the fleet database refused the change: " + w.message);
}

}  // namespace sekisho::config
