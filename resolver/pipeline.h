// The stages every query goes through, whatever transport brought it. Read run_query in
// pipeline.cc to follow one query from bytes to answer, by stage name (resolver/README.md
// numbers them); transports (transport/udp.cc, tcp.cc, doh.cc) only unwrap framing and hand
// the bytes here.
#pragma once

#include <cstdint>
#include <span>

#include "resolver/query_context.h"
#include "resolver/upstream/forwarder.h"

namespace sekisho::resolver {

class Worker;

// What a stage did with the query, and what run_query tells the transport.
enum class Step {
  next,      // a stage's: the next stage takes the query (run_query never returns it)
  answered,  // `out` holds the answer, `out_len` its length: send it now
  dropped,   // say nothing
  pending,   // waiting for an upstream; the answer goes out later through deliver()
};

// Synchronous part of a query: decode → identify → ddr → decide → lookup_cache → forward,
// each stage answering or passing the query on, and finish for every query answered here
// (latency, query-log record). Never throws; allocates nothing unless it forwards.
Step run_query(Worker& w, std::span<const uint8_t> msg, const Origin& origin, std::span<uint8_t> out, size_t& out_len);

// Asynchronous end of the queries that waited for an upstream: each is answered from the
// fresh answer, or from a stale cache entry (RFC 8767, EDE 3), or SERVFAIL with EDE 22/23,
// then goes through the same finish and out through Worker::deliver.
void answer_waiters(Worker& w, QueryContext* waiters, const upstream::Resolution& resolution);

}  // namespace sekisho::resolver
