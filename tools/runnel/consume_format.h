// How `runnel consume -f FORMAT` prints a record: a kcat-like format string
// compiled once into literal pieces and fields.
//
//   absl::StatusOr<RecordFormat> format = RecordFormat::Parse("%k=%s (%p@%o)\n");
//   if (!format.ok()) return format.status();  // names the bad directive
//   std::string line;
//   format->Append(record, &line);             // "k1=v1 (0@42)\n"
//
// Directives: %t topic, %p partition, %o offset, %k key, %s value,
// %T timestamp (ms), %h headers ("k=v,k2=v2"; a null header value prints as
// "k"), %K key size, %S value size (-1 for a null key or value), %% a '%'.
// Escapes: \n, \t, \r, \\. A null key or value prints as nothing, as kcat
// prints it without -Z. Anything else after '%' or '\' is an error, so a
// typo does not print silently wrong output. Immutable after Parse: any
// thread may call Append.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/consumer.h"

namespace runnel::tools {

class RecordFormat {
 public:
  static absl::StatusOr<RecordFormat> Parse(std::string_view format);

  // Appends `record` as the format says to `out`.
  void Append(const ConsumerRecord& record, std::string* out) const;

 private:
  enum class Field : char {
    kLiteral,
    kTopic,
    kPartition,
    kOffset,
    kKey,
    kValue,
    kTimestamp,
    kHeaders,
    kKeySize,
    kValueSize,
  };
  struct Piece {
    Field field;
    std::string literal;  // kLiteral only
  };

  std::vector<Piece> pieces_;
};

}  // namespace runnel::tools
