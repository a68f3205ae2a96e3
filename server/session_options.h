#ifndef BASIN_SERVER_SESSION_OPTIONS_H_
#define BASIN_SERVER_SESSION_OPTIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace basin {

// How the gradients of a session's workers combine (docs/protocol.md, "Workers").
struct WorkerPolicy {
  enum class Mode { kSync, kAsync };
  int num_workers = 1;
  Mode mode = Mode::kSync;
  int quorum = 1;          // sync: a tick closes with this many gradients
  int max_staleness = 0;   // async: τ

  absl::Status Check(int64_t ticks_per_step) const;
};

// How much of a session survives a crash (docs/persistence.md).
struct Durability {
  enum class Mode : uint8_t { kNone = 0, kPeriodic = 1, kEveryTick = 2 };
  Mode mode = Mode::kPeriodic;
  // Between snapshots (every_tick: between log compactions). Zero: the server's default.
  absl::Duration snapshot_interval = absl::ZeroDuration();

  bool persisted() const { return mode != Mode::kNone; }
};

const char* DurabilityModeName(Durability::Mode mode);

// What a session does with a gradient or loss holding NaN or Inf (SessionSpec.nonfinite_policy).
enum class NonFinitePolicy : uint8_t {
  kReject = 0,  // INVALID_ARGUMENT naming the element; nothing changes
  kSkip = 1,    // kSkipped: nothing changes, the worker recomputes the same tick on another minibatch
};

// The session's counts of gradients that did not move it (SessionStats).
struct SessionCounters {
  int64_t gradients_dropped = 0;
  int64_t gradients_duplicate = 0;
  int64_t gradients_stale_applied = 0;
  int64_t gradients_skipped = 0;
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_OPTIONS_H_
