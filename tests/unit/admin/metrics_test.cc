// /metrics renders every counter of the lists in resolver/counters.h, each family introduced by
// one HELP and one TYPE line before its series, and its series adjacent.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "admin/api/metrics.h"

namespace {

using sekisho::resolver::CounterInfo;
using sekisho::resolver::EngineSample;
using sekisho::resolver::HistogramSample;
using sekisho::resolver::kTransportLabels;

// Gives every counter of a sample its own value and records the series it must appear as.
struct Fill {
  uint64_t next = 1;
  std::map<std::pair<std::string, std::string>, uint64_t> expected;  // (name, labels) → value
  std::map<std::string, std::string> types;                          // family → TYPE

  static std::string join(std::string_view a, const std::string& b) {
    if (a.empty()) return b;
    return std::string(a) + "," + b;
  }
  void expect(const CounterInfo& c, const std::string& name, const std::string& labels, uint64_t value) {
    types[std::string(c.family)] = std::string(c.metric_type);
    expected[{name, labels}] = value;
  }
  void operator()(const CounterInfo& c, uint64_t& v) {
    v = next++;
    expect(c, std::string(c.family), std::string(c.labels), v);
  }
  void operator()(const CounterInfo& c, std::array<uint64_t, kTransportLabels.size()>& v) {
    for (size_t t = 0; t < v.size(); ++t) {
      v[t] = next++;
      expect(c, std::string(c.family), join(c.labels, "transport=\"" + std::string(kTransportLabels[t]) + "\""), v[t]);
    }
  }
  void operator()(const CounterInfo& c, HistogramSample& h) {
    h.bounds_us = {100};
    h.buckets = {next, next + 1};
    h.sum_us = 1500000;
    expect(c, std::string(c.family) + "_bucket", join(c.labels, "le=\"0.0001\""), next);
    expect(c, std::string(c.family) + "_bucket", join(c.labels, "le=\"+Inf\""), 2 * next + 1);
    expect(c, std::string(c.family) + "_count", std::string(c.labels), 2 * next + 1);
    next += 2;
  }
};

}  // namespace

TEST_CASE("metrics: every counter of the lists is exported, each family introduced once before its series") {
  EngineSample s;
  s.store_configured = true;
  s.upstreams.emplace_back();
  s.upstreams.back().address = "192.0.2.53:53";
  Fill fill;
  sekisho::resolver::visit_loop_counters(s, fill);
  sekisho::resolver::visit_forwarder_counters(s.forwarder, fill);
  sekisho::resolver::visit_store_counters(s, fill);
  sekisho::resolver::visit_upstream_tcp_counters(s.upstreams.back().tcp, [&](const CounterInfo& c, uint64_t& v) {
    v = fill.next++;
    fill.expect(c, std::string(c.family), Fill::join(c.labels, "upstream=\"192.0.2.53:53\""), v);
  });
  REQUIRE(fill.expected.size() > 30);

  const std::string text = sekisho::admin::render_metrics(s);
  std::map<std::string, int> helps, type_lines;
  std::map<std::pair<std::string, std::string>, uint64_t> series;
  std::set<std::string> closed;  // families whose series have ended
  std::string current;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      CHECK_MESSAGE(line.size() > 8 + family.size(), "no help text: ", line);
      ++helps[family];
      if (!current.empty()) closed.insert(current);
      current = family;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      CHECK(family == current);
      ++type_lines[family];
      if (fill.types.count(family)) CHECK(line == "# TYPE " + family + " " + fill.types[family]);
      continue;
    }
    const size_t space = line.rfind(' ');
    const std::string head = line.substr(0, space);
    const size_t brace = head.find('{');
    const std::string name = head.substr(0, brace);
    const std::string labels = brace == std::string::npos ? "" : head.substr(brace + 1, head.size() - brace - 2);
    CHECK_MESSAGE(name.rfind(current, 0) == 0, "a series outside its family: ", line);
    CHECK_MESSAGE(closed.count(current) == 0, "a family split in two: ", line);
    const std::string value = line.substr(space + 1);
    if (value.find('.') == std::string::npos) series[{name, labels}] = std::stoull(value);  // sums are in seconds
  }
  // No structured bindings in the messages: doctest captures them in a lambda, which clang
  // (the ASan tree's compiler) accepts only from version 16.
  for (const auto& help : helps) CHECK_MESSAGE(help.second == 1, help.first);
  for (const auto& type_line : type_lines) CHECK_MESSAGE(type_line.second == 1, type_line.first);
  for (const auto& type : fill.types) CHECK_MESSAGE(helps.count(type.first) == 1, "family not exported: ", type.first);
  for (const auto& expected : fill.expected) {
    const auto& key = expected.first;
    INFO(key.first, "{", key.second, "}");
    REQUIRE(series.count(key) == 1);
    CHECK(series[key] == expected.second);
  }
}

TEST_CASE("metrics: the store's counters only when a category store is configured") {
  EngineSample s;
  s.category_memo_hits = 7;
  s.store_unavailable = 1;
  CHECK(sekisho::admin::render_metrics(s).find("category_") == std::string::npos);
  s.store_configured = true;
  const std::string text = sekisho::admin::render_metrics(s);
  CHECK(text.find("sekisho_category_memo_lookups_total{result=\"hit\"} 7\n") != std::string::npos);
  CHECK(text.find("sekisho_category_store_unavailable_total 1\n") != std::string::npos);
}
