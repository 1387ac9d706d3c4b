// What clients and tenants hold across every loop: a tenant's query quota and the queries of a
// client and of a tenant waiting on upstreams (README "Rate limits and quotas"). The caps on
// waiting queries keep a random-subdomain flood from one client or tenant from taking the
// upstream sockets, the waiting-query pool and the upstreams' capacity from the others.
//
// Shared by the loops, so atomics; but touched only by cache misses (the waiting counts, which
// also take the in-flight registry's shard lock) and by queries of tenants with a quota (one
// compare-and-swap on that tenant's own cache line).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace sekisho::resolver::limits {

// Per tenant of one configuration (a Runtime makes one, sized by its tenants; queries parked
// under an older one release into it, which they keep alive).
class TenantUsage {
 public:
  explicit TenantUsage(size_t tenants) : counters_(new Counters[tenants]), size_(tenants) {}

  // One query of `tenant` at `now_ns` under `qps` per second (burst: one second's worth).
  bool admit_query(size_t tenant, uint32_t qps, uint64_t now_ns);
  // One more query of `tenant` waiting on upstreams, unless `cap` (> 0) wait already; release()
  // each one acquired (cap 0 counts too, so a reload that sets a cap starts from the truth).
  bool acquire_upstream(size_t tenant, uint32_t cap);
  void release_upstream(size_t tenant);
  uint32_t upstream_waiting(size_t tenant) const;

 private:
  struct alignas(64) Counters {  // a line each: loops serving different tenants share nothing
    std::atomic<uint64_t> quota_tat{0};
    std::atomic<uint32_t> waiting{0};
  };
  std::unique_ptr<Counters[]> counters_;
  size_t size_;
};

// Queries waiting on upstreams per client (an IPv4 address, an IPv6 /64, as
// net::PerAddressLimit counts connections), engine-wide. Counting buckets chosen by the keyed
// hash of the client: no allocation, no lock, no entries to expire. Two clients may share a
// bucket (a client cannot choose whom: the hash is keyed per process), and then share its cap;
// with 65,536 buckets that is rare among the clients with queries waiting at one moment.
class ClientUpstreamCounts {
 public:
  static constexpr uint32_t kSlots = 65536;
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  ClientUpstreamCounts() : counts_(new std::atomic<uint32_t>[kSlots]()) {}

  uint32_t slot_of(const sockaddr* peer) const;
  bool acquire(uint32_t slot, uint32_t cap);  // as TenantUsage::acquire_upstream
  void release(uint32_t slot);
  uint32_t waiting(uint32_t slot) const { return counts_[slot].load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<std::atomic<uint32_t>[]> counts_;
};

}  // namespace sekisho::resolver::limits
