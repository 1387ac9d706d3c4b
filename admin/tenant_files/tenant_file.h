// One tenant's file, tenants.d/<tenant-id>.yaml: its tenant entry and the policies defined in
// that file, read and written as Settings structs. Every program change to a tenant goes through
// here: `sekisho device …` (admin/cli/device.cc) and the admin API (admin/api) alike, so both
// get the same guarantees:
//   - the file is rendered back to YAML that the loader reads as the same settings
//     (config/yaml/write.h; comments and key order written by hand are not kept; the values are);
//   - a change is validated before it is written, with the real loader and
//     policy::compile_policies over the whole configuration with the new file in place, so
//     what is on disk always passes `sekisho check-config` (and a SIGHUP reload) if it did before;
//   - writes are atomic: a temporary file in tenants.d (not *.yaml, so the loader never reads
//     it), fsync, rename over the old file, fsync the directory. A crash leaves the old file or
//     the new one, never a torn one;
//   - every read returns an ETag (SHA-256 of the file's bytes); a write or removal given an
//     expected ETag refuses with `conflict` when the file changed since (HTTP If-Match).
//     Writers on one host are serialised by flock() on tenants.d, so check-then-rename is not racy.
//
// Tenants defined in the main configuration file (or in a tenants.d file not named after them,
// or sharing a file with another tenant) are not managed here: reads succeed, but writes and
// removals refuse with `not_managed` and say where the tenant is defined. We never rewrite the
// main file, which holds hand-written comments and server settings a program must not lose;
// moving a tenant into tenants.d/<id>.yaml is a one-time manual step.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.h"
#include "config/yaml/load.h"
#include "config/yaml/write.h"  // TenantFileContent, render_tenant_file

namespace sekisho::config {

enum class TenantFileStatus {
  ok,
  not_found,    // no such tenant (read, remove)
  not_managed,  // the tenant lives elsewhere (main file, shared file); see message
  conflict,     // expected ETag did not match, or the file exists when it should not
  invalid,      // the change would make the configuration invalid; see errors
  io_error,     // cannot read or write the file; see message
  unavailable,  // the fleet database cannot be reached; see message
};

struct TenantFileResult {
  TenantFileStatus status = TenantFileStatus::ok;
  std::string message;               // one line for people, set unless ok
  std::vector<ConfigError> errors;   // invalid: every problem, file:line as the loader reports
  std::string path;                  // tenants.d/<id>.yaml, or where the tenant is defined
  std::string etag;                  // of the file as read or as written; empty when there is none
  TenantFileContent content;         // read: what the file holds; write: what was written
  bool ok() const { return status == TenantFileStatus::ok; }
};

// Condition for write/remove: nullopt = unconditional; "" = the file must not exist yet
// (create); otherwise the ETag returned by an earlier read.
using ExpectedEtag = std::optional<std::string>;

// Where tenant documents live when they are not the tenants.d files: the fleet's database
// (admin/tenant_files/fleet_documents.h). The functions below take one; null = the files. The
// documents are still named tenants.d/<id>.yaml (the loader reads them as those files), so
// validation and its messages are the same either way.
class TenantDocumentStore {
 public:
  virtual ~TenantDocumentStore() = default;
  struct Documents {
    TenantFileOverrides files;                 // every document in place of the tenants.d files
    std::map<std::string, std::string> etags;  // by path
  };
  virtual Documents documents() const = 0;
  // Stores `text` as tenant `id`'s document (null: removes it) if `expected` still holds. ok:
  // etag is the new one. Else conflict, not_found or unavailable with a message.
  virtual TenantFileResult store(const std::string& id, const std::string* text, const ExpectedEtag& expected) = 0;
};

// tenants.d/<id>.yaml beside `main_config`.
std::string tenant_file_path(const std::string& main_config, const std::string& tenant_id);

// Lowercase hex SHA-256 of `bytes`.
std::string tenant_file_etag(const std::string& bytes);

// The tenant `tenant_id` as the whole configuration defines it. ok also for tenants defined
// elsewhere (path says where; etag is then empty since the file is not ours to write).
TenantFileResult read_tenant_file(const std::string& main_config, const std::string& tenant_id,
                                  const TenantDocumentStore* documents = nullptr);

// Replaces (or creates) tenants.d/<content.tenant.id>.yaml after validating the whole
// configuration with it. Marks in `content` are ignored.
TenantFileResult write_tenant_file(const std::string& main_config, const TenantFileContent& content,
                                   const ExpectedEtag& expected, TenantDocumentStore* documents = nullptr);

// Deletes tenants.d/<tenant_id>.yaml after checking the configuration is valid without it
// (another tenant may use a policy defined there).
TenantFileResult remove_tenant_file(const std::string& main_config, const std::string& tenant_id,
                                    const ExpectedEtag& expected, TenantDocumentStore* documents = nullptr);

}  // namespace sekisho::config
