// Tests for policy/querylog/log_file and log_file_reader: the binary query-log format read back
// field for field and as the JSON line it stands for; torn tails (cut at every byte of the last
// record) and damaged records skipped, never misread; the writer cutting a torn tail off.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "policy/querylog/log_file_reader.h"
#include "policy/querylog/writer.h"
#include "tests/unit/temp_dir.h"

namespace fs = std::filesystem;
namespace ql = sekisho::querylog;
using sekisho::test::TempDir;

namespace {

const sekisho::policy::CategoryRegistry& builtins() { return sekisho::policy::CategoryRegistry::builtins(); }

uint8_t category(const char* slug) { return static_cast<uint8_t>(builtins().by_slug(slug)->id); }

std::vector<uint8_t> wire(std::initializer_list<const char*> labels) {
  std::vector<uint8_t> out;
  for (const char* l : labels) {
    out.push_back(static_cast<uint8_t>(std::strlen(l)));
    out.insert(out.end(), l, l + std::strlen(l));
  }
  out.push_back(0);
  return out;
}

// Records that between them use every field and both ends of its range.
std::vector<std::pair<ql::QueryRecord, std::string>> varied_records() {
  std::vector<std::pair<ql::QueryRecord, std::string>> out;
  ql::QueryRecord a;
  a.time_us = 1796085329123456;  // 2026-12-01T00:35:29.123456Z
  a.latency_us = 4321;
  a.qtype = 65;
  a.rcode = 3;
  a.transport = ql::Transport::doh;
  a.action = ql::QueryAction::blocked;
  a.rule = ql::RuleKind::category;
  a.categories.add(category("gambling"));
  a.categories.add(category("malware"));
  a.categories.add(251);  // unnamed in the built-ins
  ql::set_text(a.rule_text, "casino.example");
  ql::set_text(a.device, "kid-tablet");
  a.upstream = 2;
  const uint8_t v4[4] = {192, 0, 2, 77};
  ql::set_client_v4(a, v4);
  ql::set_qname(a, wire({"www", "casino", "example"}));
  out.emplace_back(a, "acme");

  ql::QueryRecord b;  // IPv6, anonymized: stored cut to /48
  b.time_us = 1;
  b.qtype = 28;
  b.transport = ql::Transport::tcp;
  b.action = ql::QueryAction::resolved;
  b.log_mode = ql::LogMode::anonymized;
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  ql::set_client_v6(b, v6);
  ql::set_qname(b, wire({"a\"b\\c", "example"}));  // JSON and presentation escapes
  out.emplace_back(b, "beta");

  ql::QueryRecord c;  // no client, no name, no tenant, longest texts
  c.time_us = -5;     // before 1970
  c.action = ql::QueryAction::malformed;
  c.latency_us = UINT32_MAX;
  ql::set_text(c.rule_text, std::string(100, 'r'));
  ql::set_text(c.device, std::string(100, 'd'));
  out.emplace_back(c, "");

  ql::QueryRecord d;  // a 255-octet name, every category id, a long tenant id
  d.time_us = 1796085329000000;
  d.action = ql::QueryAction::upstream_limited;
  d.transport = ql::Transport::dot;
  d.rule = ql::RuleKind::safe_search;
  for (unsigned id = 0; id < 255; ++id) d.categories.add(static_cast<uint8_t>(id));
  std::vector<uint8_t> long_name;
  for (int i = 0; i < 4; ++i) {
    long_name.push_back(62);
    long_name.insert(long_name.end(), 62, static_cast<uint8_t>('a' + i));
  }
  long_name.push_back(1);
  long_name.push_back('z');
  long_name.push_back(0);
  REQUIRE(long_name.size() == 255);
  ql::set_qname(d, long_name);
  out.emplace_back(d, std::string(300, 't'));
  return out;
}

std::string header() {
  uint8_t h[ql::kLogHeaderSize];
  ql::write_log_header(h);
  return std::string(reinterpret_cast<const char*>(h), sizeof h);
}

std::span<const uint8_t> bytes_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

void write_file(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every record of a file read forward, as JSON lines; and backward from the end.
std::vector<std::string> forward(const fs::path& path, uint64_t* skipped = nullptr) {
  ql::LogFileReader reader(path.string());
  REQUIRE(reader.error().empty());
  std::vector<std::string> out;
  ql::StoredRecord r;
  for (uint64_t start = 0, end = 0; reader.next(start, end, r); start = end) {
    out.emplace_back();
    ql::append_json_line(out.back(), r);
  }
  if (skipped) *skipped = reader.skipped_bytes();
  return out;
}

std::vector<std::string> backward(const fs::path& path) {
  ql::LogFileReader reader(path.string());
  REQUIRE(reader.error().empty());
  std::vector<std::string> out;
  ql::StoredRecord r;
  uint64_t start = 0;
  for (uint64_t end = reader.size(); reader.previous(end, start, r); end = start) {
    out.emplace_back();
    ql::append_json_line(out.back(), r);
  }
  return {out.rbegin(), out.rend()};
}

// A real writer thread on `dir` (clock: 2026-12-01) writes `r` as tenant "acme", then stops.
ql::QueryLogWriter::Counters write_one(const fs::path& dir, ql::QueryRecord r) {
  ql::QueryLogWriter::Options o;
  o.directory = dir.string();
  o.wake_interval = std::chrono::milliseconds(5);
  o.retention_days = 0;
  o.now_us = [] { return int64_t{1796085329000000}; };
  ql::QueryLogWriter writer(o);
  writer.set_tenant_names({"acme"}, {});
  ql::QueryLogRing* ring = writer.add_ring();
  writer.start();
  r.tenant = 0;
  REQUIRE(ring->try_push(r));
  writer.stop();
  return writer.counters();
}

}  // namespace

TEST_CASE("querylog file: a frame reads back field for field and renders the JSON line the writer used to write") {
  for (const auto& [r, tenant] : varied_records()) {
    std::string frame;
    const size_t n = ql::append_frame(frame, r, tenant, builtins());
    REQUIRE(n == frame.size());
    CHECK(ql::frame_at(bytes_of(frame)) == n);
    CHECK(ql::frame_ending_at(bytes_of(frame)) == n);
    ql::StoredRecord s;
    REQUIRE(ql::decode_frame(bytes_of(frame), s));
    const ql::QueryRecord& got = s.record;
    CHECK(got.time_us == r.time_us);
    CHECK(got.latency_us == r.latency_us);
    CHECK(got.qtype == r.qtype);
    CHECK(got.rcode == r.rcode);
    CHECK(got.transport == r.transport);
    CHECK(got.action == r.action);
    CHECK(got.log_mode == r.log_mode);
    CHECK(got.rule == r.rule);
    CHECK(got.upstream == r.upstream);
    CHECK(got.categories == r.categories);
    CHECK(std::string(got.rule_text) == std::string(r.rule_text));
    CHECK(std::string(got.device) == std::string(r.device));
    CHECK(std::string(reinterpret_cast<const char*>(got.qname), got.qname_len) ==
          std::string(reinterpret_cast<const char*>(r.qname), r.qname_len));
    CHECK(got.client_family == r.client_family);
    uint8_t want_client[16] = {};
    ql::logged_address(r, r.log_mode == ql::LogMode::anonymized, want_client);
    CHECK(std::memcmp(got.client, want_client, 16) == 0);  // anonymized: the full address never stored
    CHECK(s.tenant_id == tenant.substr(0, ql::kMaxStoredTenantId));
    std::string from_file, as_written;
    ql::append_json_line(from_file, s);
    ql::append_json_line(as_written, r, tenant, builtins());
    CHECK(from_file == as_written);
  }
}

TEST_CASE("querylog file: the header names the format and its version") {
  std::string h = header();
  CHECK(ql::check_log_header(bytes_of(h)).empty());
  CHECK(h.substr(0, 8) == "SKSHQLOG");
  std::string future = h;
  future[8] = 2;
  CHECK(ql::check_log_header(bytes_of(future)).find("version 2") != std::string::npos);
  CHECK(ql::check_log_header(bytes_of(std::string("{\"time\":\"2026-11-25T00:00:00Z\"}\n"))).find("not a sekisho query log") !=
        std::string::npos);
  TempDir tmp;
  write_file(tmp.path / "x.qlog", "{\"time\":1}\n");
  CHECK(!ql::LogFileReader((tmp.path / "x.qlog").string()).error().empty());
}

TEST_CASE("querylog file: a torn last record, cut at every byte, is skipped and never misread") {
  TempDir tmp;
  std::string body;
  std::vector<size_t> ends;
  std::vector<std::string> lines;
  for (const auto& [r, tenant] : varied_records()) {
    ql::append_frame(body, r, tenant, builtins());
    ends.push_back(header().size() + body.size());
    lines.emplace_back();
    ql::append_json_line(lines.back(), r, tenant, builtins());
  }
  // The last record is the long one (every category): cut it at each of its bytes.
  const std::string whole = header() + body;
  const size_t last_start = ends[ends.size() - 2];
  const std::vector<std::string> kept(lines.begin(), lines.end() - 1);
  const fs::path path = tmp.path / "queries-2026-12-01.qlog";
  for (size_t cut = last_start; cut < whole.size(); ++cut) {
    CAPTURE(cut);
    write_file(path, whole.substr(0, cut));
    uint64_t skipped = 0;
    CHECK(forward(path, &skipped) == kept);
    CHECK(skipped == cut - last_start);
    CHECK(backward(path) == kept);
    CHECK(ql::valid_log_end(path.string()) == last_start);
  }
  write_file(path, whole);
  CHECK(forward(path) == lines);
  CHECK(backward(path) == lines);
  CHECK(ql::valid_log_end(path.string()) == whole.size());
  // Zeros past the end (a crash after the file grew, before its data reached the disk).
  write_file(path, whole + std::string(4096, '\0'));
  CHECK(forward(path) == lines);
  CHECK(backward(path) == lines);
  CHECK(ql::valid_log_end(path.string()) == whole.size());
}

TEST_CASE("querylog file: a damaged record (body, checksum or size) is skipped, its neighbours read") {
  TempDir tmp;
  std::string body;
  std::vector<size_t> starts;
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i)
    for (const auto& [r, tenant] : varied_records()) {
      starts.push_back(header().size() + body.size());
      ql::append_frame(body, r, tenant, builtins());
      lines.emplace_back();
      ql::append_json_line(lines.back(), r, tenant, builtins());
    }
  const std::string whole = header() + body;
  const size_t victim = 5;  // the second round's second record
  std::vector<std::string> without = lines;
  without.erase(without.begin() + victim);
  const fs::path path = tmp.path / "q.qlog";
  // A flipped bit in the body, in the CRC, in the leading size and in the trailing size.
  const size_t frame_size = starts[victim + 1] - starts[victim];
  for (const size_t offset : {size_t{2}, size_t{3}, size_t{6}, size_t{20}, frame_size / 2, size_t{0}, frame_size - 2, frame_size - 1}) {
    CAPTURE(offset);
    std::string damaged = whole;
    damaged[starts[victim] + offset] ^= 0x10;
    write_file(path, damaged);
    CHECK(forward(path) == without);
    CHECK(backward(path) == without);
  }
}

