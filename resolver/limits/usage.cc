#include "resolver/limits/usage.h"

#include <cstring>

#include "base/keyed_hash.h"
#include "dns/edns.h"
#include "resolver/limits/gcra.h"

namespace sekisho::resolver::limits {
namespace {

// Adds one to `count` unless `cap` (> 0) are counted already.
bool acquire_counted(std::atomic<uint32_t>& count, uint32_t cap) {
  const uint32_t before = count.fetch_add(1, std::memory_order_relaxed);
  if (cap == 0 || before < cap) return true;
  count.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

}  // namespace

bool TenantUsage::admit_query(size_t tenant, uint32_t qps, uint64_t now_ns) {
  if (qps == 0 || tenant >= size_) return true;
  return gcra_admit(counters_[tenant].quota_tat, now_ns, qps);
}

bool TenantUsage::acquire_upstream(size_t tenant, uint32_t cap) {
  return tenant >= size_ || acquire_counted(counters_[tenant].waiting, cap);
}

void TenantUsage::release_upstream(size_t tenant) {
  if (tenant < size_) counters_[tenant].waiting.fetch_sub(1, std::memory_order_relaxed);
}

uint32_t TenantUsage::upstream_waiting(size_t tenant) const {
  return tenant < size_ ? counters_[tenant].waiting.load(std::memory_order_relaxed) : 0;
}

uint32_t ClientUpstreamCounts::slot_of(const sockaddr* peer) const {
  const dns::ClientSubnet client = dns::client_subnet_of(peer, 32, 64);
  uint8_t material[2 + sizeof client.address];
  material[0] = client.family;
  material[1] = client.source_prefix;
  std::memcpy(material + 2, client.address, client.address_bytes());
  return static_cast<uint32_t>(base::keyed_hash(material, 2 + client.address_bytes()) % kSlots);
}

bool ClientUpstreamCounts::acquire(uint32_t slot, uint32_t cap) { return acquire_counted(counts_[slot], cap); }

void ClientUpstreamCounts::release(uint32_t slot) { counts_[slot].fetch_sub(1, std::memory_order_relaxed); }

}  // namespace sekisho::resolver::limits
