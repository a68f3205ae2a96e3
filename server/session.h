#ifndef BASIN_SERVER_SESSION_H_
#define BASIN_SERVER_SESSION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <condition_variable>
#include <mutex>
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/aligned_buffer.h"
#include "core/layout.h"
#include "core/optimizer_registry.h"
#include "server/server_metrics.h"

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

// What a session does with a gradient or loss holding NaN or Inf (SessionSpec.nonfinite_policy).
enum class NonFinitePolicy {
  kReject,  // INVALID_ARGUMENT naming the element; nothing changes
  kSkip,    // kSkipped: nothing changes, the worker recomputes the same tick on another minibatch
};

// What happened to one worker's gradient.
enum class TickOutcome { kApplied, kDuplicate, kDropped, kSkipped };

struct SessionCounters {
  int64_t gradients_dropped = 0;
  int64_t gradients_duplicate = 0;
  int64_t gradients_stale_applied = 0;
  int64_t gradients_skipped = 0;
};

// The query point of one tick, copied out so it can be sent without holding the session.
template <typename Real>
struct QueryPoint {
  int64_t tick = 0;
  int64_t step = 0;
  int64_t phase = 0;
  int64_t minibatch_key = 0;
  std::vector<Real> values;
};

// One optimizer run: the optimizer plus the bookkeeping of its workers' ticks. Thread-safe; every
// method takes the session's lock, and a rejected call changes nothing.
//
// Sync mode: tick T is open until `quorum` workers have sent a gradient for it. Their gradients
// are kept per worker and, when the quorum is complete, averaged in double in ascending worker
// order (weighted by batch size) and rounded once to the state dtype, so the result does not
// depend on arrival order. A gradient for T arriving after T closed is dropped and counted.
// Async mode: a gradient for tick t is applied at the current tick T if T − t ≤ max_staleness,
// otherwise refused with ABORTED. Ticks from the future are INVALID_ARGUMENT in both modes.
// A gradient that would be applied (or join a quorum) but holds NaN or Inf, in an element or the
// loss, is refused or skipped as the NonFinitePolicy says; a skipped one is in no quorum.
class Session {
 public:
  // `metrics_run` is the session's per-run metrics label ("" for none); `metrics` (may be null)
  // receives its ticks, steps, stale and non-finite gradients.
  Session(std::string id, AnyOptimizer optimizer, WorkerPolicy workers, std::string metrics_run = "",
          ServerMetrics* metrics = nullptr, NonFinitePolicy nonfinite_policy = NonFinitePolicy::kReject);

  const std::string& id() const { return id_; }
  const ParameterLayout& layout() const { return layout_; }
  DType dtype() const { return dtype_; }
  const OptimizerSpec& spec() const { return spec_; }
  const WorkerPolicy& workers() const { return workers_; }
  NonFinitePolicy nonfinite_policy() const { return nonfinite_policy_; }
  const std::string& metrics_run() const { return metrics_run_; }
  // The metrics series of this session's optimizer; nullptr without metrics.
  const OptimizerSeries* series() const { return series_; }

  template <typename Real>
  absl::StatusOr<TickOutcome> SubmitGradient(int worker, int64_t tick, absl::Span<const Real> gradient, double loss,
                                             double batch_size);

  // Blocks until the session's tick exceeds `tick`, the deadline passes or `cancelled()` is true;
  // returns whether the tick advanced.
  bool WaitForTickAfter(int64_t tick, absl::Time deadline, const std::function<bool()>& cancelled);

  template <typename Real>
  QueryPoint<Real> CopyQuery() const;

  // Marks the session deleted: later gradients get NOT_FOUND and quorum waiters wake up.
  void Close();
  bool closed() const;

  int64_t tick() const;
  OptimizerStats Stats() const;
  SessionCounters counters() const;
  int64_t state_bytes() const;

  // Runs fn(optimizer) under the session lock: for parameters, samples and serialization.
  template <typename Fn>
  auto WithOptimizer(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::visit([&](const auto& o) { return fn(*o); }, optimizer_);
  }
  // Ticks and steps the call advances are counted in the session's metrics.
  template <typename Fn>
  auto WithMutableOptimizer(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::visit(
        [&](auto& o) {
          const int64_t tick = o->tick(), step = o->step();
          auto result = fn(*o);
          CountProgress(o->tick() - tick, o->step() - step);
          tick_changed_.notify_all();  // the caller may have advanced the tick
          return result;
        },
        optimizer_);
  }

 private:
  // Tell under the lock, timed and counted in the metrics.
  template <typename Real>
  absl::Status TellCounted(Optimizer<Real>& o, absl::Span<const Real> gradient, double loss);
  void CountProgress(int64_t ticks, int64_t steps);
  void CountEvent(prometheus::Counter& (ServerMetrics::*counter)());
  // Under NonFinitePolicy::kSkip: true, and counted, when the gradient or loss holds NaN or Inf.
  // Under kReject the optimizer's own check refuses it, so the default path reads the gradient once.
  template <typename Real>
  bool SkipNonFinite(absl::Span<const Real> gradient, double loss);
  // Returns the optimizer's refusal of a gradient, counted as a non-finite rejection if it was one.
  template <typename Real>
  absl::Status CountRefusal(absl::Status refusal, absl::Span<const Real> gradient, double loss);

  template <typename Real>
  absl::StatusOr<TickOutcome> SubmitSync(Optimizer<Real>& o, int worker, int64_t tick,
                                         absl::Span<const Real> gradient, double loss, double batch_size);
  template <typename Real>
  absl::StatusOr<TickOutcome> SubmitAsync(Optimizer<Real>& o, int worker, int64_t tick,
                                          absl::Span<const Real> gradient, double loss);

  const std::string id_;
  const ParameterLayout layout_;
  const DType dtype_;
  const OptimizerSpec spec_;
  const WorkerPolicy workers_;
  const NonFinitePolicy nonfinite_policy_;
  const std::string metrics_run_;
  ServerMetrics* const metrics_;
  const OptimizerSeries* const series_;

  // std::mutex, not absl::Mutex: TSan sees pthread locks, and Debian's Abseil is not instrumented.
  mutable std::mutex mu_;
  AnyOptimizer optimizer_;
  SessionCounters counters_;
  bool closed_ = false;
  std::condition_variable tick_changed_;  // notified whenever the tick advances
  // Sync: the gradients of the open tick by worker (each with its loss and weight).
  struct Contribution {
    std::vector<double> gradient;
    double loss = 0;
    double weight = 1;
  };
  std::map<int, Contribution> pending_;
  // Sync: which workers contributed to the tick that closed last, to tell a late duplicate from a
  // drop. Async: the newest tick each worker sent.
  std::map<int, int64_t> last_tick_of_worker_;
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_H_
