// policy/querylog/writer.cc — see writer.h for the concurrency contract and failure policy.
#include "policy/querylog/writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "policy/querylog/log_file_reader.h"

namespace sekisho::querylog {
namespace {

// Records per ring consume call; their frames (~20 KB; ~70 KB as JSON lines) are written
// before the next call, so write(2) copies them into the page cache while they are still in the
// core's cache: with a whole pass's records (up to a ring's worth, MBs) the copy read them back
// from memory and was ~40 % of the writer's time.
constexpr size_t kBatch = 256;
constexpr auto kOpenRetry = std::chrono::seconds(1);     // at most one reopen attempt per second
constexpr auto kErrorLogInterval = std::chrono::seconds(60);
constexpr int64_t kDeviceExpiryEvery_s = 600;            // sweeping 1M keys is ~10 ms: not per batch

// mkdir -p with our mode for every component we create (std::filesystem would use 0777&umask).
int make_directories(const std::string& path) {
  if (path.empty()) return ENOENT;
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    const std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0750) != 0 && errno != EEXIST) return errno;
    if (pos == std::string::npos) return 0;
  }
}

// The bytes of whole frames at the start of `data` (a batch of frames, the last perhaps cut).
size_t whole_frames(const char* data, size_t n, uint64_t& frames) {
  size_t at = 0;
  frames = 0;
  while (n - at >= 2) {
    const auto* p = reinterpret_cast<const uint8_t*>(data + at);
    const size_t size = static_cast<size_t>(p[0] | (p[1] << 8));
    if (size == 0 || size > n - at) break;
    at += size;
    ++frames;
  }
  return at;
}

}  // namespace

struct QueryLogWriter::OpenFile {
  int fd = -1;
  uint64_t size = 0;  // bytes of whole frames; a failed write is truncated back to this
  std::string path;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

struct QueryLogWriter::Pending {
  std::string frames;  // log_file.h frames, back to back
  uint64_t records = 0;
};

QueryLogWriter::QueryLogWriter(Options options) : options_(std::move(options)) {}

QueryLogWriter::~QueryLogWriter() { stop(); }

QueryLogRing* QueryLogWriter::add_ring() {
  rings_.push_back(std::make_unique<QueryLogRing>(options_.ring_capacity));
  rings_.back()->on_half_full([](void* self) { static_cast<QueryLogWriter*>(self)->nudge(); }, this);
  return rings_.back().get();
}

// From a producer's thread, without the mutex (no lock on the query path): a notification
// that lands between run()'s predicate check and its wait is lost, and the writer then wakes
// at its computed time as before; the flag makes any later wake-up see the request.
void QueryLogWriter::nudge() {
  nudged_.store(true, std::memory_order_release);
  wake_cv_.notify_one();
}

void QueryLogWriter::start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void QueryLogWriter::stop() {
  if (!started_ || !thread_.joinable()) return;
  {
    std::lock_guard lock(wake_mu_);
    stop_requested_ = true;
  }
  wake_cv_.notify_all();
  thread_.join();
}

void QueryLogWriter::run() {
  std::chrono::microseconds wait = options_.wake_interval;
  auto last_pass = std::chrono::steady_clock::now();
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(wake_mu_);
      if (wait.count() > 0)
        wake_cv_.wait_for(lock, wait, [this] { return stop_requested_ || nudged_.load(std::memory_order_acquire); });
      nudged_.store(false, std::memory_order_relaxed);
      stopping = stop_requested_;
    }
    const auto pass = std::chrono::steady_clock::now();
    const size_t taken = drain_once();
    wait = next_wait(taken, pass - last_pass);
    last_pass = pass;
    maintain(now_us());
    if (stopping) {
      drain_once();  // whatever raced in while we were writing the last pass
      files_.clear();
      return;
    }
  }
}

