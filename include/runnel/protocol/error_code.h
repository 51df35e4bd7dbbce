// Kafka error codes (enum class ErrorCode, ErrorCodeName, IsRetriable,
// ErrorCodeToStatus). Generated at build time from
// lib/protocol/schema/errors.schema into runnel/protocol/messages/error_code.h;
// this header is its stable name.
#pragma once

#include "runnel/protocol/messages/error_code.h"  // IWYU pragma: export
