// The generated error-code table: names, retriable flags and the Status
// bridge that keeps the Kafka code retrievable.
#include "runnel/protocol/error_code.h"

#include "catch2/catch.hpp"

namespace runnel::protocol {
namespace {

TEST_CASE("error codes carry Kafka's numbers, names and retriable flags", "[error_code]") {
  CHECK(static_cast<int16_t>(ErrorCode::kNone) == 0);
  CHECK(static_cast<int16_t>(ErrorCode::kUnknownServerError) == -1);
  CHECK(static_cast<int16_t>(ErrorCode::kOffsetOutOfRange) == 1);
  CHECK(static_cast<int16_t>(ErrorCode::kNotLeaderOrFollower) == 6);
  CHECK(ErrorCodeName(ErrorCode::kOffsetOutOfRange) == "OFFSET_OUT_OF_RANGE");
  CHECK(ErrorCodeName(static_cast<ErrorCode>(12345)) == "UNKNOWN_ERROR_CODE");
  CHECK(IsRetriable(ErrorCode::kNotLeaderOrFollower));
  CHECK(IsRetriable(ErrorCode::kUnknownTopicOrPartition));
  CHECK_FALSE(IsRetriable(ErrorCode::kTopicAuthorizationFailed));
  CHECK_FALSE(IsRetriable(ErrorCode::kNone));
  CHECK_FALSE(IsRetriable(static_cast<ErrorCode>(12345)));
  CHECK(IsKnownErrorCode(0));
  CHECK_FALSE(IsKnownErrorCode(12345));
  CHECK_FALSE(ErrorCodeMessage(ErrorCode::kCorruptMessage).empty());
}

TEST_CASE("error codes survive the trip through absl::Status", "[error_code]") {
  CHECK(ErrorCodeToStatus(ErrorCode::kNone, "x").ok());
  absl::Status s = ErrorCodeToStatus(ErrorCode::kNotLeaderOrFollower, "produce t-0");
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK(s.message().find("produce t-0: NOT_LEADER_OR_FOLLOWER (6)") == 0);
  CHECK(ErrorCodeFromStatus(s) == ErrorCode::kNotLeaderOrFollower);
  absl::Status fatal = ErrorCodeToStatus(ErrorCode::kTopicAuthorizationFailed, "");
  CHECK(fatal.code() == absl::StatusCode::kAborted);
  CHECK(ErrorCodeFromStatus(fatal) == ErrorCode::kTopicAuthorizationFailed);
  CHECK(ErrorCodeFromStatus(absl::InternalError("no code")) == std::nullopt);
}

}  // namespace
}  // namespace runnel::protocol