// Sleeping a fixed interval caps what a ring can carry at capacity / interval (8192 records in
// 50 ms is 164k queries/s per loop): above that the ring fills while the writer sleeps and
// records are dropped although the disk keeps up. So the writer sleeps until the busiest ring
// would be about a sixteenth full at the rate of the last pass, never longer than wake_interval,
// and polls again at once when that is under 100 µs; the rest of the ring absorbs bursts and
// stalls of the disk. A sixteenth, not a quarter: where the writer shares a core with a loop
// (bench/filter), each pass holds the loop off for its length; passes of 512 records instead of
// 2,048 are the same work in smaller pieces (the p99 gain they showed in two runs did not repeat
// in a third: bench/filter/README.md).
std::chrono::microseconds QueryLogWriter::next_wait(size_t taken, std::chrono::steady_clock::duration since) const {
  const std::chrono::microseconds longest = options_.wake_interval;
  if (taken == 0 || rings_.empty()) return longest;
  const double us = std::max<double>(1, static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(since).count()));
  const double target = static_cast<double>(rings_.front()->capacity()) / 16;
  const auto wait = std::chrono::microseconds(static_cast<int64_t>(target * us / static_cast<double>(taken)));
  if (wait < std::chrono::microseconds(100)) return std::chrono::microseconds(0);
  return std::min(wait, longest);
}

size_t QueryLogWriter::drain_once() {
  size_t busiest = 0;
  for (auto& ring : rings_) {
    // At most one ring's worth per pass, so a producer that never stops cannot starve the others.
    size_t taken = 0;
    while (taken < ring->capacity()) {
      const size_t n = ring->consume(kBatch, [this](std::span<const QueryRecord> records) { process(records); });
      if (n == 0) break;
      taken += n;
      write_pending();
    }
    busiest = std::max(busiest, taken);
  }
  return busiest;
}

void QueryLogWriter::process(std::span<const QueryRecord> records) {
  std::lock_guard lock(stats_mu_);
  records_processed_.fetch_add(records.size(), std::memory_order_relaxed);
  std::string scratch;
  for (const QueryRecord& r : records) {
    if (TenantAccumulator* acc = accumulator_for(r.tenant); acc && acc->add(r)) {
      device_limit_crossings_.fetch_add(1, std::memory_order_relaxed);
      const uint32_t max = r.tenant < max_devices_.size() ? max_devices_[r.tenant] : 0;
      log::warning("querylog", "tenant has more devices than max_devices",
                   {{"tenant", tenant_id_for(r.tenant)},
                    {"devices", static_cast<uint64_t>(acc->active_devices())},
                    {"max_devices", max}});
    }
    if (r.log_mode == LogMode::none) {
      records_not_logged_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!options_.write_files) continue;
    const int64_t day = utc_day(r.time_us);
    if (!pending_current_ || day != pending_day_) {
      auto& slot = pending_[day];
      if (!slot) slot = std::make_unique<Pending>();
      pending_day_ = day;
      pending_current_ = slot.get();
    }
    append_frame(pending_current_->frames, r, tenant_id_view(r.tenant, scratch), registry_for(r.generation));
    ++pending_current_->records;
  }
}

void QueryLogWriter::write_pending() {
  if (pending_.empty()) return;
  const int64_t newest = pending_.rbegin()->first;
  for (auto& [day, pending] : pending_) {
    if (pending->records > 0) write_day(day, *pending);
    // Emptied, not freed: the next batch reuses the buffer instead of regrowing it.
    pending->frames.clear();
    pending->records = 0;
  }
  std::erase_if(pending_, [newest](const auto& kv) { return kv.first < newest - 1; });
  pending_current_ = nullptr;
  close_old_files(newest);
}

