// The fleet database as the admin API's tenant document store: reads come from the snapshot the
// node runs on (ETag = the document's row version), writes go to the database in one
// transaction that checks that version (412 on a mismatch) and NOTIFYs every node. While the
// database is unreachable, writes answer `unavailable` (HTTP 503) at once, saying the node runs
// on its last snapshot: a change one node accepted and the others never saw would split the fleet.
#pragma once

#include <memory>

#include "admin/tenant_files/tenant_file.h"
#include "config/fleet/database.h"
#include "config/fleet/state.h"

namespace sekisho::config {

class FleetDocuments final : public TenantDocumentStore {
 public:
  explicit FleetDocuments(std::shared_ptr<fleet::FleetState> state) : state_(std::move(state)) {}
  ~FleetDocuments() override;
  Documents documents() const override;
  // Called from one thread at a time (the admin loop): it owns its own connection.
  TenantFileResult store(const std::string& id, const std::string* text, const ExpectedEtag& expected) override;

 private:
  std::shared_ptr<fleet::FleetState> state_;
  std::unique_ptr<fleet::Database> db_;
};

}  // namespace sekisho::config
