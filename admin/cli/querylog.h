// `sekisho querylog print PATH...`: the query log as JSON lines on stdout, one per record, oldest
// file first — the lines the admin search returns. A PATH is a log file (queries-*.qlog, or a
// JSON-lines file of before format 1, copied as it is) or a query-log directory (every such
// file in it, by date). What is not a whole valid record (a torn tail) is skipped and counted on
// stderr. The command line is declared in admin/cli/main.cc.
#pragma once

#include <string>
#include <vector>

namespace sekisho::cli {

struct QuerylogArgs {
  std::vector<std::string> paths;
};

// 0 when every file was read; 1 when one could not be (not a query log, unreadable), after
// printing the others.
int run_querylog_print(const QuerylogArgs& args);

}  // namespace sekisho::cli