bool QueryLogWriter::write_day(int64_t day, Pending& pending) {
  std::string failed_path;
  int open_err = 0;
  OpenFile* file = open_day(day, failed_path, open_err);
  if (!file) {
    records_dropped_io_.fetch_add(pending.records, std::memory_order_relaxed);
    if (open_err != 0) report_io_error(failed_path, open_err);  // 0: still backing off
    return false;
  }
  const char* data = pending.frames.data();
  const size_t size = pending.frames.size();
  size_t done = 0;
  int err = 0;
  while (done < size) {
    const ssize_t n = ::write(file->fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (done == size) {
    file->size += size;
    records_written_.fetch_add(pending.records, std::memory_order_relaxed);
    if (in_error_) {
      in_error_ = false;
      log::info("querylog", "query log writable again",
                {{"path", file->path}, {"dropped_io_total", records_dropped_io_.load()}});
    }
    return true;
  }
  // Keep whole frames only (a full disk): readers would skip a cut one, but appending after it
  // would make them step over it byte by byte.
  uint64_t kept = 0;
  const size_t keep = whole_frames(data, done, kept);
  if (::ftruncate(file->fd, static_cast<off_t>(file->size + keep)) != 0) {
    // Cannot repair the tail: readers skip the cut frame (its size or CRC fails), and the file
    // is reopened below, which cuts it off (open_day) before anything more is appended.
  }
  records_written_.fetch_add(kept, std::memory_order_relaxed);
  records_dropped_io_.fetch_add(pending.records - kept, std::memory_order_relaxed);
  const std::string path = file->path;
  files_.erase(day);  // reopened (at most once per second) on the next batch
  next_open_attempt_ = std::chrono::steady_clock::now() + kOpenRetry;
  report_io_error(path, err);
  return false;
}

QueryLogWriter::OpenFile* QueryLogWriter::open_day(int64_t day, std::string& failed_path, int& err) {
  if (auto it = files_.find(day); it != files_.end()) return it->second.get();
  const auto now = std::chrono::steady_clock::now();
  if (now < next_open_attempt_) return nullptr;
  const std::string path = options_.directory + "/" + log_file_name(day);
  if (err = make_directories(options_.directory); err != 0) {
    next_open_attempt_ = now + kOpenRetry;
    failed_path = options_.directory;
    return nullptr;
  }
  // Read as well as written: an existing file's header is checked before appending (prepare_file).
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    err = errno;
    next_open_attempt_ = now + kOpenRetry;
    failed_path = path;
    return nullptr;
  }
  auto file = std::make_unique<OpenFile>();
  file->fd = fd;
  file->path = path;
  if (err = prepare_file(*file); err != 0) {
    next_open_attempt_ = now + kOpenRetry;
    failed_path = path;
    return nullptr;
  }
  return files_.emplace(day, std::move(file)).first->second.get();
}

// A new file gets its header; an existing one is checked: a torn tail (a crash during a write)
// is cut off so that what we append starts on a frame boundary, and a file that is not ours in
// this format (another version, damage at its start) is moved aside, never appended to.
int QueryLogWriter::prepare_file(OpenFile& file) {
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return errno;
  file.size = static_cast<uint64_t>(st.st_size);
  if (file.size > 0) {
    uint8_t header[kLogHeaderSize] = {};
    const bool whole = file.size >= kLogHeaderSize && ::pread(file.fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header);
    if (const std::string why = whole ? check_log_header(header) : "shorter than its header"; !why.empty()) {
      const std::string aside = file.path + ".unreadable";
      log::warning("querylog", "query-log file cannot be appended to; moved aside",
                   {{"path", file.path}, {"moved_to", aside}, {"reason", why}});
      if (::rename(file.path.c_str(), aside.c_str()) != 0) return errno;
      ::close(file.fd);
      file.fd = ::open(file.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (file.fd < 0) return errno;
      file.size = 0;
    } else if (const uint64_t end = valid_log_end(file.path); end < file.size) {
      log::warning("querylog", "query-log file ended in a torn record; cut off",
                   {{"path", file.path}, {"bytes", file.size - end}});
      if (::ftruncate(file.fd, static_cast<off_t>(end)) != 0) return errno;
      file.size = end;
    }
  }
  if (file.size == 0) {
    uint8_t header[kLogHeaderSize];
    write_log_header(header);
    if (::write(file.fd, header, sizeof header) != static_cast<ssize_t>(sizeof header)) {
      const int e = errno != 0 ? errno : EIO;
      if (::ftruncate(file.fd, 0) != 0) {
        // The next open finds a short header and moves the file aside.
      }
      return e;
    }
    file.size = sizeof header;
  }
  return 0;
}

void QueryLogWriter::close_old_files(int64_t newest_day) {
  // Yesterday's file stays open: around midnight UTC the loops' records interleave both dates.
  std::erase_if(files_, [newest_day](const auto& kv) { return kv.first < newest_day - 1; });
}

void QueryLogWriter::report_io_error(const std::string& path, int err) {
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  ++errors_since_log_;
  in_error_ = true;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_error_log_) return;
  next_error_log_ = now + kErrorLogInterval;
  log::error("querylog", "cannot write query log, records dropped",
             {{"path", path},
              {"error", std::strerror(err)},
              {"errors", errors_since_log_},
              {"dropped_io_total", records_dropped_io_.load()}});
  errors_since_log_ = 0;
}

void QueryLogWriter::maintain(int64_t now) {
  const int64_t today = utc_day(now);
  if (options_.write_files && options_.retention_days > 0 && today != last_retention_day_) {
    last_retention_day_ = today;
    apply_retention(today);
  }
  const int64_t now_s = now / 1000000;
  if (now_s - last_device_expiry_s_ >= kDeviceExpiryEvery_s || now_s < last_device_expiry_s_) {
    last_device_expiry_s_ = now_s;
    std::lock_guard lock(stats_mu_);
    for (auto& [id, acc] : by_id_) acc->expire_devices(now_s);
  }
}

void QueryLogWriter::apply_retention(int64_t today) {
  DIR* dir = ::opendir(options_.directory.c_str());
  if (!dir) return;  // nothing written yet; open_day reports directory problems
  std::vector<std::pair<int64_t, std::string>> doomed;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    // Files of both formats: a day written before the upgrade is still a day of the log.
    auto day = log_file_day(name, kLogFileSuffix);
    if (!day) day = log_file_day(name, kLegacyFileSuffix);
    // A file dated d holds records up to the end of day d: all older than retention_days
    // exactly when d < today - retention_days.
    if (day && *day < today - static_cast<int64_t>(options_.retention_days))
      doomed.emplace_back(*day, std::string(name));
  }
  ::closedir(dir);
  for (const auto& [day, name] : doomed) {
    files_.erase(day);  // both formats of a day are deleted: erasing twice is harmless
    const std::string path = options_.directory + "/" + name;
    if (::unlink(path.c_str()) == 0) {
      files_deleted_.fetch_add(1, std::memory_order_relaxed);
    } else {
      log::warning("querylog", "cannot delete expired query log",
                   {{"path", path}, {"error", std::strerror(errno)}});
    }
  }
}

