// Epoch-based reclamation for the answer cache: readers take no lock and write nothing shared.
//
// A reader thread announces "I may hold cache entries" by publishing the current global epoch
// in its own cache line when it enters a read section, and "I hold none" when it leaves
// (sections nest; the event loops hold one per batch of queries, so a hit costs no atomic
// read-modify-write at all). A writer that unlinks an entry retires it with the epoch it
// bumped; the entry is freed once every reader is outside a section or entered one at a later
// epoch, i.e. once no reader can still see it. This is the scheme of Fraser's epoch-based
// reclamation and of Linux RCU's quiescent states, reduced to what one cache needs: the
// registry is process-wide, a thread's slot is claimed on its first section and released
// when the thread exits.
//
// Memory order: entering stores the slot with seq_cst after a seq_cst load of the epoch, and
// every pointer a reader follows is loaded seq_cst after that; the writer's unlink (seq_cst
// store), epoch bump and slot scan are seq_cst too. So a reader that the scan finds outside
// every section, or in one entered after the bump, cannot load the unlinked pointer.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace sekisho::cache::read_epoch {

// Reader threads that can be inside a section at once. A thread beyond this many reads under
// the writers' lock instead (ReadSection::lock_free() is false) — correct, only slower.
inline constexpr unsigned kMaxReaders = 256;

// RAII read section of the calling thread; cheap when nested inside another one.
class ReadSection {
 public:
  ReadSection() noexcept;
  ~ReadSection();
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;
  // False when the thread got no reader slot: the caller must then read under its writers' lock.
  bool lock_free() const noexcept { return slot_ >= 0; }

 private:
  int slot_;
};

// Things unlinked by writers and waiting until no reader can hold them. Not thread-safe:
// each owner keeps one per writers' lock (the cache: one per shard).
class RetireList {
 public:
  RetireList() = default;
  RetireList(const RetireList&) = delete;
  RetireList& operator=(const RetireList&) = delete;
  ~RetireList();  // frees everything: the owner guarantees no reader is left

  // Takes `p` (already unreachable for new readers) and frees it with `free_fn` when safe.
  void retire(void* p, void (*free_fn)(void*));
  // Frees what no reader can hold any more; returns how many are still waiting.
  size_t reclaim();
  size_t waiting() const { return items_.size(); }

 private:
  struct Item {
    uint64_t epoch;
    void* p;
    void (*free_fn)(void*);
  };
  std::vector<Item> items_;
};

// Tests: the epoch readers currently publish (0 = outside every section) for this thread.
uint64_t current_thread_epoch() noexcept;

}  // namespace sekisho::cache::read_epoch
