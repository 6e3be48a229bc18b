#include "protocol/frame.h"
#include "protocol/protocol.h"

#include <catch2/catch.hpp>

using namespace fb::proto;

static Frame make(std::uint64_t seq, std::string payload, Stream s = Stream::Stdout) {
  Frame f;
  f.stream = s;
  f.channel = 7;
  f.seq = seq;
  f.monotonic_ns = 123456789;
  f.payload = std::move(payload);
  return f;
}

TEST_CASE("a frame survives encoding and decoding unchanged, binary bytes included") {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  std::string wire;
  encode_frame(make(42, payload, Stream::Stderr), wire);
  REQUIRE(wire.size() == kFrameHeaderBytes + 256);
  FrameDecoder d;
  d.feed(wire);
  auto f = d.next();
  REQUIRE(f);
  CHECK(f->stream == Stream::Stderr);
  CHECK(f->channel == 7);
  CHECK(f->seq == 42);
  CHECK(f->monotonic_ns == 123456789);
  CHECK(f->payload == payload);
  CHECK_FALSE(d.next());
  CHECK(d.skipped_bytes() == 0);
}

TEST_CASE("frames fed one byte at a time come out whole and in order") {
  std::string wire;
  for (int i = 0; i < 5; ++i) encode_frame(make(static_cast<std::uint64_t>(i), std::string(100 + i, 'a' + i)), wire);
  FrameDecoder d;
  std::vector<Frame> got;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    while (auto f = d.next()) got.push_back(*f);
  }
  REQUIRE(got.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(got[static_cast<std::size_t>(i)].seq == static_cast<std::uint64_t>(i));
    CHECK(got[static_cast<std::size_t>(i)].payload == std::string(100 + i, 'a' + i));
  }
}

TEST_CASE("the decoder resynchronises after garbage and after a corrupt header") {
  std::string wire = "garbage before any frame \x46\x42 FBX";  // includes a false magic start
  encode_frame(make(0, "first"), wire);
  std::string corrupt;
  encode_frame(make(1, "corrupted"), corrupt);
  corrupt[10] ^= 0x55;  // inside the header: its CRC no longer matches
  wire += corrupt;
  encode_frame(make(2, "third"), wire);
  FrameDecoder d;
  d.feed(wire);
  std::vector<Frame> got;
  while (auto f = d.next()) got.push_back(*f);
  REQUIRE(got.size() == 2);
  CHECK(got[0].payload == "first");
  CHECK(got[1].payload == "third");
  CHECK(got[1].seq == 2);  // the receiver sees the gap at seq 1
  CHECK(d.skipped_bytes() > 0);
}

TEST_CASE("a header claiming more than the payload limit is treated as garbage") {
  char h[kFrameHeaderBytes];
  encode_frame_header(Stream::Stdout, 0, 1, 0, 0, static_cast<std::uint32_t>(kMaxFramePayload + 1), h);
  FrameDecoder d;
  d.feed(std::string_view(h, sizeof h));
  std::string ok;
  encode_frame(make(0, "after"), ok);
  d.feed(ok);
  auto f = d.next();
  REQUIRE(f);
  CHECK(f->payload == "after");
}

TEST_CASE("crc32 matches the standard check value") {
  CHECK(crc32("123456789", 9) == 0xCBF43926u);
}
