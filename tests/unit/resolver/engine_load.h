// A real resolver::Engine in-process under load, for the tests that check what other threads do
// beside its loops (tests/unit/resolver/engine_concurrency_test.cc: publish and sample;
// tests/unit/admin/api_under_load_test.cc: the admin API's reads). Run in the ThreadSanitizer build
// (README "Testing") they check those paths for data races.
//
// Two loops on a port of 127.0.0.1, a UDP upstream that answers everything, one tenant
// (127.0.0.0/8) whose policy blocks malware (blocked.example in the category store) with the
// block page, and the query log; client threads send cached, new, blocked and malformed queries
// over UDP and TCP and count what they saw.
#pragma once

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "config/settings.h"
#include "policy/policy.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/store_writer.h"
#include "resolver/engine.h"
#include "tests/unit/dns/dns_builder.h"
#include "tests/unit/resolver/malware_tenant.h"
#include "tests/unit/temp_dir.h"

namespace sekisho_test::engine_load {

using namespace sekisho;


inline constexpr auto kAnswerTimeout = std::chrono::seconds(5);  // generous: the TSan build is slow
inline constexpr uint8_t kBlockpage[4] = {192, 0, 2, 10};

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

// Waits until fd is readable; false after `timeout`.
inline bool readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// A UDP upstream on loopback that answers every query with one A record (192.0.2.1, TTL 60).
class Upstream {
 public:
  Upstream() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in any = loopback(0);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&any), sizeof any) == 0);
    port_ = port_of(fd_);
    thread_ = std::thread([this] { serve(); });
  }
  ~Upstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    uint8_t in[512];
    while (!stop_) {
      if (!readable(fd_, std::chrono::milliseconds(20))) continue;
      sockaddr_in peer{};
      socklen_t peer_len = sizeof peer;
      const ssize_t n = ::recvfrom(fd_, in, sizeof in, 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
      if (n < 12) continue;
      size_t end = 12;  // the question: labels, then type and class
      while (end < static_cast<size_t>(n) && in[end] != 0) end += in[end] + 1u;
      end += 5;
      if (end > static_cast<size_t>(n)) continue;
      Msg answer;
      answer.header(sekisho_test::get16({in, 12}, 0), 0x8180, 1, 1).raw(std::span<const uint8_t>(in + 12, end - 12)).a_ptr(60);
      ::sendto(fd_, answer.b.data(), answer.size(), 0, reinterpret_cast<const sockaddr*>(&peer), peer_len);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What one client thread sent and saw.
struct ClientTally {
  uint64_t udp_sent = 0, tcp_sent = 0, malformed_sent = 0;
  uint64_t answered = 0, blockpages = 0, unanswered = 0;
};

inline bool has_blockpage(const uint8_t* msg, size_t len) {
  return std::search(msg, msg + len, kBlockpage, kBlockpage + 4) != msg + len;
}

// Sends `rounds` UDP queries from one socket (one outstanding at a time), then a few over one
// TCP connection. Names cycle through a cached one, a new one (upstream), a blocked one and,
// now and then, a message too short to be DNS.
inline void run_client(uint16_t port, int client, int rounds, ClientTally& t) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sockaddr_in server = loopback(port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0);
  uint8_t in[1500];
  for (int k = 0; k < rounds; ++k) {
    if (k % 50 == 25) {
      const uint8_t garbage[3] = {0x12, 0x34, 0x01};
      ::send(fd, garbage, sizeof garbage, 0);
      ++t.udp_sent;
      ++t.malformed_sent;
    }
    const uint16_t id = static_cast<uint16_t>(client << 12 | (k & 0xfff));
    std::string name = "www.example.com";
    if (k % 3 == 1) name = "q" + std::to_string(client) + "-" + std::to_string(k) + ".example.net";
    if (k % 3 == 2) name = "x.blocked.example";
    const Msg q = client_query(name, 1, id, 0x0100, true, 1232, false);
    ::send(fd, q.b.data(), q.size(), 0);
    ++t.udp_sent;
    bool answered = false;
    const auto deadline = std::chrono::steady_clock::now() + kAnswerTimeout;
    while (!answered && std::chrono::steady_clock::now() < deadline) {
      if (!readable(fd, std::chrono::milliseconds(100))) continue;
      const ssize_t n = ::recv(fd, in, sizeof in, 0);
      if (n < 12 || sekisho_test::get16({in, 12}, 0) != id) continue;  // a FORMERR for the garbage, say
      answered = true;
      ++t.answered;
      t.blockpages += has_blockpage(in, static_cast<size_t>(n));
    }
    if (!answered) ++t.unanswered;
  }
  ::close(fd);

  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(::connect(tcp, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0);
  for (int k = 0; k < 10; ++k) {
    const Msg q = client_query(k % 2 ? "www.example.com" : "x.blocked.example", 1, static_cast<uint16_t>(k), 0x0100, true, 1232, false);
    std::vector<uint8_t> framed = {static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
    framed.insert(framed.end(), q.b.begin(), q.b.end());
    ::send(tcp, framed.data(), framed.size(), 0);
    ++t.tcp_sent;
    size_t have = 0, need = 2;
    bool answered = false;
    while (readable(tcp, kAnswerTimeout)) {
      const ssize_t n = ::recv(tcp, in + have, need - have, 0);
      if (n <= 0) break;
      have += static_cast<size_t>(n);
      if (have < need) continue;
      if (need == 2) {
        need = 2 + (size_t{in[0]} << 8 | in[1]);
        if (need > sizeof in) break;
        continue;
      }
      answered = true;
      break;
    }
    if (!answered) {
      ++t.unanswered;
      break;
    }
    ++t.answered;
    t.blockpages += has_blockpage(in + 2, need - 2);
  }
  ::close(tcp);
}

// A category store in which blocked.example and its subdomains are malware.
inline void write_store(const std::string& dir) {
  std::filesystem::create_directories(dir);
  policy::StoreWriter w(dir);
  policy::EntrySet set;
  char key[policy::kMaxKeyLen];
  const size_t n = policy::make_name_key("blocked.example", key);
  REQUIRE(n > 0);
  set.add_domain(std::string(key, n), policy::kFlagSubtree, policy::CategorySet(uint64_t{1} << policy::CategoryRegistry::builtins().by_slug("malware")->id));
  set.finalize();
  policy::SourceInfo info;
  info.name = "test";
  info.format = "domains";
  w.replace_source(info, set);
}

// Two loops on `port`, one tenant (127.0.0.0/8) whose policy blocks malware with the block page
// when `block` is set, the category store, the query log; only `block` differs between
// generations.
inline config::Settings settings_for(uint16_t port, uint16_t upstream_port, const sekisho::test::TempDir& dir, bool block) {
  config::Settings s;
  std::string error;
  s.server.threads = 2;
  s.server.dns_listen.push_back(*net::parse_socket_address("127.0.0.1:" + std::to_string(port), 53, error));
  s.upstreams.emplace_back().address = *net::parse_socket_address("127.0.0.1:" + std::to_string(upstream_port), 53, error);
  sekisho::test::add_malware_tenant(s, (dir.path / "store").string(), (dir.path / "querylog").string(), block);
  return s;
}

inline std::shared_ptr<const policy::PolicySnapshot> compile(const config::Settings& s) {
  std::vector<config::ConfigError> errors;
  auto policies = policy::compile_policies(s, static_cast<int64_t>(std::time(nullptr)), errors);
  for (const auto& e : errors) FAIL_CHECK(e.to_string());
  REQUIRE(policies);
  return policies;
}

// A port for UDP and TCP on 127.0.0.1, held by SO_REUSEPORT sockets until the engine has bound
// its own (so nothing else takes it meanwhile); release() closes them before any query is sent.
class ReservedPort {
 public:
  ReservedPort() {
    for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
      const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      const sockaddr_in a = loopback(port_);
      REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
      port_ = port_of(fd);
      fds_.push_back(fd);
    }
  }
  ~ReservedPort() { release(); }
  uint16_t port() const { return port_; }
  void release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  uint16_t port_ = 0;
  std::vector<int> fds_;
};


// Runs engine.run() on a thread of its own; the constructor returns once the sockets are bound
// (rethrowing a bind failure), stop() ends the run and joins.
class Serving {
 public:
  Serving(resolver::Engine& engine, ReservedPort& port) : engine_(engine) {
    std::promise<void> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &port, started = std::move(started)]() mutable {
      resolver::Engine::Hooks hooks;
      bool signalled = false;
      hooks.started = [&] {
        port.release();
        signalled = true;
        started.set_value();
      };
      try {
        engine_.run(std::move(hooks));
      } catch (...) {
        if (!signalled) started.set_exception(std::current_exception());
      }
    });
    if (ready.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      FAIL_CHECK("the engine did not start within 30 s");
    } else {
      try {
        ready.get();
      } catch (...) {
        stop();
        throw;
      }
    }
  }
  ~Serving() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    engine_.stop();
    thread_.join();
  }

 private:
  resolver::Engine& engine_;
  std::thread thread_;
};

// Client threads, each running run_client() once; wait() joins them and sums their tallies.
class Clients {
 public:
  Clients(uint16_t port, int clients, int rounds) : tallies_(clients), running_(clients) {
    for (int c = 0; c < clients; ++c)
      threads_.emplace_back([this, port, c, rounds] {
        run_client(port, c, rounds, tallies_[c]);
        --running_;
      });
  }
  ~Clients() { wait(); }
  bool running() const { return running_ > 0; }
  ClientTally wait() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    ClientTally total;
    for (const auto& t : tallies_) {
      total.udp_sent += t.udp_sent;
      total.tcp_sent += t.tcp_sent;
      total.malformed_sent += t.malformed_sent;
      total.answered += t.answered;
      total.blockpages += t.blockpages;
      total.unanswered += t.unanswered;
    }
    return total;
  }

 private:
  std::vector<ClientTally> tallies_;
  std::atomic<int> running_;
  std::vector<std::thread> threads_;
};

}  // namespace sekisho_test::engine_load
