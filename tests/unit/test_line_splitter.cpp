#include "protocol/line_splitter.h"

#include <catch2/catch.hpp>

using namespace fb::proto;

TEST_CASE("lines split on newline, CR stripped, partial lines wait") {
  LineSplitter s(100);
  s.feed("one\r\ntw");
  auto a = s.next();
  REQUIRE(a);
  CHECK(std::get<std::string>(*a) == "one");
  CHECK_FALSE(s.next());
  s.feed("o\n");
  auto b = s.next();
  REQUIRE(b);
  CHECK(std::get<std::string>(*b) == "two");
}

TEST_CASE("an oversize line is reported once and skipped, the next line is intact") {
  LineSplitter s(10);
  s.feed(std::string(25, 'x'));
  auto first = s.next();  // already too long without its newline
  CHECK_FALSE(first);
  s.feed(std::string(5, 'x') + "\nnext\n");
  auto over = s.next();
  REQUIRE(over);
  REQUIRE(std::holds_alternative<Oversize>(*over));
  CHECK(std::get<Oversize>(*over).bytes == 30);
  auto next = s.next();
  REQUIRE(next);
  CHECK(std::get<std::string>(*next) == "next");
}

TEST_CASE("an oversize line that arrives whole is reported with its length") {
  LineSplitter s(4);
  s.feed("abcdefgh\nok\n");
  auto over = s.next();
  REQUIRE(over);
  CHECK(std::get<Oversize>(*over).bytes == 8);
  CHECK(std::get<std::string>(*s.next()) == "ok");
}
