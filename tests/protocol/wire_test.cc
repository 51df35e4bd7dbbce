// Wire primitives: exact encodings, and clean failures on bad input.
#include "runnel/protocol/wire.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace runnel::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

template <typename F>
Bytes Write(F&& f) {
  ByteBuffer buf;
  Writer w(&buf);
  f(w);
  return {buf.data(), buf.data() + buf.size()};
}

std::string Message(const Reader& r) { return std::string(r.status().message()); }

TEST_CASE("fixed-width integers are big-endian", "[wire]") {
  CHECK(Write([](Writer& w) { w.Int16(0x0102); }) == Bytes{1, 2});
  CHECK(Write([](Writer& w) { w.Int32(-2); }) == Bytes{0xff, 0xff, 0xff, 0xfe});
  CHECK(Write([](Writer& w) { w.UInt32(0x01020304); }) == Bytes{1, 2, 3, 4});
  CHECK(Write([](Writer& w) { w.Float64(1.0); }) == Bytes{0x3f, 0xf0, 0, 0, 0, 0, 0, 0});
  Bytes b = Write([](Writer& w) { w.Int64(std::numeric_limits<int64_t>::min()); w.Float64(-2.5); });
  Reader r(b);
  CHECK(r.Int64("a") == std::numeric_limits<int64_t>::min());
  CHECK(r.Float64("b") == -2.5);
  CHECK(r.ok());
  CHECK(r.remaining() == 0);
}

TEST_CASE("varint edge cases", "[wire]") {
  CHECK(Write([](Writer& w) { w.UnsignedVarint(0); }) == Bytes{0});
  CHECK(Write([](Writer& w) { w.UnsignedVarint(127); }) == Bytes{0x7f});
  CHECK(Write([](Writer& w) { w.UnsignedVarint(128); }) == Bytes{0x80, 0x01});
  CHECK(Write([](Writer& w) { w.UnsignedVarint(0xffffffffu); }) ==
        Bytes{0xff, 0xff, 0xff, 0xff, 0x0f});
  CHECK(Write([](Writer& w) { w.Varint(-1); }) == Bytes{0x01});
  CHECK(Write([](Writer& w) { w.Varint(1); }) == Bytes{0x02});
  CHECK(Write([](Writer& w) { w.Varint(std::numeric_limits<int32_t>::min()); }) ==
        Bytes{0xff, 0xff, 0xff, 0xff, 0x0f});
  CHECK(Write([](Writer& w) { w.Varlong(std::numeric_limits<int64_t>::min()); }) ==
        Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});

  for (int64_t v : {int64_t{0}, int64_t{-64}, int64_t{63}, int64_t{1} << 40,
                    std::numeric_limits<int64_t>::max()}) {
    Bytes b = Write([&](Writer& w) { w.Varlong(v); });
    Reader r(b);
    CHECK(r.Varlong("v") == v);
    CHECK(r.remaining() == 0);
  }
  // Six bytes are one too many for a 32-bit varint.
  Bytes overlong = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  Reader r(overlong);
  CHECK(r.UnsignedVarint32("len") == 0);
  CHECK(Message(r) == "field 'len' at byte 0: truncated or over-long 32-bit varint");
  Bytes truncated = {0x80};
  Reader r2(truncated);
  r2.Varint("x");
  CHECK_FALSE(r2.ok());
}

TEST_CASE("null and empty strings, bytes and arrays", "[wire]") {
  CHECK(Write([](Writer& w) { w.NullableString(std::nullopt, true); }) == Bytes{0});
  CHECK(Write([](Writer& w) { w.NullableString(std::nullopt, false); }) == Bytes{0xff, 0xff});
  CHECK(Write([](Writer& w) { w.String("", true); }) == Bytes{1});
  CHECK(Write([](Writer& w) { w.String("", false); }) == Bytes{0, 0});
  CHECK(Write([](Writer& w) { w.String("ab", true); }) == Bytes{3, 'a', 'b'});
  CHECK(Write([](Writer& w) { w.NullableBytes(std::nullopt, true); }) == Bytes{0});
  CHECK(Write([](Writer& w) { w.NullableBytes(std::nullopt, false); }) ==
        Bytes{0xff, 0xff, 0xff, 0xff});
  CHECK(Write([](Writer& w) { w.Bytes(Bytes{7}, false); }) == Bytes{0, 0, 0, 1, 7});
  CHECK(Write([](Writer& w) { w.NullArrayLength(true); }) == Bytes{0});
  CHECK(Write([](Writer& w) { w.NullArrayLength(false); }) == Bytes{0xff, 0xff, 0xff, 0xff});
  CHECK(Write([](Writer& w) { w.ArrayLength(0, true); }) == Bytes{1});

  Bytes b = {1, 0, 0xff, 0xff, 0, 0, 0, 0};
  Reader r(b);
  CHECK(r.NullableString("a", true) == std::string());
  CHECK(r.NullableString("b", true) == std::nullopt);
  CHECK(r.NullableString("c", false) == std::nullopt);
  CHECK(r.NullableBytes("d", false) == Bytes{});
  CHECK(r.ok());
}

TEST_CASE("null where the field is not nullable fails", "[wire]") {
  Bytes b = {0xff, 0xff};
  Reader r(b);
  r.SetContext("TestRequest", 1);
  CHECK(r.String("name", false).empty());
  CHECK(Message(r) == "TestRequest v1: field 'name' at byte 0: null in a non-nullable string");
  Bytes c = {0};
  Reader r2(c);
  CHECK(r2.ArrayLength("topics", true, /*nullable=*/false, 1) == -1);
  CHECK(Message(r2) == "field 'topics' at byte 0: null in a non-nullable array");
  Bytes d = {0xff, 0xfe};
  Reader r3(d);
  r3.NullableString("s", false);
  CHECK(Message(r3) == "field 's' at byte 0: negative string length -2");
}

