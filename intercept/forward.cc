#include "intercept/forward.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "policy/domain_list.h"
#include "resolver/base/log.h"
#include "resolver/dns/wire.h"

namespace sekisho::intercept {

struct Forwarder::Job {
  std::shared_ptr<net::http::Exchange> exchange;
  net::http::Request request;  // copied on the loop thread
  std::string host;
  bool tls = false;
  net::http::Response response;
};

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

net::http::Response failure(int status, const std::string& why) {
  net::http::Response r;
  r.status = status;
  r.set("content-type", "text/plain; charset=utf-8");
  r.set("cache-control", "no-store");
  r.body = "sekisho-intercept: " + why + "\n";
  return r;
}

bool in_network(const config::NetworkSettings& n, int family, const uint8_t* addr) {
  if (n.family != family) return false;
  unsigned bits = n.prefix_length;
  for (unsigned i = 0; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((addr[i] & mask) != (n.address[i] & mask)) return false;
  }
  return true;
}

void set_timeouts(int fd, uint32_t ms) {
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A records of `host` from the upstreams over UDP (the origin is reached over IPv4).
std::vector<in_addr> resolve(const std::string& host, const ForwardOptions& o, std::string& why) {
  const std::string qname = policy::to_wire(host);
  for (const auto& up : o.upstreams) {
    uint16_t id;
    RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id);
    std::string q(12, '\0');
    q[0] = static_cast<char>(id >> 8), q[1] = static_cast<char>(id), q[2] = 0x01, q[5] = 1;  // RD, QDCOUNT 1
    q += qname;
    q += std::string("\0\x01\0\x01", 4);
    Fd s;
    s.fd = ::socket(up.address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) continue;
    set_timeouts(s.fd, std::min<uint32_t>(o.timeout_ms, 2000));
    if (::connect(s.fd, up.address.get(), up.address.length) != 0 || ::send(s.fd, q.data(), q.size(), 0) < 0) continue;
    uint8_t buf[4096];
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 12 || buf[0] != static_cast<uint8_t>(q[0]) || buf[1] != static_cast<uint8_t>(q[1])) {
      why = "no answer from " + up.address.to_string();
      continue;
    }
    std::span<const uint8_t> msg(buf, static_cast<size_t>(n));
    const uint16_t ancount = dns::read_u16(buf + 6);
    size_t pos = 12;
    dns::Question question;
    if (!dns::read_question(msg, pos, question)) continue;
    std::vector<in_addr> out;
    for (uint16_t i = 0; i < ancount; ++i) {
      dns::RecordView rr;
      if (!dns::walk_record(msg, pos, rr)) break;
      if (rr.type == 1 && rr.rdlength == 4) {  // A (the CNAME chain's final name's addresses)
        in_addr a;
        std::memcpy(&a, buf + rr.rdata_pos, 4);
        out.push_back(a);
      }
    }
    if (out.empty()) why = host + " has no IPv4 address";
    return out;
  }
  if (why.empty()) why = "no upstream answered for " + host;
  return {};
}

int connect_with_timeout(const in_addr& a, uint16_t port, uint32_t ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = a;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (::poll(&p, 1, static_cast<int>(ms)) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd, ms);
  return fd;
}

bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                             "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
    if (name == h) return true;
  return name.starts_with(':');  // HTTP/2 pseudo-headers
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Decodes a chunked body (RFC 9112 §7.1); false when malformed.
bool dechunk(std::string_view in, std::string& out) {
  size_t pos = 0;
  while (true) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    size_t size = 0;
    size_t i = pos;
    for (; i < eol && std::isxdigit(static_cast<unsigned char>(in[i])); ++i)
      size = size * 16 + static_cast<size_t>(std::isdigit(static_cast<unsigned char>(in[i])) ? in[i] - '0'
                                                                                           : (in[i] | 0x20) - 'a' + 10);
    if (i == pos || size > in.size()) return false;
    pos = eol + 2;
    if (size == 0) return true;  // trailers ignored
    if (pos + size + 2 > in.size()) return false;
    out.append(in.substr(pos, size));
    pos += size + 2;
  }
}

}  // namespace

bool non_public_address(int family, const uint8_t* a) {
  if (family == AF_INET) {
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xC0) == 64) ||
           (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 192 && a[1] == 0 && a[2] == 2) || (a[0] == 198 && (a[1] & 0xFE) == 18) ||
           (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113) || a[0] >= 224;
  }
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(a, kZero, 15) == 0) return true;  // :: and ::1
  return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || a[0] == 0xFF ||
         (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
}

Forwarder::Forwarder(uv_loop_t* loop, ForwardOptions options) : options_(std::move(options)) {
  ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ssl_ctx_) throw std::runtime_error("cannot create the origin TLS context");
  SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_PEER, nullptr);
  const int ok = options_.origin_ca_file.empty()
                     ? SSL_CTX_set_default_verify_paths(ssl_ctx_)
                     : SSL_CTX_load_verify_locations(ssl_ctx_, options_.origin_ca_file.c_str(), nullptr);
  if (ok != 1) {
    SSL_CTX_free(ssl_ctx_);
    throw std::runtime_error("intercept.origin_ca_file " + options_.origin_ca_file + ": cannot load the trust store");
  }
  uv_async_init(loop, &async_, &Forwarder::on_async);
  async_.data = this;
  for (unsigned i = 0; i < std::max(1u, options_.threads); ++i) workers_.emplace_back([this] { work(); });
}

Forwarder::~Forwarder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  SSL_CTX_free(ssl_ctx_);
}

