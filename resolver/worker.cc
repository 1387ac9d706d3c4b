#include "resolver/worker.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "resolver/transport/doh.h"
#include "net/http/server.h"
#include "resolver/transport/tcp.h"
#include "resolver/transport/udp.h"
#include "resolver/pipeline.h"
#include "resolver/engine.h"

namespace sekisho::resolver {
namespace {
// Queries parked for an upstream per loop: at ~1 KiB each this caps the memory a flood of
// unanswerable queries can take, while far exceeding what a healthy upstream keeps in flight.
constexpr size_t kMaxWaitingQueries = 65536;
constexpr uint64_t kHeartbeatMs = 250;
}  // namespace

Worker::Worker(Engine& engine, unsigned index)
    : engine_(engine), index_(index), pool_(kMaxWaitingQueries),
      forwarder_(&loop_, index, engine.cache(), engine.inflight_registry(), *this),
      scratch_(65535) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wakeup_, [](uv_async_t* a) {
    auto* w = static_cast<Worker*>(a->data);
    w->take_announcements();
    if (w->drain_requested_.load() && !w->draining_) w->begin_drain();
  });
  wakeup_.data = this;
  uv_timer_init(&loop_, &heartbeat_);
  heartbeat_.data = this;
  runtime_ = engine.runtime_if_changed(runtime_generation_);
  if (policy::CategoryStore* store = engine.category_store()) {
    reader_ = std::make_unique<policy::CategoryReader>(*store);
    if (const uint32_t memo = engine.startup_settings().cache.category_memo) reader_->enable_memo(memo);
  }
}

Worker::~Worker() {
  // A loop that never ran (start-up failed after the loops were made: a listen address in use,
  // the admin service failing to bind) still holds its handles. uv_loop_close() then refuses
  // (UV_EBUSY) and the loop's own allocations leak (LeakSanitizer found them at every failed
  // start). Close what is still open and let the loop finish the closes before their owners
  // below are freed. After a normal run nothing is open and this returns at once.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  udp_.clear();
  tcp_.clear();
  doh_.reset();
  reader_.reset();
  uv_loop_close(&loop_);
}

cache::Cache& Worker::cache() { return engine_.cache(); }
limits::ClientUpstreamCounts& Worker::client_upstream() { return engine_.client_upstream(); }

void Worker::add_udp_socket(int fd) { udp_.push_back(std::make_unique<UdpListener>(*this, fd)); }
void Worker::add_tcp_socket(int fd) { tcp_.push_back(std::make_unique<TcpListener>(*this, fd, Transport::tcp)); }
void Worker::add_dot_socket(int fd) { tcp_.push_back(std::make_unique<TcpListener>(*this, fd, Transport::dot)); }

void Worker::add_doh_socket(int fd) {
  if (!doh_) {
    net::http::Limits limits = doh_limits(runtime_->settings);
    // One count per client with its TCP and DoT connections, across every loop.
    if (limits.max_per_address != 0) limits.per_address = &engine_.connections_per_address();
    limits.on_refused_per_address = [this] { ++counters_.doh_closed_per_address; };
    doh_ = std::make_unique<net::http::Server>(&loop_, [this](std::shared_ptr<net::http::Exchange> ex) {
      handle_doh(*this, std::move(ex));
    }, std::move(limits));
  }
  std::string error;
  if (!doh_->listen_fd(fd, &engine_.tls(), error)) log::error("doh", "listen failed", {{"error", error}});
}

uint32_t Worker::park_doh(std::shared_ptr<net::http::Exchange> exchange, uint32_t& serial) {
  uint32_t slot;
  if (doh_free_.empty()) {
    slot = static_cast<uint32_t>(doh_waiting_.size());
    doh_waiting_.emplace_back();
  } else {
    slot = doh_free_.back();
    doh_free_.pop_back();
  }
  serial = ++doh_serial_;
  doh_waiting_[slot] = DohWaiting{std::move(exchange), serial};
  return slot;
}

std::shared_ptr<net::http::Exchange> Worker::take_doh(uint32_t slot, uint32_t serial) {
  if (slot >= doh_waiting_.size() || doh_waiting_[slot].serial != serial || !doh_waiting_[slot].exchange) return nullptr;
  std::shared_ptr<net::http::Exchange> ex = std::move(doh_waiting_[slot].exchange);
  doh_waiting_[slot].serial = 0;
  doh_free_.push_back(slot);
  return ex;
}

