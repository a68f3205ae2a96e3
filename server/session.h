#ifndef BASIN_SERVER_SESSION_H_
#define BASIN_SERVER_SESSION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/aligned_buffer.h"
#include "core/layout.h"
#include "core/optimizer_registry.h"
#include "server/persistence/session_image.h"
#include "server/persistence/session_store.h"
#include "server/persistence/write_ahead_log.h"
#include "server/server_metrics.h"
#include "server/session_options.h"

namespace basin {

// What happened to one worker's gradient.
enum class TickOutcome { kApplied, kDuplicate, kDropped, kSkipped };

// The query point of one tick, copied out so it can be sent without holding the session.
template <typename Real>
struct QueryPoint {
  int64_t tick = 0;
  int64_t step = 0;
  int64_t phase = 0;
  int64_t minibatch_key = 0;
  std::vector<Real> values;
};

// What a session keeps beside its optimizer and worker policy, and persists with it.
struct SessionSettings {
  std::string tenant;  // who owns it ("" is the default tenant of a server without tokens)
  std::string request_id;  // the create request that made it (idempotent across restarts)
  std::string fingerprint;
  Durability durability;
  NonFinitePolicy nonfinite_policy = NonFinitePolicy::kReject;
};

// What describes a session without its optimizer state: enough for GetSession, ListSessions,
// GetSessionStats and the per-run metrics, also while the session is evicted from memory.
struct SessionSummary {
  std::string id;
  ParameterLayout layout;
  DType dtype = DType::kF32;
  OptimizerSpec spec;
  WorkerPolicy workers;
  SessionSettings settings;
  std::string metrics_run;
  OptimizerStats stats;
  SessionCounters counters;
  int64_t state_bytes = 0;
  int64_t durable_tick = 0;
  bool resident = true;  // false: evicted, its state on disk until its next use
  // Non-empty for a session that could not be recovered: why (the other fields are then empty).
  std::string failure;

  const std::string& tenant() const { return settings.tenant; }
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
          ServerMetrics* metrics = nullptr, SessionSettings settings = {});

  // --- Persistence (docs/persistence.md) ---
  // A session made from its files: the snapshot, with the log after it replayed through the same
  // code that applied it, then persisting again. DataLoss says what on disk is damaged.
  // `replayed` (may be null) receives the number of log records replayed.
  static absl::StatusOr<std::shared_ptr<Session>> Recover(SessionStore& store, const std::string& id,
                                                          ServerMetrics* metrics, int64_t* replayed = nullptr);
  // Writes the first snapshot and, for every_tick, opens the log; from then on the session
  // persists itself as its durability says. Not for durability none.
  absl::Status StartPersisting(SessionStore* store);
  // A snapshot now (for every_tick it also starts a new log and drops the old one).
  absl::Status Snapshot();
  // Whether the session changed since its last snapshot and its interval has passed (or its log
  // outgrew its state).
  bool SnapshotDue(absl::Time now, absl::Duration default_interval) const;
  // every_tick: returns once every change applied so far is in the log on disk. Call before a
  // change is acknowledged and before a query point it produced is shown.
  absl::Status MakeDurable();
  // Removes the session's files (after Close).
  absl::Status RemoveFiles();
  // The session restarts at least at this tick after a crash (0 when nothing is on disk).
  int64_t durable_tick() const;
  const SessionSettings& settings() const { return settings_; }
  SessionSummary Summary() const;
  // The last time a call used the session (SessionManager::Get, a gradient): what idle means.
  void Touch() { last_used_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_relaxed); }
  absl::Time last_used() const { return absl::FromUnixNanos(last_used_ns_.load(std::memory_order_relaxed)); }
  // Overwrites the model or the anchor (logged for every_tick).
  template <typename Real>
  absl::Status SetParameters(bool anchor, absl::Span<const Real> values);

  const std::string& id() const { return id_; }
  const ParameterLayout& layout() const { return layout_; }
  DType dtype() const { return dtype_; }
  const OptimizerSpec& spec() const { return spec_; }
  const WorkerPolicy& workers() const { return workers_; }
  NonFinitePolicy nonfinite_policy() const { return settings_.nonfinite_policy; }
  const std::string& metrics_run() const { return metrics_run_; }
  const std::string& tenant() const { return settings_.tenant; }
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
  int64_t state_bytes() const { return state_bytes_; }

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
    dirty_ = true;
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
  // The snapshot of the session as it is; mu_ held.
  SessionImage ImageLocked() const;
  // Logs an accepted change before it is applied (every_tick); mu_ held. A failure refuses the
  // change: nothing was applied.
  absl::Status LogLocked(WalRecord record, absl::string_view values, int64_t tick_after);
  absl::Status Replay(const WalRecord& record);
  // every_tick: starts the log after last_seq_ and drops older ones.
  absl::Status OpenLog();

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
  const int64_t state_bytes_;  // fixed for the session's life: its layout and variables never change
  const WorkerPolicy workers_;
  const std::string metrics_run_;
  const SessionSettings settings_;
  std::atomic<int64_t> last_used_ns_{absl::GetCurrentTimeNanos()};
  ServerMetrics* const metrics_;
  const OptimizerSeries* const series_;

  // std::mutex, not absl::Mutex: TSan sees pthread locks, and Debian's Abseil is not instrumented.
  mutable std::mutex mu_;
  AnyOptimizer optimizer_;
  SessionCounters counters_;
  bool closed_ = false;
  std::condition_variable tick_changed_;  // notified whenever the tick advances
  // Sync: the gradients of the open tick by worker (each with its loss and weight).
  std::map<int, PendingContribution> pending_;
  // Sync: which workers contributed to the tick that closed last, to tell a late duplicate from a
  // drop. Async: the newest tick each worker sent.
  std::map<int, int64_t> last_tick_of_worker_;

  // Persistence: set by StartPersisting; mu_ guards them, snapshot_mu_ serializes snapshots.
  std::mutex snapshot_mu_;
  SessionStore* store_ = nullptr;
  std::shared_ptr<WriteAheadLog> wal_;  // every_tick only
  uint64_t last_seq_ = 0;               // without a log: the last record replayed
  bool dirty_ = false;                  // changed since the last snapshot
  absl::Time last_snapshot_ = absl::InfinitePast();
  int64_t snapshot_tick_ = 0;           // the tick of the newest durable snapshot
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_H_
