// `sekisho`: the administrator's command line. Its whole surface (commands, subcommands,
// options) is declared here with the parser all three programs share (base/command_line.h);
// each command runs in its own file of admin/cli/ with what was parsed, and reports usage
// problems it finds itself as command_line::UsageError (exit status 2).
#include <cstdio>
#include <string>
#include <vector>

#include "admin/cli/admin_token.h"
#include "admin/cli/ca.h"
#include "admin/cli/db.h"
#include "admin/cli/device.h"
#include "admin/cli/feed.h"
#include "admin/cli/fleet.h"
#include "admin/cli/policy_replay.h"
#include "admin/cli/profile.h"
#include "admin/cli/querylog.h"
#include "base/command_line.h"
#include "base/version.h"
#include "policy/configuration.h"

namespace {

using sekisho::command_line::Program;

// --config, --tenant and --device of `device` and `profile`.
struct DeviceOptions {
  std::string config, tenant, device;

  void add(CLI::App* command, bool tenant_required = true, bool with_device = true) {
    command->add_option("--config", config, "sekishod's configuration")->type_name("FILE")->required();
    CLI::Option* t = command->add_option("--tenant", tenant, "the tenant's id")->type_name("ID");
    if (tenant_required) t->required();
    if (with_device) command->add_option("--device", device, "the device's name")->type_name("NAME")->required();
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace sekisho::cli;
  Program program("sekisho",
                  "sekisho's administrator's command line: the category store and its feeds, inspection CAs, "
                  "admin tokens, devices and their profiles, the query log's files.");
  CLI::App& app = program.app();
  program.expect_subcommand(app);

  std::string check_path;
  CLI::App* check =
      app.add_subcommand("check-config", "validate a sekishod configuration; print every error with its line");
  check->add_option("FILE", check_path, "sekishod's configuration")->required();

  // ---- db
  CLI::App* db = app.add_subcommand("db", "manage the category store");
  // `sekisho db import --db PATH …`: the commands added below inherit both, so that the store's
  // options may also follow them (db itself stops falling through below).
  db->fallthrough();
  db->footer("The store's options (--db, --categories, --config) may come before or after the command.");
  program.expect_subcommand(*db);
  DbArgs dba;
  CLI::Option* db_path = db->add_option("--db", dba.db, "the store")->type_name("PATH")->capture_default_str();
  db->add_option("--categories", dba.categories_file, "categories added to the built-ins (sekishod's categories_file)")
      ->type_name("FILE");
  db->add_option("--config", dba.config, "sekishod's configuration: its category_db and categories_file")
      ->type_name("SEKISHOD_YAML");
  std::string source, format, input, remove_name;
  std::vector<std::string> categories, names;
  bool strict = false, quiet = false, allow_shrink = false, allow_suffixes = false;
  std::string max_shrink;
  CLI::App* import = db->add_subcommand("import", "replace a source's entries with a list, in one write transaction");
  import->add_option("--source", source, "the source's name (importing it again replaces it)")
      ->type_name("NAME")
      ->required();
  import->add_option("--format", format, "domains, hosts, adblock, rpz, csv or ut1")->type_name("FORMAT")->required();
  import->add_option("--category", categories, "category of the entries (repeat, or C1,C2; domains and hosts need one)")
      ->type_name("C")
      ->allow_extra_args(false);  // one value per --category: the input file is not a category
  import->add_flag("--strict", strict, "write nothing if any line is refused");
  import->add_flag("--quiet", quiet, "do not list the refused lines");
  import->add_option("--max-shrink", max_shrink,
                     "the share of the source's entries one update may remove, in percent (default 50); "
                     "an update removing more is refused and the source keeps its entries")
      ->type_name("PERCENT")
      ->check(CLI::Range(0.0, 100.0));
  import->add_flag("--allow-shrink", allow_shrink, "replace the source however much the update removes");
  import->add_flag("--allow-public-suffixes", allow_suffixes,
                   "take public suffixes (com, co.jp) as entries: the list classifies whole registries on purpose");
  import->add_option("INPUT", input, "FILE, DIR (ut1) or - for stdin; .gz is read directly")->required();
  CLI::App* lookup = db->add_subcommand("lookup", "what the store says about names or URLs");
  lookup->add_option("NAME", names, "a name or URL")->required();
  db->add_subcommand("stats", "the store's size, generation, entries per category and sources");
  CLI::App* export_ =
      db->add_subcommand("export", "print the entries, URL entries too, as csv (`import --format csv` reads it back)");
  export_->add_option("--source", source, "only this source's entries (an exact copy of the source)")->type_name("NAME");
  CLI::App* remove = db->add_subcommand("remove-source", "remove a source's contributions");
  remove->add_option("NAME", remove_name, "the source's name")->required();
  db->add_subcommand("verify", "check every entry and the lookup index against the B-tree");
  db->add_subcommand("compact", "fold the lookup index's delta into its base (after feed updates); rewrite entries of older stores in the current layout");
  db->add_subcommand("categories", "the registry: built-ins, the categories file's additions, the store's ids");
  db->fallthrough(false);  // a word db does not know is an unknown command of db's, not the program's

  // ---- ca
  CLI::App* ca = app.add_subcommand("ca", "inspection CAs for sekisho-intercept (CA_DIR/ID/ca.crt and ca.key)");
  program.expect_subcommand(*ca);
  CaArgs caa;
  auto ca_options = [&](CLI::App* command) {
    command->add_option("--tenant", caa.tenant, "the tenant (CA_DIR/default without it)")->type_name("ID");
    command->add_option("--dir", caa.dir, "the CA directory")->type_name("CA_DIR");
    command->add_option("--config", caa.config, "sekishod's configuration: its intercept.ca_dir; the tenant checked")
        ->type_name("FILE");
  };
  CLI::App* ca_init = ca->add_subcommand("init", "create a CA (key mode 0600); never replaces one");
  ca_options(ca_init);
  ca_init->add_option("--name", caa.name, "its common name")->type_name("COMMON_NAME");
  CLI::App* ca_export = ca->add_subcommand("export", "print a CA's certificate, PEM (or DER with --der)");
  ca_options(ca_export);
  ca_export->add_flag("--der", caa.der, "DER instead of PEM");

  // ---- admin token
  CLI::App* admin = app.add_subcommand("admin", "admin API credentials");
  program.expect_subcommand(*admin);
  AdminTokenArgs token;
  CLI::App* admin_token =
      admin->add_subcommand("token", "print a new token (shown once) and its admin.tokens entry (its SHA-256 only)");
  admin_token->add_option("--role", token.role, "operator or tenant-admin")->type_name("ROLE")->required();
  admin_token->add_option("--tenant", token.tenant, "a tenant-admin token's tenant")->type_name("ID");
  admin_token->add_option("--name", token.name, "its name (default: operator, or ID-admin)")->type_name("NAME");

  // ---- device
  CLI::App* device = app.add_subcommand("device", "a tenant's DoH/DoT devices, in <tenant>.yaml of FILE's tenants_dir (default tenants.d beside FILE)");
  device->footer("sekishod applies changes on reload (SIGHUP, systemctl reload sekishod).");
  program.expect_subcommand(*device);
  DeviceOptions device_options;
  std::string device_token;
  CLI::App* device_add = device->add_subcommand("add", "add a device and print its token and endpoints");
  device_options.add(device_add);
  CLI::Option* device_token_option =
      device_add->add_option("--token", device_token, "8-32 of a-z 0-9 (generated when not given)")->type_name("TOKEN");
  device_options.add(device->add_subcommand("list", "tenant, device and token, tab-separated"), false, false);
  device_options.add(device->add_subcommand("revoke", "remove a device; its token stops working on reload"));

  // ---- profile
  CLI::App* profile = app.add_subcommand("profile", "what a device needs: .mobileconfig, Private DNS name");
  program.expect_subcommand(*profile, "profile kind");
  DeviceOptions profile_options;
  ProfileArgs pa;
  CLI::App* apple = profile->add_subcommand("apple", "a configuration profile for DoH with the device's token");
  profile_options.add(apple);
  apple->add_option("--ca-cert", pa.ca_cert, "an inspection CA to trust as a root")->type_name("PEM");
  apple->add_option("--sign-cert", pa.sign_cert, "sign (CMS, DER) with this certificate")->type_name("PEM");
  apple->add_option("--sign-key", pa.sign_key, "and this key")->type_name("PEM");
  apple->add_option("-o", pa.output, "write to this file instead of stdout")->type_name("OUT.mobileconfig");
  profile_options.add(profile->add_subcommand("android", "the Private DNS host name"));

  // ---- feed
  CLI::App* feed = app.add_subcommand("feed", "category feeds kept current by sekisho-feed");
  program.expect_subcommand(*feed);
  FeedArgs fa;
  CLI::App* feed_status = feed->add_subcommand(
      "status", "each feed's last attempt, last success, serial, entries and last error (exit 1 if one is unhealthy)");
  feed_status->add_option("--config", fa.config, "the configuration naming the feeds")->type_name("FILE")->required();
  feed_status->add_option("NAME", fa.name, "only this feed")->type_name("NAME");
  feed_status->add_flag("--json", fa.json, "the status files' JSON, as a list");

  // ---- fleet
  CLI::App* fleet = app.add_subcommand("fleet", "the fleet database a configuration's fleet: section names (PostgreSQL)");
  program.expect_subcommand(*fleet);
  FleetArgs fla;
  const auto fleet_command = [&](const char* name, const char* what) {
    CLI::App* c = fleet->add_subcommand(name, what);
    c->add_option("--config", fla.config, "sekishod's configuration with the fleet: section")->type_name("FILE")->required();
    return c;
  };
  fleet_command("init", "create the schema in an empty database");
  fleet_command("migrate", "apply the schema migrations the database lacks");
  fleet_command("import-yaml", "make the tenants.d files beside FILE the fleet's tenants (checked first; one transaction)");
  fleet_command("export-yaml", "write every tenant's document as DIR/<id>.yaml")
      ->add_option("--dir", fla.dir, "where to write them")
      ->type_name("DIR")
      ->required();
  fleet_command("status", "schema version, generation, tenants, and each node's applied generation");
  // ---- querylog
  CLI::App* querylog = app.add_subcommand("querylog", "read the query log's files");
  program.expect_subcommand(*querylog);
  QuerylogArgs qa;
  CLI::App* querylog_print = querylog->add_subcommand(
      "print", "every record of the files (or of the query-log directories) as JSON lines, oldest first");
  querylog_print->add_option("PATH", qa.paths, "a queries-YYYY-MM-DD.qlog file or a query-log directory")
      ->type_name("PATH")
      ->required();
  // ---- policy
  CLI::App* policy_cmd = app.add_subcommand("policy", "a tenant's policy");
  program.expect_subcommand(*policy_cmd);
  ReplayArgs ra;
  CLI::App* replay = policy_cmd->add_subcommand(
      "replay", "what PROPOSED.yaml would have changed for a tenant's logged queries: newly blocked and newly allowed, "
                "by category, name and device");
  replay->add_option("--config", ra.config, "sekishod's configuration")->type_name("FILE")->required();
  replay->add_option("--tenant", ra.tenant, "the tenant's id")->type_name("ID")->required();
  replay->add_option("--from", ra.from, "first logged query (2026-12-01, 2026-12-01T09:00:00Z, Unix seconds)")
      ->type_name("TIME");
  replay->add_option("--to", ra.to, "end, exclusive (a date: through that day)")->type_name("TIME");
  replay->add_option("--querylog", ra.querylog, "the query-log directory (default: the configuration's querylog.directory)")
      ->type_name("DIR");
  replay->add_option("--top", ra.top, "rows per table")->type_name("N")->capture_default_str();
  replay->add_flag("--json", ra.json, "the counts and tables as JSON");
  replay->add_option("PROPOSED", ra.proposed, "the proposed policy: a policy mapping, or a template file")
      ->type_name("PROPOSED.yaml")->required();

  CLI::App* version = app.add_subcommand("version", "print the version (as --version does)");

  if (auto done = program.parse(argc, argv)) return *done;
  const CLI::App* chosen = Program::chosen(app);
  return program.run([&]() -> int {
    if (chosen == check) return sekisho::policy::run_check_config(check_path);
    if (chosen == version) {
      std::printf("sekisho %s\n", sekisho::kVersion);
      return 0;
    }
    if (chosen == db) {
      const CLI::App* command = Program::chosen(*db);
      dba.command = command->get_name();
      dba.db_given = db_path->count() > 0;
      if (command == import) {
        dba.positional = {input};
        dba.options.emplace("--format", format);
        for (const auto& c : categories) dba.options.emplace("--category", c);
      }
      if (command == lookup) dba.positional = names;
      if (command == remove) dba.positional = {remove_name};
      if (command == import || command == export_) {
        if (!source.empty()) dba.options.emplace("--source", source);
      }
      if (strict) dba.flags.insert("--strict");
      if (quiet) dba.flags.insert("--quiet");
      if (allow_shrink) dba.flags.insert("--allow-shrink");
      if (allow_suffixes) dba.flags.insert("--allow-public-suffixes");
      if (!max_shrink.empty()) dba.options.emplace("--max-shrink", max_shrink);
      return run_db(dba, argv);
    }
    if (chosen == ca) {
      caa.command = Program::chosen(*ca)->get_name();
      return run_ca(caa);
    }
    if (chosen == admin) return run_admin_token(token);
    if (chosen == device) {
      DeviceArgs args{Program::chosen(*device)->get_name(), device_options.config, device_options.tenant,
                      device_options.device, std::nullopt};
      if (device_token_option->count() > 0) args.token = device_token;
      return run_device(args);
    }
    if (chosen == feed) return run_feed_status(fa);
    if (chosen == fleet) {
      fla.command = Program::chosen(*fleet)->get_name();
      return run_fleet(fla);
    }
    if (chosen == querylog) return run_querylog_print(qa);
    if (chosen == policy_cmd) return run_policy_replay(ra);
    if (chosen == profile) {
      pa.kind = Program::chosen(*profile)->get_name();
      pa.config = profile_options.config;
      pa.tenant = profile_options.tenant;
      pa.device = profile_options.device;
      return run_profile(pa);
    }
    return program.usage_error("missing command", true);  // parse() makes sure one was given
  });
}
