#include "resolver/cache/read_epoch.h"

#include <algorithm>

namespace sekisho::cache::read_epoch {
namespace {

// One line per reader so that entering and leaving never touch another thread's line.
struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> epoch{0};  // 0: outside every section
  std::atomic<bool> claimed{false};
};

ReaderSlot g_readers[kMaxReaders];
std::atomic<unsigned> g_readers_used{0};  // slots below this were claimed at some point: the scan bound
std::atomic<uint64_t> g_epoch{1};

int claim_slot() noexcept {
  for (unsigned i = 0; i < kMaxReaders; ++i) {
    bool expected = false;
    if (g_readers[i].claimed.load(std::memory_order_relaxed) ||
        !g_readers[i].claimed.compare_exchange_strong(expected, true))
      continue;
    unsigned used = g_readers_used.load();
    while (used < i + 1 && !g_readers_used.compare_exchange_weak(used, i + 1)) {
    }
    return static_cast<int>(i);
  }
  return -1;
}

struct ThreadReader {
  int slot = -2;  // -2: not claimed yet; -1: none was free
  unsigned depth = 0;
  ~ThreadReader() {
    if (slot < 0) return;
    g_readers[slot].epoch.store(0, std::memory_order_release);
    g_readers[slot].claimed.store(false, std::memory_order_release);
  }
};
thread_local ThreadReader t_reader;

}  // namespace

ReadSection::ReadSection() noexcept {
  ThreadReader& t = t_reader;
  if (t.slot == -2) t.slot = claim_slot();
  slot_ = t.slot;
  if (slot_ >= 0 && t.depth++ == 0) g_readers[slot_].epoch.store(g_epoch.load());
}

ReadSection::~ReadSection() {
  if (slot_ >= 0 && --t_reader.depth == 0) g_readers[slot_].epoch.store(0, std::memory_order_release);
}

RetireList::~RetireList() {
  for (const Item& it : items_) it.free_fn(it.p);
}

void RetireList::retire(void* p, void (*free_fn)(void*)) {
  // Readers that enter from now on publish a later epoch than this one and cannot reach p.
  const uint64_t epoch = g_epoch.fetch_add(1);
  items_.push_back(Item{epoch, p, free_fn});
}

size_t RetireList::reclaim() {
  if (items_.empty()) return 0;
  uint64_t oldest = UINT64_MAX;
  const unsigned used = g_readers_used.load();
  for (unsigned i = 0; i < used; ++i) {
    const uint64_t e = g_readers[i].epoch.load();
    if (e != 0) oldest = std::min(oldest, e);
  }
  // An item retired at epoch e may still be held by a reader that entered at e or before.
  std::erase_if(items_, [oldest](const Item& it) {
    if (it.epoch >= oldest) return false;
    it.free_fn(it.p);
    return true;
  });
  return items_.size();
}

uint64_t current_thread_epoch() noexcept {
  const ThreadReader& t = t_reader;
  return t.slot >= 0 ? g_readers[t.slot].epoch.load(std::memory_order_relaxed) : 0;
}

}  // namespace sekisho::cache::read_epoch
