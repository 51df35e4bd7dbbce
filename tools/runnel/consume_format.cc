#include "tools/runnel/consume_format.h"

#include "absl/strings/str_cat.h"

namespace runnel::tools {

absl::StatusOr<RecordFormat> RecordFormat::Parse(std::string_view format) {
  RecordFormat f;
  std::string literal;
  auto flush = [&] {
    if (literal.empty()) return;
    f.pieces_.push_back({Field::kLiteral, std::move(literal)});
    literal.clear();
  };
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%' && c != '\\') {
      literal.push_back(c);
      continue;
    }
    if (i + 1 == format.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("format ends in a lone '", std::string(1, c), "'"));
    }
    const char d = format[++i];
    if (c == '\\') {
      switch (d) {
        case 'n':
          literal.push_back('\n');
          break;
        case 't':
          literal.push_back('\t');
          break;
        case 'r':
          literal.push_back('\r');
          break;
        case '\\':
          literal.push_back('\\');
          break;
        default:
          return absl::InvalidArgumentError(absl::StrCat("unknown escape '\\", std::string(1, d),
                                                         "' in the format (\\n \\t \\r \\\\)"));
      }
      continue;
    }
    Field field;
    switch (d) {
      case '%':
        literal.push_back('%');
        continue;
      case 't':
        field = Field::kTopic;
        break;
      case 'p':
        field = Field::kPartition;
        break;
      case 'o':
        field = Field::kOffset;
        break;
      case 'k':
        field = Field::kKey;
        break;
      case 's':
        field = Field::kValue;
        break;
      case 'T':
        field = Field::kTimestamp;
        break;
      case 'h':
        field = Field::kHeaders;
        break;
      case 'K':
        field = Field::kKeySize;
        break;
      case 'S':
        field = Field::kValueSize;
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unknown directive '%", std::string(1, d),
                         "' in the format (%t %p %o %k %s %T %h %K %S %%)"));
    }
    flush();
    f.pieces_.push_back({field, ""});
  }
  flush();
  return f;
}

namespace {

int64_t SizeOf(const std::optional<std::string_view>& s) {
  return s.has_value() ? static_cast<int64_t>(s->size()) : -1;
}

}  // namespace

void RecordFormat::Append(const ConsumerRecord& r, std::string* out) const {
  for (const Piece& p : pieces_) {
    switch (p.field) {
      case Field::kLiteral:
        out->append(p.literal);
        break;
      case Field::kTopic:
        out->append(r.topic);
        break;
      case Field::kPartition:
        absl::StrAppend(out, r.partition);
        break;
      case Field::kOffset:
        absl::StrAppend(out, r.offset);
        break;
      case Field::kKey:
        out->append(r.key.value_or(""));
        break;
      case Field::kValue:
        out->append(r.value.value_or(""));
        break;
      case Field::kTimestamp:
        absl::StrAppend(out, r.timestamp_ms);
        break;
      case Field::kKeySize:
        absl::StrAppend(out, SizeOf(r.key));
        break;
      case Field::kValueSize:
        absl::StrAppend(out, SizeOf(r.value));
        break;
      case Field::kHeaders:
        for (size_t i = 0; i < r.headers.size(); ++i) {
          if (i > 0) out->push_back(',');
          out->append(r.headers[i].first);
          if (r.headers[i].second.has_value()) {
            out->push_back('=');
            out->append(*r.headers[i].second);
          }
        }
        break;
    }
  }
}

}  // namespace runnel::tools
