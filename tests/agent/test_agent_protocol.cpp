// Protocol behaviour of the real agent binary, running on the host over unix sockets.
#include "protocol/protocol.h"
#include "tests/agent/fake_vm.h"

#include <sys/utsname.h>

using namespace fb;
using nlohmann::json;

TEST_CASE("hello reports protocol version and the kernel the agent runs on") {
  test::FakeVm f;
  struct utsname u;
  uname(&u);
  CHECK(f.hello.protocol == proto::kVersion);
  CHECK(f.hello.kernel_release == u.release);
  CHECK(f.hello.raw.contains("faults"));
  CHECK(f.hello.raw.contains("injectable"));
}

TEST_CASE("a hello with another protocol version is refused with version_mismatch") {
  test::FakeVm f;
  auto r = f.agent->request({{"op", "hello"}, {"protocol", proto::kVersion + 1}}, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK((*r)["ok"] == false);
  CHECK((*r)["error"]["code"] == proto::errc::kVersionMismatch);
}

TEST_CASE("garbage, non-objects and unknown ops get error replies and the agent keeps serving") {
  test::FakeVm f;
  f.agent->send_raw("this is not json\n[1,2,3]\n{\"op\":42,\"id\":900}\n");
  auto unknown = f.agent->request({{"op", "make-coffee"}}, std::chrono::seconds(5));
  REQUIRE(unknown.ok());
  CHECK((*unknown)["error"]["code"] == proto::errc::kUnknownOp);
  auto missing = f.agent->request({{"op", "exec"}}, std::chrono::seconds(5));
  REQUIRE(missing.ok());
  CHECK((*missing)["error"]["code"] == proto::errc::kBadRequest);
  auto ping = f.agent->ping();
  REQUIRE(ping.ok());
}

TEST_CASE("a control line over the size limit is refused as too_large without killing the agent") {
  test::FakeVm f;
  std::string big = "{\"op\":\"ping\",\"pad\":\"" + std::string(proto::kMaxLineBytes + 10, 'x') + "\"}\n";
  f.agent->send_raw(big);
  auto ping = f.agent->ping();
  REQUIRE(ping.ok());
  // The too_large reply (id null) answers the raw line, not the ping; the agent still answers.
  auto after = f.agent->request({{"op", "ping"}}, std::chrono::seconds(5));
  REQUIRE(after.ok());
  CHECK((*after)["ok"] == true);
}

TEST_CASE("a request over the line limit gets the agent's too_large error at once, not its deadline") {
  test::FakeVm f;
  auto t0 = std::chrono::steady_clock::now();
  auto r = f.agent->request({{"op", "ping"}, {"pad", std::string(2 * proto::kMaxLineBytes, 'x')}}, std::chrono::seconds(30));
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r.ok());
  CHECK((*r)["ok"] == false);
  CHECK((*r)["error"]["code"] == proto::errc::kTooLarge);
  CHECK(took < std::chrono::seconds(5));
  // The next request still gets its own reply, not a leftover.
  auto ping = f.agent->request({{"op", "ping"}}, std::chrono::seconds(5));
  REQUIRE(ping.ok());
  CHECK((*ping)["ok"] == true);
}

TEST_CASE("an exec whose request line is over the limit fails promptly with the agent's reason") {
  test::FakeVm f;
  ExecRequest req;
  req.argv = {"sh", "-c", "true # " + std::string(5 << 20, 'y')};  // the 5 MB `run` string of the issue
  test::Captured cap;
  auto t0 = std::chrono::steady_clock::now();
  auto r = f.agent->exec(req, cap.sink());
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK(r.error().kind == ErrorKind::Usage);
  CHECK_THAT(r.error().message, Catch::Contains("exceeds " + std::to_string(proto::kMaxLineBytes)));
  CHECK(took < std::chrono::seconds(2));  // the request deadline here is 3 s
}