void Worker::start() {
  heartbeat_ms_.store(monotonic_ms());
  uv_timer_start(&heartbeat_, [](uv_timer_t* t) {
    auto* w = static_cast<Worker*>(t->data);
    w->heartbeat_ms_.store(monotonic_ms(), std::memory_order_relaxed);
    w->refresh_runtime();
    if (w->draining_) w->check_drained();
  }, kHeartbeatMs, kHeartbeatMs);
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Worker::request_drain() {
  drain_requested_.store(true);
  uv_async_send(&wakeup_);
}

void Worker::refresh_runtime() {
  if (auto fresh = engine_.runtime_if_changed(runtime_generation_)) runtime_ = std::move(fresh);
}

void Worker::begin_batch() {
  if (batch_depth_++ > 0) return;
  batch_clock_ = ClockReading::now();
  cache_section_.emplace();
  refresh_runtime();
  if (reader_ && !reader_->begin_batch()) ++counters_.store_unavailable;
}

void Worker::end_batch() {
  if (--batch_depth_ > 0) return;
  if (reader_ && reader_->in_batch()) reader_->end_batch();
  if (const policy::NameMemo* memo = reader_ ? reader_->memo() : nullptr) {
    counters_.category_memo_hits = memo->hits();
    counters_.category_memo_misses = memo->misses();
  }
  cache_section_.reset();
}

void Worker::begin_drain() {
  draining_ = true;
  drain_deadline_ms_ = monotonic_ms() + runtime_->settings.server.drain_timeout_ms;
  for (auto& u : udp_) u->stop_reading();  // sockets stay open: parked queries answer through them
  for (auto& t : tcp_) t->close();
  if (doh_) {
    doh_->stop_accepting();
    doh_->close_idle();
  }
  // Idle connections close now; busy ones close when their last answer is out.
  std::vector<TcpConnection*> idle = connections_;
  for (TcpConnection* c : idle) c->query_finished_if_idle();
  check_drained();
}

void Worker::check_drained() {
  if (closed_) return;  // abandoning the waiting queries answers them, which calls back here
  const bool done = forwarder_.in_flight() == 0 && pool_.in_use() == 0;
  if (!done && monotonic_ms() < drain_deadline_ms_) return;
  closed_ = true;
  if (!done) {
    log::warning("worker", "drain timeout, answering queries still waiting with SERVFAIL",
                 {{"worker", index_}, {"waiting", pool_.in_use()}});
    // While the client sockets are still open, so that the clients hear it at once and can ask
    // another server, and every exchange closes through its own callbacks (nothing leaks).
    forwarder_.abandon_all("server shutting down");
  }
  close_everything();
}

void Worker::close_everything() {
  for (auto& u : udp_) u->close();
  std::vector<TcpConnection*> open = connections_;
  for (TcpConnection* c : open) c->close();
  if (doh_) doh_->close();
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_open_ = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_), nullptr);
}

void Worker::deliver(const QueryContext& ctx, std::span<const uint8_t> answer) {
  const Origin& o = ctx.query.origin;
  if (o.transport == Transport::udp) {
    if (!answer.empty() && !send_udp_answer(o.udp_fd, answer, o.peer, o.destination))
      ++counters_.udp_send_errors;
    return;
  }
  if (o.transport == Transport::doh) {
    // The HTTP/2 stream or connection may be gone: the exchange then ignores the answer.
    if (auto ex = take_doh(o.doh_slot, o.doh_serial)) respond_doh(*this, *ex, answer);
    return;
  }
  if (!answer.empty()) o.connection->send_answer(answer);
  o.connection->query_finished();
}

void Worker::on_resolved(QueryContext* waiters, const upstream::Resolution& resolution) {
  answer_waiters(*this, waiters, resolution);
  if (draining_) check_drained();
}

void Worker::announce(uint64_t loops, const cache::CacheKey& key, const upstream::Resolution& resolution) {
  Announcement a;
  a.key = key;
  if (resolution.answer) a.answer = std::make_shared<const cache::CachedAnswer>(*resolution.answer);
  a.failure = resolution.failure;
  a.failure_text = std::string(resolution.failure_text);
  engine_.announce(loops, a);
}

void Worker::post(Announcement&& announcement) {
  std::lock_guard lock(inbox_mutex_);
  if (!inbox_open_) return;  // this loop has stopped; nobody waits for the answer any more
  inbox_.push_back(std::move(announcement));
  uv_async_send(&wakeup_);
}

void Worker::post_task(std::function<void()> task) {
  std::lock_guard lock(inbox_mutex_);
  if (!inbox_open_) return;
  tasks_.push_back(std::move(task));
  uv_async_send(&wakeup_);
}

void Worker::take_announcements() {
  std::vector<Announcement> taken;
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(inbox_mutex_);
    taken.swap(inbox_);
    tasks.swap(tasks_);
  }
  for (const Announcement& a : taken)
    forwarder_.on_announcement(a.key, upstream::Resolution{a.answer.get(), a.failure, a.failure_text});
  for (auto& task : tasks) task();
  if (draining_) check_drained();
}

void Worker::connection_opened(TcpConnection* c) { connections_.push_back(c); }

void Worker::connection_closed(TcpConnection* c) {
  auto it = std::find(connections_.begin(), connections_.end(), c);
  if (it != connections_.end()) {
    *it = connections_.back();
    connections_.pop_back();
  }
}

}  // namespace sekisho::resolver
