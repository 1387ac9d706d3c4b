// A real Engine in-process: its loops serve UDP and TCP queries from client threads (cache hits,
// upstream misses, blocked names, malformed messages) while this thread publishes new
// configurations and takes Engine::sample(), as the admin thread and SIGHUP do in sekishod.
// Run in the ThreadSanitizer build (README "Testing"), it checks the counters and the reload
// path for data races; in every build it checks that no count is lost: the loops' totals equal
// what the clients sent and saw.
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
#include "tests/unit/temp_dir.h"
#include "tests/unit/resolver/malware_tenant.h"

namespace {

using namespace sekisho;
using sekisho_test::client_query;
using sekisho_test::Msg;

constexpr auto kAnswerTimeout = std::chrono::seconds(5);  // generous: the TSan build is slow
const uint8_t kBlockpage[4] = {192, 0, 2, 10};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

// Waits until fd is readable; false after `timeout`.
bool readable(int fd, std::chrono::milliseconds timeout) {
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

bool has_blockpage(const uint8_t* msg, size_t len) {
  return std::search(msg, msg + len, kBlockpage, kBlockpage + 4) != msg + len;
}

// Sends `rounds` UDP queries from one socket (one outstanding at a time), then a few over one
// TCP connection. Names cycle through a cached one, a new one (upstream), a blocked one and,
// now and then, a message too short to be DNS.
void run_client(uint16_t port, int client, int rounds, ClientTally& t) {
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
void write_store(const std::string& dir) {
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
config::Settings settings_for(uint16_t port, uint16_t upstream_port, const sekisho::test::TempDir& dir, bool block) {
  config::Settings s;
  std::string error;
  s.server.threads = 2;
  s.server.dns_listen.push_back(*net::parse_socket_address("127.0.0.1:" + std::to_string(port), 53, error));
  s.upstreams.push_back(config::UpstreamSettings{
      *net::parse_socket_address("127.0.0.1:" + std::to_string(upstream_port), 53, error), config::UpstreamTransport::udp});
  sekisho::test::add_malware_tenant(s, (dir.path / "store").string(), (dir.path / "querylog").string(), block);
  return s;
}

std::shared_ptr<const policy::PolicySnapshot> compile(const config::Settings& s) {
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

}  // namespace

TEST_SUITE("resolver.engine_concurrency") {

TEST_CASE("loops serve while configurations are published and the counters sampled, and no count is lost") {
  sekisho::test::TempDir dir;
  write_store((dir.path / "store").string());
  Upstream upstream;
  ReservedPort port;

  const config::Settings first = settings_for(port.port(), upstream.port(), dir, true);
  resolver::Engine engine(first, compile(first));
  std::promise<void> started;
  std::thread serving([&] {
    resolver::Engine::Hooks hooks;
    hooks.started = [&] {
      port.release();
      started.set_value();
    };
    try {
      engine.run(std::move(hooks));
    } catch (...) {
      started.set_exception(std::current_exception());
    }
  });
  auto ready = started.get_future();
  REQUIRE(ready.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  ready.get();  // rethrows a bind failure

  constexpr int kClients = 4, kRounds = 300;
  std::vector<ClientTally> tallies(kClients);
  std::atomic<int> running{kClients};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      run_client(port.port(), c, kRounds, tallies[c]);
      --running;
    });

  // Meanwhile: new generations (blocking malware, then not, …) and samples, about one a
  // millisecond, bounded in count and time.
  uint64_t published = 0, samples = 0, last_queries = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((running > 0 || published < 20) && published < 2000 && std::chrono::steady_clock::now() < deadline) {
    const config::Settings next = settings_for(port.port(), upstream.port(), dir, published % 2 == 1);
    const uint64_t generation = engine.publish(next, compile(next));
    ++published;
    CHECK(generation == published + 1);
    const resolver::EngineSample s = engine.sample();
    ++samples;
    const uint64_t queries = s.queries[0] + s.queries[1];
    CHECK(queries >= last_queries);  // a sample is never behind an earlier one
    last_queries = queries;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // leave the 2 cores of CI to the loops
  }
  for (auto& t : clients) t.join();
  engine.stop();
  serving.join();

  ClientTally total;
  for (const auto& t : tallies) {
    total.udp_sent += t.udp_sent;
    total.tcp_sent += t.tcp_sent;
    total.malformed_sent += t.malformed_sent;
    total.answered += t.answered;
    total.blockpages += t.blockpages;
    total.unanswered += t.unanswered;
  }
  CHECK(total.unanswered == 0);
  CHECK(total.answered == total.udp_sent - total.malformed_sent + total.tcp_sent);
  CHECK(total.blockpages > 0);
  CHECK(published >= 20);

  // The loops have stopped: the sample is exact.
  const resolver::EngineSample s = engine.sample();
  CHECK(s.config_generation == published + 1);
  auto queries_over = [&](std::string_view transport) {
    const auto& labels = resolver::kTransportLabels;
    return s.queries[static_cast<size_t>(std::find(labels.begin(), labels.end(), transport) - labels.begin())];
  };
  CHECK(queries_over("udp") == total.udp_sent);
  CHECK(queries_over("tcp") == total.tcp_sent);
  CHECK(s.malformed == total.malformed_sent);
  CHECK(s.blocked == total.blockpages);
  CHECK(s.cache_hits + s.cache_misses > 0);
  CHECK(s.forwarder.upstream_queries >= 1);
  CHECK(s.category_memo_hits + s.category_memo_misses > 0);
  uint64_t latency_count = 0;
  for (uint64_t b : s.latency.buckets) latency_count += b;
  CHECK(latency_count >= total.answered);
  MESSAGE("published ", published, " generations and took ", samples, " samples while serving ", total.answered,
          " answers");
}

}  // TEST_SUITE
