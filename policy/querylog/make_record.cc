#include "policy/querylog/make_record.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sekisho::querylog {

void set_client(QueryRecord& r, const net::SocketAddress& client) noexcept {
  if (client.family() == AF_INET) {
    uint8_t a[4];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in*>(client.get())->sin_addr, 4);
    set_client_v4(r, a);
  } else if (client.family() == AF_INET6) {
    uint8_t a[16];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in6*>(client.get())->sin6_addr, 16);
    set_client_v6(r, a);
  }
}

QueryRecord make_record(const QueryFacts& f) noexcept {
  QueryRecord r;
  r.time_us = f.answered_us;
  r.latency_us = static_cast<uint32_t>(std::min<uint64_t>(f.latency_us, UINT32_MAX));
  r.tenant = f.tenant;
  r.generation = f.generation;
  r.qtype = f.qtype;
  r.rcode = f.answer.size() >= 4 ? (f.answer[3] & 0x0F) : 0;
  r.transport = f.transport;
  if (!f.device.empty()) set_text(r.device, f.device);
  r.action = f.action;
  r.log_mode = f.log_mode;
  if (f.client) set_client(r, *f.client);
  set_qname(r, f.qname);
  if (const policy::Verdict* v = f.verdict; v && v->rule != RuleKind::none) {
    r.categories = v->categories;
    if (v->category < policy::kMaxCategories) r.categories.add(static_cast<uint8_t>(v->category));
    r.rule = v->rule;
    if (v->list_entry) set_text(r.rule_text, *v->list_entry);
    if (v->schedule) set_text(r.rule_text, v->schedule->description);
  }
  return r;
}

}  // namespace sekisho::querylog
