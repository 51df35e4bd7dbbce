// Status propagation macros for absl::Status / absl::StatusOr.
//
// Abseil 20220623 (Debian 12) ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN, so
// Runnel defines its own, prefixed to stay out of users' way.
//
//   absl::StatusOr<Header> ParseHeader(Reader& r);
//
//   absl::Status Handle(Reader& r) {
//     RUNNEL_ASSIGN_OR_RETURN(Header h, ParseHeader(r));
//     RUNNEL_RETURN_IF_ERROR(Validate(h));
//     return absl::OkStatus();
//   }
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RUNNEL_INTERNAL_CONCAT_(a, b) a##b
#define RUNNEL_INTERNAL_CONCAT(a, b) RUNNEL_INTERNAL_CONCAT_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RUNNEL_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status runnel_status_ = (expr);          \
    if (!runnel_status_.ok()) return runnel_status_; \
  } while (false)

// Evaluates `rexpr` (a StatusOr); on error returns its status, otherwise
// move-assigns the value to `lhs`, which may be a declaration.
#define RUNNEL_ASSIGN_OR_RETURN(lhs, rexpr) \
  RUNNEL_INTERNAL_ASSIGN_OR_RETURN(         \
      RUNNEL_INTERNAL_CONCAT(runnel_statusor_, __LINE__), lhs, rexpr)

#define RUNNEL_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                     \
  if (!tmp.ok()) return std::move(tmp).status();          \
  lhs = std::move(tmp).value()
