#include "net/http/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/http/connection.h"

namespace sekisho::net::http {

// A listening socket; what it accepts becomes a Connection (connection.h).
class Listener {
 public:
  Listener(std::shared_ptr<Shared> shared, const tls::ContextSlot* tls) : shared_(std::move(shared)), tls_(tls) {}
  bool open(int fd, std::string& error) {
    uv_tcp_init(shared_->loop, &handle_);
    handle_.data = this;
    if (int rc = uv_tcp_open(&handle_, fd); rc != 0) {
      error = std::string("uv_tcp_open: ") + uv_strerror(rc);
      ::close(fd);
      return false;
    }
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), 1024, &Listener::on_connection); rc != 0) {
      error = std::string("listen: ") + uv_strerror(rc);
      return false;
    }
    return true;
  }
  void close() {
    auto& ls = shared_->listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), this), ls.end());
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }

 private:
  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Listener*>(server->data);
    if (status < 0) return;
    Connection::accept(self->shared_, server, self->tls_);
  }
  std::shared_ptr<Shared> shared_;
  const tls::ContextSlot* tls_;
  uv_tcp_t handle_{};
};

// ---------------------------------------------------------------------------------- Server

Server::Server(uv_loop_t* loop, Handler handler, Limits limits) : shared_(std::make_shared<Shared>()) {
  shared_->loop = loop;
  shared_->handler = std::move(handler);
  shared_->limits = limits;
}

Server::~Server() { close(); }

bool Server::listen_fd(int fd, const tls::ContextSlot* tls, std::string& error) {
  auto* l = new Listener(shared_, tls);
  shared_->listeners.push_back(l);
  if (!l->open(fd, error)) {
    l->close();
    return false;
  }
  return true;
}

std::optional<SocketAddress> Server::listen(const SocketAddress& address, const tls::ContextSlot* tls,
                                            std::string& error) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, address.get(), address.length) != 0) {
    error = "cannot bind tcp " + address.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length);
  if (!listen_fd(fd, tls, error)) return std::nullopt;
  return bound;
}

void Server::stop_accepting() {
  std::vector<Listener*> ls = shared_->listeners;
  for (Listener* l : ls) l->close();
}

void Server::close_idle() {
  std::vector<Connection*> cs = shared_->connections;
  for (Connection* c : cs)
    if (c->idle()) c->shutdown_then_close();
}

void Server::close() {
  shared_->closed = true;
  stop_accepting();
  std::vector<Connection*> cs = shared_->connections;
  for (Connection* c : cs) {
    if (c->idle()) c->shutdown_then_close();  // responses already written still arrive
    else c->close();
  }
}

size_t Server::open_connections() const { return shared_->connections.size(); }
const Counters& Server::counters() const { return shared_->counters; }

}  // namespace sekisho::net::http
