#include "net/http/session.h"

#include "base/log.h"
#include "net/http/connection.h"

namespace sekisho::net::http {

const Limits& Session::limits() const { return conn_.shared().limits; }
Counters& Session::counters() { return conn_.shared().counters; }

void Session::dispatch(const std::shared_ptr<ExchangeImpl>& ex, int refuse) {
  conn_.fill_origin(ex->req);
  ++requests_;
  ++counters().requests;
  conn_.touch();
  if (refuse) {
    ex->respond(error_response(refuse, refuse == 413 ? "request body too large" : "request headers too large"));
    return;
  }
  try {
    conn_.shared().handler(ex);
  } catch (const std::exception& e) {
    log::error("http", "handler failed", {{"path", ex->req.path}, {"error", e.what()}});
    ex->respond(error_response(500, "internal error"));
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

Response error_response(int status, std::string_view reason) {
  Response r;
  r.status = status;
  r.set("content-type", "text/plain; charset=utf-8");
  r.body.assign(reason);
  r.body += '\n';
  return r;
}

bool unsafe_header(const Header& h) {
  if (h.name.empty() || h.name == "content-length" || h.name == "connection" || h.name == "transfer-encoding")
    return true;
  auto bad = [](const std::string& s) { return s.find_first_of("\r\n", 0) != std::string::npos || s.find('\0') != std::string::npos; };
  return bad(h.name) || bad(h.value);
}

bool body_allowed(const Request& req, int status) {
  return req.method != "HEAD" && status != 204 && status != 304 && !(status >= 100 && status < 200);
}

}  // namespace sekisho::net::http