// ---- tenants and statistics (stats_mu_ held by the caller unless noted) -----------------------

std::string QueryLogWriter::tenant_id_for(uint16_t tenant) const {
  std::string scratch;
  return std::string(tenant_id_view(tenant, scratch));
}

void QueryLogWriter::add_category_registry(uint64_t generation, std::shared_ptr<const policy::CategoryRegistry> registry) {
  std::lock_guard lock(stats_mu_);
  if (!registries_.empty() && registries_.back().second->same_as(*registry)) return;
  registries_.emplace_back(static_cast<uint32_t>(generation), std::move(registry));
}

const policy::CategoryRegistry& QueryLogWriter::registry_for(uint32_t generation) const {
  if (registries_.empty()) return policy::CategoryRegistry::builtins();
  // Almost always the newest; a reload that changed the categories leaves a few records of the
  // previous generation behind.
  if (generation == 0 || generation >= registries_.back().first) return *registries_.back().second;
  auto it = std::upper_bound(registries_.begin(), registries_.end(), generation,
                             [](uint32_t g, const auto& entry) { return g < entry.first; });
  return it == registries_.begin() ? *it->second : *std::prev(it)->second;
}

std::string_view QueryLogWriter::tenant_id_view(uint16_t tenant, std::string& scratch) const {
  if (tenant == kNoTenant) return {};
  if (tenant < tenant_ids_.size()) return tenant_ids_[tenant];
  scratch = "#" + std::to_string(tenant);  // index beyond the table: a producer bug or a reload race
  return scratch;
}

