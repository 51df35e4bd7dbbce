// `runnel consume -f`: the format string compiles into what kcat would print,
// and a bad directive or escape is an error naming it.
#include "tools/runnel/consume_format.h"

#include <catch2/catch.hpp>

namespace runnel::tools {
namespace {

ConsumerRecord Sample() {
  ConsumerRecord r;
  r.topic = "orders";
  r.partition = 2;
  r.offset = 42;
  r.timestamp_ms = 1700000000123;
  r.key.emplace("k1");
  r.value.emplace("hello");
  // String literals: the views need no owner (r.buffer stays null).
  r.headers = {{"trace", std::optional<std::string_view>("abc")},
               {"flag", std::nullopt},
               {"empty", std::optional<std::string_view>("")}};
  return r;
}

std::string Format(std::string_view f, const ConsumerRecord& r) {
  absl::StatusOr<RecordFormat> format = RecordFormat::Parse(f);
  REQUIRE(format.ok());
  std::string out;
  format->Append(r, &out);
  return out;
}

TEST_CASE("format: every directive prints its field", "[tools]") {
  const ConsumerRecord r = Sample();
  CHECK(Format("%t %p %o %k %s %T", r) == "orders 2 42 k1 hello 1700000000123");
  CHECK(Format("%K %S", r) == "2 5");
  CHECK(Format("%h", r) == "trace=abc,flag,empty=");
  CHECK(Format("%s", r) == "hello");
}

TEST_CASE("format: escapes, %% and literal text", "[tools]") {
  const ConsumerRecord r = Sample();
  CHECK(Format("key=%k\\tvalue=%s\\n", r) == "key=k1\tvalue=hello\n");
  CHECK(Format("100%% \\\\ %o\\r", r) == "100% \\ 42\r");
  CHECK(Format("", r).empty());
  CHECK(Format("no directives", r) == "no directives");
}

TEST_CASE("format: null key and value print as nothing, sizes as -1", "[tools]") {
  ConsumerRecord r = Sample();
  r.key.reset();
  r.value.reset();
  r.headers.clear();
  CHECK(Format("[%k][%s][%K][%S][%h]", r) == "[][][-1][-1][]");
}

TEST_CASE("format: appends to what is there; one format serves many records", "[tools]") {
  absl::StatusOr<RecordFormat> format = RecordFormat::Parse("%p:%o\\n");
  REQUIRE(format.ok());
  ConsumerRecord a = Sample(), b = Sample();
  b.partition = 0;
  b.offset = 7;
  std::string out = "> ";
  format->Append(a, &out);
  format->Append(b, &out);
  CHECK(out == "> 2:42\n0:7\n");
}

TEST_CASE("format: a bad directive or escape is an error naming it", "[tools]") {
  auto bad_directive = RecordFormat::Parse("%s %x");
  REQUIRE_FALSE(bad_directive.ok());
  CHECK(absl::IsInvalidArgument(bad_directive.status()));
  CHECK(bad_directive.status().message().find("'%x'") != absl::string_view::npos);

  auto bad_escape = RecordFormat::Parse("%s\\q");
  REQUIRE_FALSE(bad_escape.ok());
  CHECK(bad_escape.status().message().find("'\\q'") != absl::string_view::npos);

  CHECK_FALSE(RecordFormat::Parse("%s%").ok());
  CHECK_FALSE(RecordFormat::Parse("%s\\").ok());
}

}  // namespace
}  // namespace runnel::tools
