// HTTP requests and responses as the services built on the HTTP server see them (DoH, the
// admin API, the block page). Transport details (HTTP/1.1 or HTTP/2, TLS or not) stay in the
// server; a handler sees one complete request and produces one complete response.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/address.h"

namespace sekisho::net::http {

struct Header {
  std::string name;   // lower-case, as HTTP/2 requires and HTTP/1.1 allows
  std::string value;
};

struct Request {
  std::string method;       // "GET", "POST", …
  std::string path;         // target up to '?', percent-encoding left as sent
  std::string query;        // after '?', without it; empty when absent
  std::vector<Header> headers;
  std::string body;
  SocketAddress peer;       // the client
  SocketAddress local;      // the address it connected to (intercept: which tenant address)
  std::string server_name;  // TLS SNI, lower-case; empty without TLS or SNI
  bool tls = false;
  int version = 11;         // 11 = HTTP/1.1, 20 = HTTP/2

  // First header with that (lower-case) name, or empty.
  std::string_view header(std::string_view name) const {
    for (const auto& h : headers)
      if (h.name == name) return h.value;
    return {};
  }
  // Value of `key` in the query string (no percent-decoding), or empty.
  std::string_view query_param(std::string_view key) const {
    std::string_view q = query;
    while (!q.empty()) {
      size_t amp = q.find('&');
      std::string_view part = q.substr(0, amp);
      size_t eq = part.find('=');
      if (part.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    return {};
  }
};

struct Response {
  int status = 200;
  std::vector<Header> headers;  // the server adds content-length (and date, server)
  std::string body;

  Response& set(std::string name, std::string value) {
    for (auto& h : headers)
      if (h.name == name) {
        h.value = std::move(value);
        return *this;
      }
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

}  // namespace sekisho::net::http
