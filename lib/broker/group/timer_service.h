// Timers for the group coordinator: session expiry, rebalance deadlines and
// the initial rebalance delay all run through a TimerService, so tests drive
// them with ManualTimerService (time moves only when the test says) and the
// broker uses ThreadTimerService (one thread of its own).
//
//   ManualTimerService timers(/*start_ms=*/1000);
//   timers.Schedule(500, [] { Expire(); });
//   timers.AdvanceMs(500);  // runs Expire() on this thread
//
// Both are also a storage::Clock, so the coordinator reads "now" from the
// same source that fires its timers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log_options.h"

namespace runnel::broker::group {

using TimerId = uint64_t;

// Thread-safe. Callbacks run without any TimerService lock held, so they may
// schedule and cancel timers; they run on the service's thread (or the
// AdvanceMs caller's) and must not block for long.
class TimerService : public storage::Clock {
 public:
  // Runs `fn` once, `delay_ms` from now (<= 0: as soon as possible).
  virtual TimerId Schedule(int64_t delay_ms, std::function<void()> fn) = 0;
  // Best effort: true when the timer was removed before running. A callback
  // already running is not waited for, so callers re-check their state.
  virtual bool Cancel(TimerId id) = 0;
};

// Time stands still until AdvanceMs; due timers run in deadline order (ties
// in scheduling order) on the caller's thread.
class ManualTimerService final : public TimerService {
 public:
  explicit ManualTimerService(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}

  int64_t NowMs() const override;
  TimerId Schedule(int64_t delay_ms, std::function<void()> fn) override;
  bool Cancel(TimerId id) override;

  // Moves time forward by `ms`, running each timer due on the way with the
  // clock set to its deadline (so a timer scheduled by a callback and due
  // before the end runs too).
  void AdvanceMs(int64_t ms);
  // Runs the timers already due (delay 0) without moving time.
  void RunDue() { AdvanceMs(0); }
  size_t pending() const;

 private:
  mutable absl::Mutex mu_;
  int64_t now_ms_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // (deadline, id) -> callback; ids increase, so ties run in order.
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
};

// Wall-clock timers on one thread owned by the service; Shutdown (or the
// destructor) stops it.
class ThreadTimerService final : public TimerService {
 public:
  ThreadTimerService();
  ~ThreadTimerService() override;
  ThreadTimerService(const ThreadTimerService&) = delete;
  ThreadTimerService& operator=(const ThreadTimerService&) = delete;

  int64_t NowMs() const override { return storage::Clock::System()->NowMs(); }
  // After Shutdown: drops `fn` and returns 0.
  TimerId Schedule(int64_t delay_ms, std::function<void()> fn) override;
  bool Cancel(TimerId id) override;

  // Waits for a running callback, stops the thread and destroys the timers
  // not yet due without running them; later Schedules are dropped. The
  // broker calls it at Stop, before the objects callbacks reach (parked
  // fetches answer through connections of the net server) go away. Not
  // from a callback. Idempotent.
  void Shutdown();

 private:
  void Run();

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace runnel::broker::group
