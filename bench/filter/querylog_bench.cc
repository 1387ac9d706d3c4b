// bench/filter/querylog_bench.cc: CPU per query-log record on each side of the ring, with the
// benchmark's record mix (bench/filter: 80 % allowed n*.bench.example, 20 % blocked b*/www.b*).
//
//   querylog_bench [RECORDS] [DIR] [filter|blocked]
// `blocked`: every record blocked, as bench/filter's `blocked` workload. The mix holds 16,384
// records, so its blocked names (3,300 in `filter`, 12,000 in `blocked`) outnumber a tenant's
// top list (1,000): the list keeps replacing its minimum, as it does on a real network.
// Prints, in ns per record: encode (append_frame alone: the binary frame the writer stores),
// format (append_json_line alone: what a reader pays per record it renders; the writer's work
// before format 1), stats (TenantAccumulator::add alone), push (the producer's try_push, what a
// serving loop pays) and writer (everything the writer thread spends: pop, stats, frames,
// write(2) into DIR/queries-*.qlog); and the bytes of a frame and of a JSON line.
// Not a test: a speed probe for tuning policy/querylog/ (bench/filter/README.md).
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "policy/querylog/stats.h"
#include "policy/querylog/writer.h"
#include "policy/store/categories.h"

namespace ql = sekisho::querylog;

namespace {

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double process_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

void append_label(std::vector<uint8_t>& w, const std::string& l) {
  w.push_back(static_cast<uint8_t>(l.size()));
  w.insert(w.end(), l.begin(), l.end());
}

// The i-th record of the mix; like bench/filter/workloads.sh's filter_queries.
ql::QueryRecord make(size_t i, int64_t now_us, unsigned allowed_percent) {
  ql::QueryRecord r;
  r.time_us = now_us + static_cast<int64_t>(i);
  r.latency_us = 3 + i % 40;
  r.tenant = 0;
  r.qtype = 1;
  r.upstream = ql::kNoUpstream;
  const uint8_t v4[4] = {127, 0, 0, static_cast<uint8_t>(1 + i % 4)};
  ql::set_client_v4(r, v4);
  std::vector<uint8_t> w;
  if ((i * 7919) % 100 < allowed_percent) {
    append_label(w, "n" + std::to_string(i % 1000));
    r.action = ql::QueryAction::cached;
  } else {
    if (i % 5 == 4) append_label(w, "www");
    append_label(w, "b" + std::to_string((i * 104729) % 10000));
    r.action = ql::QueryAction::blocked;
    r.rule = ql::RuleKind::category;
    r.categories = sekisho::policy::CategorySet(uint64_t{1} << sekisho::policy::CategoryRegistry::builtins().by_slug("malware")->id);
  }
  append_label(w, "bench");
  append_label(w, "example");
  w.push_back(0);
  ql::set_qname(r, w);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const std::string dir = argc > 2 ? argv[2] : std::filesystem::temp_directory_path() / "sekisho-querylog-bench";
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<ql::QueryRecord> mix;
  const std::string workload = argc > 3 ? argv[3] : "filter";
  if (workload != "filter" && workload != "blocked") {
    std::fprintf(stderr, "usage: querylog_bench [RECORDS] [DIR] [filter|blocked]\n");
    return 2;
  }
  for (size_t i = 0; i < 16384; ++i) mix.push_back(make(i, now_us, workload == "filter" ? 80 : 0));

  std::string out;
  size_t bytes = 0;
  double t0 = thread_cpu_ns();
  for (size_t i = 0; i < n; ++i) {
    out.clear();
    ql::append_json_line(out, mix[i % mix.size()], "bench");
    bytes += out.size();
  }
  const double format_ns = (thread_cpu_ns() - t0) / n;

  size_t frame_bytes = 0;
  const auto& registry = sekisho::policy::CategoryRegistry::builtins();
  t0 = thread_cpu_ns();
  for (size_t i = 0; i < n; ++i) {
    out.clear();
    frame_bytes += ql::append_frame(out, mix[i % mix.size()], "bench", registry);
  }
  const double encode_ns = (thread_cpu_ns() - t0) / n;

  ql::TenantAccumulator acc("bench", ql::StatsLimits{});
  t0 = thread_cpu_ns();
  for (size_t i = 0; i < n; ++i) acc.add(mix[i % mix.size()]);
  const double stats_ns = (thread_cpu_ns() - t0) / n;

  std::filesystem::remove_all(dir);
  ql::QueryLogWriter::Options o;
  o.directory = dir;
  o.wake_interval = std::chrono::milliseconds(1);
  ql::QueryLogWriter writer(o);
  writer.set_tenant_names({"bench"}, {0});
  ql::QueryLogRing* ring = writer.add_ring();
  writer.start();
  const double p0 = process_cpu_ns();
  const double l0 = thread_cpu_ns();
  for (size_t i = 0; i < n; ++i)
    while (!ring->try_push(mix[i % mix.size()])) std::this_thread::yield();  // count every record
  const double loop_cpu = thread_cpu_ns() - l0;
  writer.stop();
  const double writer_ns = (process_cpu_ns() - p0 - loop_cpu) / n;
  const auto c = writer.counters();

  // What a serving loop pays per record: pushes into a ring nobody drains, emptied between runs
  // (the emptying is not timed).
  ql::QueryLogRing solo(8192);
  std::vector<ql::QueryRecord> sink(8192);
  double push_cpu = 0;
  for (size_t done = 0; done < n;) {
    const double s = thread_cpu_ns();
    size_t k = 0;
    for (; k < solo.capacity() && done + k < n; ++k) solo.try_push(mix[(done + k) % mix.size()]);
    push_cpu += thread_cpu_ns() - s;
    solo.pop_batch(sink.data(), sink.size());
    done += k;
  }
  std::printf("workload=%s records=%zu frame_bytes=%.0f line_bytes=%.0f encode_ns=%.0f format_ns=%.0f stats_ns=%.0f "
              "push_ns=%.0f writer_ns=%.0f written=%llu\n",
              workload.c_str(), n, double(frame_bytes) / n, double(bytes) / n, encode_ns, format_ns, stats_ns, push_cpu / n, writer_ns,
              static_cast<unsigned long long>(c.records_written));
  std::filesystem::remove_all(dir);
  return c.records_written == n ? 0 : 1;
}
