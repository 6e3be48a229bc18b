#pragma once
// Unix-socket listeners in a VM's runtime dir that the hypervisor side (QEMU's chardevs in
// client mode, or the fake backend's agent) connects to. We listen, they connect: so the
// connection exists before the guest boots and nothing the guest writes is lost.
#include "orchestrator/vm/vm.h"

#include <map>

namespace fb {

class PortListener {
 public:
  PortListener(asio::io_context& io, std::filesystem::path dir) : io_(io), dir_(std::move(dir)) {}
  Result<std::filesystem::path> listen(const std::string& name);
  // Runs io until every listened name has a connection, alive() turns false, or timeout.
  Status accept_all(std::chrono::milliseconds timeout, const std::function<bool()>& alive,
                    const std::function<std::string()>& why_dead);
  UnixSocket take(const std::string& name);

 private:
  asio::io_context& io_;
  std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<asio::local::stream_protocol::acceptor>> acceptors_;
  std::map<std::string, std::unique_ptr<UnixSocket>> accepted_;
};

// Reads a stream socket until EOF, handing each chunk to on_data.
void read_forever(UnixSocket& s, std::shared_ptr<std::array<char, 65536>> buf,
                  std::function<void(std::string_view)> on_data, std::function<void()> on_eof);

}  // namespace fb
