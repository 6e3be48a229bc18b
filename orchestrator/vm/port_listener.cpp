#include "orchestrator/vm/port_listener.h"

#include "orchestrator/vm/vm.h"

namespace fb {

Result<std::filesystem::path> PortListener::listen(const std::string& name) {
  auto path = dir_ / (name + ".sock");
  auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
  boost::system::error_code ec;
  acc->open(asio::local::stream_protocol(), ec);
  if (!ec) acc->bind(asio::local::stream_protocol::endpoint(path.string()), ec);
  if (!ec) acc->listen(1, ec);
  if (ec) return make_error(ErrorKind::Infra, "listen on {}: {}", path.string(), ec.message());
  auto* raw = acc.get();
  acceptors_[name] = std::move(acc);
  raw->async_accept([this, name](const boost::system::error_code& e, UnixSocket s) {
    if (e == asio::error::operation_aborted) return;
    if (!e) accepted_[name] = std::make_unique<UnixSocket>(std::move(s));
  });
  return path;
}

Status PortListener::accept_all(std::chrono::milliseconds timeout, const std::function<bool()>& alive,
                                const std::function<std::string()>& why_dead) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (accepted_.size() < acceptors_.size()) {
    if (interrupted()) return make_error(ErrorKind::Infra, "interrupted");
    if (!alive()) return make_error(ErrorKind::Infra, "{}", why_dead());
    if (std::chrono::steady_clock::now() > deadline) {
      std::string missing;
      for (auto& [n, a] : acceptors_)
        if (!accepted_.count(n)) missing += " " + n;
      return make_error(ErrorKind::Infra, "no connection on{} within {} ms", missing, timeout.count());
    }
    io_.run_one_for(std::chrono::milliseconds(20));
  }
  // Listening is over: the socket files go, the connections stay.
  for (auto& [n, a] : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
    std::error_code fec;
    std::filesystem::remove(dir_ / (n + ".sock"), fec);
  }
  return {};
}

UnixSocket PortListener::take(const std::string& name) { return std::move(*accepted_.at(name)); }

void read_forever(UnixSocket& s, std::shared_ptr<std::array<char, 65536>> buf,
                  std::function<void(std::string_view)> on_data, std::function<void()> on_eof) {
  s.async_read_some(asio::buffer(*buf), [&s, buf, on_data = std::move(on_data), on_eof = std::move(on_eof)](
                                            const boost::system::error_code& ec, std::size_t n) mutable {
    if (ec == asio::error::operation_aborted) return;  // the owner is gone: touch nothing
    if (n > 0) on_data(std::string_view(buf->data(), n));
    if (ec) {
      on_eof();
      return;
    }
    read_forever(s, buf, std::move(on_data), std::move(on_eof));
  });
}

}  // namespace fb
