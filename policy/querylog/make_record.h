// policy/querylog/make_record.h — the query-log record of one answered query, built from what
// the engine knows about it. The engine gathers the facts (resolver/pipeline.cc, finish); how
// they become a record (which verdicts carry a rule, how a client address is kept) is decided
// here, beside the record and its readers.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "net/address.h"
#include "policy/decide.h"
#include "policy/querylog/record.h"

namespace sekisho::querylog {

struct QueryFacts {
  int64_t answered_us = 0;       // wall clock when the answer left the pipeline, µs since the epoch
  uint64_t latency_us = 0;       // received → answered
  uint16_t tenant = kNoTenant;   // index into the tenant table the query was decided under
  uint32_t generation = 0;       // the Runtime generation that decided it: names its categories (writer.h)
  LogMode log_mode = LogMode::full;
  Transport transport = Transport::udp;
  QueryAction action = QueryAction::resolved;
  const net::SocketAddress* client = nullptr;  // the peer as the transport saw it
  std::string_view device;                     // the device a token named; empty when none
  std::span<const uint8_t> qname;              // the client's question, lowercase wire form
  uint16_t qtype = 0;
  std::span<const uint8_t> answer;             // as sent (its RCODE is logged); empty when none
  // What decided: its rule, categories and rule text are logged. Null (or rule none) for a plain
  // resolution: a name let through by the allow list logs no rule either.
  const policy::Verdict* verdict = nullptr;
};

// Allocation-free (it runs on the query path, once per logged query).
QueryRecord make_record(const QueryFacts& facts) noexcept;

// The client address, as given (an IPv4-mapped IPv6 peer stays IPv6).
void set_client(QueryRecord& r, const net::SocketAddress& client) noexcept;

}  // namespace sekisho::querylog