TEST_CASE("truncated input names the field and offset; errors are sticky", "[wire]") {
  Bytes b = {0, 1, 0, 0};
  Reader r(b);
  r.SetContext("FetchRequest", 12);
  CHECK(r.Int16("replica_id") == 1);
  CHECK(r.Int32("max_wait_ms") == 0);
  CHECK(Message(r) == "FetchRequest v12: field 'max_wait_ms' at byte 2: needs 4 bytes, 2 left");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  // Later reads return zero values and keep the first error.
  CHECK(r.Int8("more") == 0);
  CHECK(r.String("s", true).empty());
  CHECK(Message(r) == "FetchRequest v12: field 'max_wait_ms' at byte 2: needs 4 bytes, 2 left");
}

TEST_CASE("hostile lengths fail before allocating", "[wire]") {
  Bytes s = {0x7f, 0xff, 'a'};
  Reader r1(s);
  r1.String("client_id", false);
  CHECK(Message(r1) == "field 'client_id' at byte 0: string length 32767 exceeds the 1 bytes left");

  Bytes bytes = {0x7f, 0xff, 0xff, 0xff, 1, 2};
  Reader r2(bytes);
  r2.Bytes("records", false);
  CHECK(Message(r2) ==
        "field 'records' at byte 0: bytes length 2147483647 exceeds the 2 bytes left");

  Bytes compact = {0xff, 0xff, 0xff, 0xff, 0x0f};  // 2^32-1 => length 2^32-2
  Reader r3(compact);
  r3.Bytes("value", true);
  CHECK_FALSE(r3.ok());

  Bytes arr = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  Reader r4(arr);
  CHECK(r4.ArrayLength("partitions", false, false, 4) == -1);
  CHECK(Message(r4) ==
        "field 'partitions' at byte 0: array of 2147483647 elements cannot fit in the 4 bytes left");
  // Exactly enough room passes.
  Bytes one = {0, 0, 0, 1, 0, 0, 0, 9};
  Reader r5(one);
  CHECK(r5.ArrayLength("partitions", false, false, 4) == 1);
  CHECK(r5.Int32("p") == 9);

  Bytes tags = {0xff, 0xff, 0x03};
  Reader r6(tags);
  r6.TaggedFieldCount("X");
  CHECK_FALSE(r6.ok());
  Bytes tag = {0x01, 0x00, 0x7f, 0x00};  // 1 field, tag 0, 127 bytes of 1
  Reader r7(tag);
  CHECK(r7.TaggedFieldCount("X") == 1);
  r7.BeginTaggedField("X");
  CHECK(Message(r7) == "field 'X' at byte 1: tagged field 0 of 127 bytes exceeds the 1 bytes left");
}

TEST_CASE("tagged fields: ascending order, exact sizes", "[wire]") {
  UnknownTaggedFields unknown = {{9, {1}}, {2, {}}};
  Bytes b = Write([&](Writer& w) {
    std::vector<TaggedField> known;
    AddTaggedField(w, &known, 5, [](Writer& tw) { tw.Int16(0x0304); });
    w.TaggedFields(std::move(known), unknown);
  });
  CHECK(b == Bytes{3, 2, 0, 5, 2, 3, 4, 9, 1, 1});
  CHECK(Write([](Writer& w) { w.TaggedFields({}, {}); }) == Bytes{0});

  // A known tag whose bytes its type does not use up is malformed.
  Bytes c = {1, 5, 3, 0, 1, 2, 0xaa};
  Reader r(c);
  CHECK(r.TaggedFieldCount("T") == 1);
  Reader::TaggedFieldScope t = r.BeginTaggedField("T");
  CHECK(t.tag == 5);
  CHECK(r.Int16("T.f") == 1);
  r.EndTaggedField(t, "T.f");
  CHECK(Message(r) == "field 'T.f' at byte 5: tagged field 5 has 1 bytes its type does not use");

  // A field may not read past its own size.
  Bytes d = {1, 5, 1, 0, 0xaa, 0xbb};
  Reader r2(d);
  r2.TaggedFieldCount("T");
  r2.BeginTaggedField("T");
  r2.Int16("T.f");
  CHECK(Message(r2) == "field 'T.f' at byte 3: needs 2 bytes, 1 left");
}

TEST_CASE("writer reports values the wire cannot carry", "[wire]") {
  ByteBuffer buf;
  Writer w(&buf);
  w.String(std::string(40000, 'x'), /*flexible=*/false);
  CHECK_FALSE(w.status().ok());
  ByteBuffer buf2;
  Writer w2(&buf2);
  w2.String(std::string(40000, 'x'), /*flexible=*/true);
  CHECK(w2.status().ok());
  w2.OptString(std::nullopt, true, /*nullable_here=*/false, "Topic.name");
  CHECK(w2.status().message().find("Topic.name") != std::string_view::npos);
}

TEST_CASE("UUIDs", "[wire]") {
  Uuid u;
  CHECK(u.IsZero());
  CHECK(u.ToString() == "AAAAAAAAAAAAAAAAAAAAAA");
  u.bytes[15] = 1;
  CHECK_FALSE(u.IsZero());
  Bytes b = Write([&](Writer& w) { w.UuidValue(u); });
  REQUIRE(b.size() == 16);
  Reader r(b);
  CHECK(r.UuidValue("topic_id") == u);
  Reader r2(std::span<const uint8_t>(b).first(15));
  CHECK(r2.UuidValue("topic_id").IsZero());
  CHECK_FALSE(r2.ok());
}

}  // namespace
}  // namespace runnel::protocol