TenantAccumulator* QueryLogWriter::accumulator_for(uint16_t tenant) {
  if (tenant == kNoTenant) return nullptr;
  if (tenant < by_index_.size() && by_index_[tenant]) return by_index_[tenant];
  const std::string id = tenant_id_for(tenant);
  auto& slot = by_id_[id];
  if (!slot) {
    slot = std::make_unique<TenantAccumulator>(id, options_.stats);
    if (tenant < max_devices_.size()) slot->set_max_devices(max_devices_[tenant]);
  }
  if (tenant < by_index_.size()) by_index_[tenant] = slot.get();
  return slot.get();
}

void QueryLogWriter::set_tenant_names(std::vector<std::string> ids, std::vector<uint32_t> max_devices) {
  max_devices.resize(ids.size(), 0);
  std::lock_guard lock(stats_mu_);
  std::unordered_map<std::string, std::unique_ptr<TenantAccumulator>> kept;
  std::vector<TenantAccumulator*> index(ids.size(), nullptr);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto it = kept.find(ids[i]); it != kept.end()) {
      index[i] = it->second.get();
      continue;
    }
    if (auto node = by_id_.extract(ids[i])) {
      node.mapped()->set_max_devices(max_devices[i]);
      index[i] = node.mapped().get();
      kept.insert(std::move(node));
    }
  }
  by_id_ = std::move(kept);
  by_index_ = std::move(index);
  tenant_ids_ = std::move(ids);
  max_devices_ = std::move(max_devices);
}

TenantStats QueryLogWriter::stats(uint16_t tenant) const {
  const int64_t now_s = now_us() / 1000000;
  std::lock_guard lock(stats_mu_);
  if (tenant < by_index_.size() && by_index_[tenant]) return by_index_[tenant]->snapshot(now_s);
  const std::string id = tenant_id_for(tenant);
  if (auto it = by_id_.find(id); it != by_id_.end()) return it->second->snapshot(now_s);
  TenantAccumulator empty(id, options_.stats);
  if (tenant < max_devices_.size()) empty.set_max_devices(max_devices_[tenant]);
  return empty.snapshot(now_s);
}

std::optional<TenantStats> QueryLogWriter::stats_by_id(std::string_view tenant_id) const {
  const int64_t now_s = now_us() / 1000000;
  std::lock_guard lock(stats_mu_);
  if (auto it = by_id_.find(std::string(tenant_id)); it != by_id_.end())
    return it->second->snapshot(now_s);
  return std::nullopt;
}

std::vector<TenantStats> QueryLogWriter::all_stats() const {
  size_t n;
  {
    std::lock_guard lock(stats_mu_);
    n = tenant_ids_.size();
  }
  std::vector<TenantStats> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(stats(static_cast<uint16_t>(i)));
  return out;
}

uint64_t QueryLogWriter::active_devices(uint16_t tenant) const {
  std::lock_guard lock(stats_mu_);
  if (tenant < by_index_.size() && by_index_[tenant]) return by_index_[tenant]->active_devices();
  return 0;
}

QueryLogWriter::Counters QueryLogWriter::counters() const {
  Counters c;
  c.records_written = records_written_.load(std::memory_order_relaxed);
  for (const auto& ring : rings_) c.records_dropped_ring += ring->dropped();
  c.records_dropped_io = records_dropped_io_.load(std::memory_order_relaxed);
  c.records_not_logged = records_not_logged_.load(std::memory_order_relaxed);
  c.records_processed = records_processed_.load(std::memory_order_relaxed);
  c.write_errors = write_errors_.load(std::memory_order_relaxed);
  c.device_limit_crossings = device_limit_crossings_.load(std::memory_order_relaxed);
  c.files_deleted = files_deleted_.load(std::memory_order_relaxed);
  return c;
}

int64_t QueryLogWriter::now_us() const {
  if (options_.now_us) return options_.now_us();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sekisho::querylog
