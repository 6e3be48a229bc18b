#pragma once
// A booted fake VM (faultbox-agent on the host) with a connected AgentClient.
#include "orchestrator/vm/agent_client.h"
#include "orchestrator/vm/vm.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

namespace fb::test {

struct FakeVm {
  asio::io_context io;
  std::unique_ptr<Backend> backend = make_fake_backend(agent_binary());
  std::unique_ptr<Vm> vm;
  std::unique_ptr<AgentClient> agent;
  AgentHello hello;

  explicit FakeVm(bool connect = true) {
    VmSpec spec;
    spec.timeouts = Timeouts::for_accel(Accel::Kvm);
    auto v = backend->start(io, spec);
    REQUIRE(v.ok());
    vm = std::move(*v);
    agent = std::make_unique<AgentClient>(io, *vm, spec.timeouts);
    if (connect) {
      auto h = agent->connect();
      INFO((h.ok() ? std::string() : h.error().message));
      REQUIRE(h.ok());
      hello = *h;
    }
  }
};

struct Captured {
  std::string out, err;
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> out_chunks;
  OutputSink sink() {
    return [this](proto::Stream s, std::string_view d) {
      if (s == proto::Stream::Stderr) {
        err.append(d);
      } else {
        out.append(d);
        out_chunks.emplace_back(std::chrono::steady_clock::now(), std::string(d));
      }
    };
  }
};

}  // namespace fb::test
