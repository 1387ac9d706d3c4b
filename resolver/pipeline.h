// The stages every query goes through, whatever transport brought it. Read pipeline.cc to
// follow one query from bytes to answer; transports (net/udp.cc, net/tcp.cc) only unwrap
// framing and hand the bytes here.
#pragma once

#include <cstdint>
#include <span>

#include "resolver/query_context.h"
#include "resolver/upstream/forwarder.h"

namespace sekisho::resolver {

class Worker;

enum class Step {
  answered,  // `out` holds the answer, `out_len` its length: send it now
  dropped,   // say nothing
  pending,   // waiting for an upstream; the answer goes out later through deliver()
};

// Synchronous part of a query: decode → (identify → decide: the policy stages slot in here)
// → lookup_cache → forward. Never throws; allocates nothing on a cache hit.
Step run_query(Worker& w, std::span<const uint8_t> msg, const Origin& origin, std::span<uint8_t> out, size_t& out_len);

// Asynchronous end of a query that waited for an upstream: answer every waiter, from the
// fresh answer, or from a stale cache entry (RFC 8767, EDE 3), or SERVFAIL with EDE 22/23.
void answer_waiters(Worker& w, QueryContext* waiters, const upstream::Resolution& resolution);

}  // namespace sekisho::resolver