TEST_CASE("an unreadable request after a raw garbage line gets its own error, the garbage's goes to the garbage") {
  test::FakeVm f;
  f.agent->send_raw("not json\n");
  auto r = f.agent->request({{"op", "ping"}, {"pad", std::string(proto::kMaxLineBytes + 1, 'x')}}, std::chrono::seconds(30));
  REQUIRE(r.ok());
  CHECK((*r)["error"]["code"] == proto::errc::kTooLarge);
  f.agent->send_raw("still not json\n\n\r\n");  // one answered line; the empty ones get no reply
  auto ping = f.agent->request({{"op", "ping"}}, std::chrono::seconds(5));
  REQUIRE(ping.ok());
  CHECK((*ping)["ok"] == true);
}

TEST_CASE("connect resynchronises after stale garbage in the control stream") {
  test::FakeVm f(/*connect=*/false);
  f.agent->send_raw("{\"half a request");  // no newline: joins the next line, which then fails to parse
  f.agent->send_raw("\n");
  auto h = f.agent->connect();
  REQUIRE(h.ok());
  CHECK(h->protocol == proto::kVersion);
}

TEST_CASE("too many argv bytes are refused with too_large") {
  test::FakeVm f;
  json argv = json::array({"echo"});
  for (int i = 0; i < 300; ++i) argv.push_back(std::string(1024, 'a'));
  auto r = f.agent->request({{"op", "exec"}, {"argv", argv}}, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK((*r)["error"]["code"] == proto::errc::kTooLarge);
}

TEST_CASE("when the agent dies, a waiting request fails promptly with the reason") {
  test::FakeVm f;
  auto t0 = std::chrono::steady_clock::now();
  // The agent runs as us on the host: kill it from inside a workload.
  ExecRequest req;
  req.argv = {"sh", "-c", "kill -9 $PPID; sleep 30"};
  test::Captured cap;
  auto r = f.agent->exec(req, cap.sink());
  REQUIRE_FALSE(r.ok());
  // The fake VM's process is the agent: killed by a signal faultbox did not send, it is an
  // infrastructure failure named with the signal.
  CHECK(r.error().kind == ErrorKind::Infra);
  // (it may die before its exec reply is read, or after: either wait names what it was)
  CHECK_THAT(r.error().message, Catch::Contains("died while waiting for '"));
  CHECK_THAT(r.error().message, Catch::Contains("agent killed by signal 9"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("a quiet command longer than the heartbeat limit is not a hang: the agent keeps beating") {
  test::FakeVm f;  // KVM timeouts: a beat every 1 s, silence after 3 s
  ExecRequest req;
  req.argv = {"sleep", "4.5"};
  test::Captured cap;
  auto r = f.agent->exec(req, cap.sink());
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->status.code == 0);
  CHECK_FALSE(f.agent->agent_silent());
}

TEST_CASE("an agent that stops beating is reported silent within the heartbeat limit") {
  test::FakeVm f;
  auto t0 = std::chrono::steady_clock::now();
  // Freeze the agent (it is our child on the host); the workload itself ends on its own.
  ExecRequest req;
  req.argv = {"sh", "-c", "kill -STOP $PPID; sleep 8"};
  test::Captured cap;
  auto r = f.agent->exec(req, cap.sink());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::Timeout);
  CHECK_THAT(r.error().message, Catch::Contains("no agent heartbeat for 3 s"));
  CHECK(f.agent->agent_silent());
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= std::chrono::seconds(3));
  CHECK(waited < std::chrono::seconds(6));
  // A silent agent is not asked anything more: requests fail at once.
  auto t1 = std::chrono::steady_clock::now();
  CHECK_FALSE(f.agent->ping().ok());
  CHECK(std::chrono::steady_clock::now() - t1 < std::chrono::seconds(1));
}

TEST_CASE("the fake backend refuses a disk root with the reason instead of ignoring it") {
  asio::io_context io;
  auto backend = make_fake_backend(test::agent_binary());
  VmSpec spec;
  spec.timeouts = Timeouts::for_accel(Accel::Kvm);
  spec.disk_root = true;
  auto v = backend->start(io, spec);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().kind == ErrorKind::Usage);
  CHECK_THAT(v.error().message, Catch::Contains("cannot boot a disk root"));
}
