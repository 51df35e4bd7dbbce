// The table of every Kafka API Runnel speaks (ApiKey, AllApis, FindApi,
// DecodeAnyRequest/Response). Generated at build time from
// lib/protocol/schema/ into runnel/protocol/messages/api_keys.h; this header
// is its stable name.
#pragma once

#include "runnel/protocol/messages/api_keys.h"  // IWYU pragma: export
