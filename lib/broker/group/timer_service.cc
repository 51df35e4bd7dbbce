#include "broker/group/timer_service.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace runnel::broker::group {
namespace {

// Removes `id` from a (deadline, id)-keyed map; linear, as timers are few
// (a handful per group) and cancels are rare next to the work they guard.
template <typename Map>
bool EraseId(Map& timers, TimerId id) {
  auto it = std::find_if(timers.begin(), timers.end(),
                         [id](const auto& entry) { return entry.first.second == id; });
  if (it == timers.end()) return false;
  timers.erase(it);
  return true;
}

}  // namespace

int64_t ManualTimerService::NowMs() const {
  absl::MutexLock lock(&mu_);
  return now_ms_;
}

TimerId ManualTimerService::Schedule(int64_t delay_ms, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const TimerId id = next_id_++;
  timers_.emplace(std::make_pair(now_ms_ + std::max<int64_t>(delay_ms, 0), id), std::move(fn));
  return id;
}

bool ManualTimerService::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  return EraseId(timers_, id);
}

void ManualTimerService::AdvanceMs(int64_t ms) {
  int64_t end;
  {
    absl::MutexLock lock(&mu_);
    end = now_ms_ + std::max<int64_t>(ms, 0);
  }
  for (;;) {
    std::function<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      auto it = timers_.begin();
      if (it == timers_.end() || it->first.first > end) {
        now_ms_ = end;
        return;
      }
      now_ms_ = std::max(now_ms_, it->first.first);
      fn = std::move(it->second);
      timers_.erase(it);
    }
    fn();
  }
}

size_t ManualTimerService::pending() const {
  absl::MutexLock lock(&mu_);
  return timers_.size();
}

ThreadTimerService::ThreadTimerService() : thread_([this] { Run(); }) {}

ThreadTimerService::~ThreadTimerService() { Shutdown(); }

void ThreadTimerService::Shutdown() {
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> dropped;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    dropped.swap(timers_);
  }
  // Destroyed here, without mu_: a callback's captures may Cancel on the
  // way out.
}

TimerId ThreadTimerService::Schedule(int64_t delay_ms, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (stop_) return 0;  // `fn` is destroyed by the caller, after mu_ is released
  const TimerId id = next_id_++;
  timers_.emplace(std::make_pair(NowMs() + std::max<int64_t>(delay_ms, 0), id), std::move(fn));
  return id;
}

bool ThreadTimerService::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  return EraseId(timers_, id);
}

void ThreadTimerService::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    auto it = timers_.begin();
    const int64_t now = NowMs();
    if (it == timers_.end() || it->first.first > now) {
      // Sleeps until the earliest deadline (at most 100 ms, a guard against
      // clock steps) and wakes at once on stop or when Schedule adds a timer
      // due sooner: the condition is re-checked whenever another thread
      // releases mu_. A long-poll fetch woken by new data schedules itself
      // with delay 0 and must not wait out the sleep.
      const int64_t until =
          it == timers_.end() ? now + 100 : std::min<int64_t>(it->first.first, now + 100);
      auto stop_or_sooner = [this, until]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || (!timers_.empty() && timers_.begin()->first.first < until);
      };
      mu_.AwaitWithTimeout(absl::Condition(&stop_or_sooner), absl::Milliseconds(until - now));
      continue;
    }
    std::function<void()> fn = std::move(it->second);
    timers_.erase(it);
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace runnel::broker::group