void Forwarder::forward(std::shared_ptr<net::http::Exchange> exchange, std::string host, bool tls) {
  auto job = std::make_shared<Job>();
  job->request = exchange->request();
  job->exchange = std::move(exchange);
  job->host = std::move(host);
  job->tls = tls;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < options_.max_queued) {
      queue_.push_back(std::move(job));
      job = nullptr;
    }
  }
  if (job) return job->exchange->respond(failure(503, "too many requests waiting for origins"));
  wake_.notify_one();
}

void Forwarder::on_async(uv_async_t* a) {
  auto* self = static_cast<Forwarder*>(a->data);
  std::deque<std::shared_ptr<Job>> done;
  {
    std::lock_guard lock(self->mutex_);
    done.swap(self->done_);
  }
  for (auto& job : done) job->exchange->respond(std::move(job->response));
}

void Forwarder::work() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->response = failure(502, "no response from the origin");
    const net::http::Request& req = job->request;
    std::string why;
    std::vector<in_addr> addresses = resolve(job->host, options_, why);
    std::erase_if(addresses, [&](const in_addr& a) {
      const auto* b = reinterpret_cast<const uint8_t*>(&a);
      if (!non_public_address(AF_INET, b)) return false;
      for (const auto& n : options_.allow_private)
        if (in_network(n, AF_INET, b)) return false;
      char text[INET_ADDRSTRLEN];
      why = job->host + " resolves to " + inet_ntop(AF_INET, &a, text, sizeof text) +
            ", a non-public address (intercept.allow_private does not cover it)";
      return true;
    });
    const uint16_t port = job->tls ? options_.https_port : options_.http_port;
    Fd s;
    for (const auto& a : addresses)
      if ((s.fd = connect_with_timeout(a, port, options_.timeout_ms)) >= 0) break;
    if (s.fd < 0) {
      if (why.empty()) why = "cannot connect to " + job->host;
      job->response = failure(502, why);
    } else {
      std::string out = req.method + " " + req.path + (req.query.empty() ? "" : "?" + req.query) + " HTTP/1.1\r\n";
      out += "host: " + job->host + "\r\n";
      for (const auto& h : req.headers)
        if (!hop_by_hop(h.name)) out += h.name + ": " + h.value + "\r\n";
      if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
        out += "content-length: " + std::to_string(req.body.size()) + "\r\n";
      out += "connection: close\r\n\r\n";
      out += req.body;
      SSL* ssl = nullptr;
      bool ok = true;
      if (job->tls) {
        ssl = SSL_new(ssl_ctx_);
        SSL_set_fd(ssl, s.fd);
        SSL_set_tlsext_host_name(ssl, job->host.c_str());
        SSL_set1_host(ssl, job->host.c_str());
        ERR_clear_error();
        if (SSL_connect(ssl) != 1) {
          ok = false;
          const long v = SSL_get_verify_result(ssl);
          why = "TLS to " + job->host + " failed" +
                (v != X509_V_OK ? std::string(": ") + X509_verify_cert_error_string(v) : std::string());
        }
      }
      auto send_all = [&](const std::string& data) {
        for (size_t off = 0; off < data.size();) {
          const int n = ssl ? SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off))
                            : static_cast<int>(::send(s.fd, data.data() + off, data.size() - off, MSG_NOSIGNAL));
          if (n <= 0) return false;
          off += static_cast<size_t>(n);
        }
        return true;
      };
      std::string in;
      const size_t cap = static_cast<size_t>(options_.max_body_bytes) + 64 * 1024;
      if (ok && send_all(out)) {
        char buf[65536];
        while (in.size() <= cap) {
          const int n = ssl ? SSL_read(ssl, buf, sizeof buf) : static_cast<int>(::recv(s.fd, buf, sizeof buf, 0));
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
        }
      }
      if (ssl) SSL_free(ssl);
      ERR_clear_error();
      const size_t head_end = in.find("\r\n\r\n");
      if (!ok) {
        job->response = failure(502, why);
      } else if (in.size() > cap) {
        job->response = failure(502, "the origin's response exceeds intercept.max_body_bytes");
      } else if (head_end == std::string::npos || in.compare(0, 5, "HTTP/") != 0 || in.size() < 12) {
        job->response = failure(502, "malformed response from " + job->host);
      } else {
        net::http::Response res;
        res.status = std::atoi(in.c_str() + 9);
        std::string_view head(in.data(), head_end);
        bool chunked = false;
        size_t line = head.find("\r\n");
        while (line != std::string_view::npos) {
          size_t next = head.find("\r\n", line + 2);
          std::string_view h = head.substr(line + 2, next == std::string_view::npos ? next : next - line - 2);
          size_t colon = h.find(':');
          if (colon != std::string_view::npos) {
            std::string name = lower(h.substr(0, colon));
            std::string_view value = h.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
            if (!hop_by_hop(name)) res.headers.push_back({name, std::string(value)});
          }
          line = next;
        }
        std::string_view body(in.data() + head_end + 4, in.size() - head_end - 4);
        if (chunked ? dechunk(body, res.body) : (res.body.assign(body), true)) {
          job->response = std::move(res);
        } else {
          job->response = failure(502, "malformed chunked body from " + job->host);
        }
      }
    }
    log::info("intercept", "forwarded", {{"host", job->host}, {"path", req.path}, {"status", job->response.status},
                                          {"bytes", job->response.body.size()}});
    {
      std::lock_guard lock(mutex_);
      done_.push_back(std::move(job));
    }
    uv_async_send(&async_);
  }
}

}  // namespace sekisho::intercept