TEST_CASE("querylog writer: a torn tail left by a crash is cut off before the next record is appended") {
  TempDir tmp;
  const auto records = varied_records();
  std::string frames;
  ql::append_frame(frames, records[0].first, "acme", builtins());
  const size_t first = frames.size();
  ql::append_frame(frames, records[1].first, "acme", builtins());
  const fs::path path = tmp.path / "queries-2026-12-01.qlog";
  write_file(path, header() + frames.substr(0, first + 10));  // the second record torn after 10 bytes

  ql::QueryRecord r = records[0].first;
  r.time_us = 1796085329000001;
  const auto counters = write_one(tmp.path, r);
  CHECK(counters.records_written == 1);
  uint64_t skipped = 0;
  const auto lines = forward(path, &skipped);
  CHECK(skipped == 0);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"time\":\"2026-12-01T") != std::string::npos);
  CHECK(lines[1].find("\"time\":\"2026-12-01T") != std::string::npos);
  CHECK(lines[1].find(".000001Z\"") != std::string::npos);
  CHECK(read_file(path).size() == header().size() + 2 * first);
}

TEST_CASE("querylog writer: a file that is not in this format is moved aside, not appended to") {
  TempDir tmp;
  const fs::path path = tmp.path / "queries-2026-12-01.qlog";
  write_file(path, "some other program's file\n");
  CHECK(write_one(tmp.path, varied_records()[0].first).records_written == 1);
  CHECK(read_file(tmp.path / "queries-2026-12-01.qlog.unreadable") == "some other program's file\n");
  CHECK(forward(path).size() == 1);
}
