#ifndef BASIN_BENCH_SOAK_TICK_LEDGER_H_
#define BASIN_BENCH_SOAK_TICK_LEDGER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "basin/v1/optimizer_service.pb.h"
#include "bench/soak/soak_mix.h"

namespace basin::soak {

// What one worker knows about the fate of its gradients: the acks it read, and for a gradient
// whose ack it never read (its stream was cancelled after the send), what a resend answered.
// Owned by the worker's thread; merged per session once the workers have stopped.
class WorkerLedger {
 public:
  explicit WorkerLedger(int worker) : worker_(worker) {}

  // The worker's gradient for `tick` is in the session's state (alone, in a quorum or async):
  // an APPLIED ack, or a DUPLICATE for the resend of a gradient whose ack was never read. A
  // worker's ticks only grow, so one at or below the last is a tick applied twice.
  void Contributed(int64_t tick);
  // Counts an ack by outcome (Contributed records what an APPLIED one means).
  void Ack(const v1::TickAck& ack);
  void Violation(std::string what) { violations_.push_back(std::move(what)); }

  // A gradient was sent (some or all of its chunks) and its ack never read: the server may or may
  // not have handled it, and its counters may hold one more duplicate, drop or skip than the acks.
  void SentWithoutAck() { ++unacknowledged_; }
  // What a resend found out about a gradient whose ack was never read.
  enum class Fate { kAppliedBefore, kAppliedByResend, kNotApplied, kCount };
  void Resolved(Fate fate) { ++resolved_[static_cast<std::size_t>(fate)]; }
  // An acknowledged gradient resent on purpose (it must come back DUPLICATE).
  void Probed() { ++probes_; }

  int worker() const { return worker_; }
  const std::vector<int64_t>& contributed() const { return contributed_; }
  int64_t acks(v1::TickAck::Outcome outcome) const { return acks_[static_cast<std::size_t>(outcome)]; }
  int64_t unacknowledged() const { return unacknowledged_; }
  int64_t resolved(Fate fate) const { return resolved_[static_cast<std::size_t>(fate)]; }
  int64_t probes() const { return probes_; }
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  int worker_;
  std::vector<int64_t> contributed_;
  std::array<int64_t, 5> acks_{};  // by TickAck::Outcome
  int64_t unacknowledged_ = 0;
  std::array<int64_t, static_cast<std::size_t>(Fate::kCount)> resolved_{};
  int64_t probes_ = 0;
  std::vector<std::string> violations_;
};

// The end of a session's soak, as the server reports it.
struct SessionEnd {
  v1::Session session;
  v1::SessionStats stats;
  int64_t checkpoint_tick = -1;  // the tick of the state ExportSession returned, once decoded
};

// No lost tick, and nothing applied twice: the ticks the workers know they contributed must be
// exactly the session's ticks (one worker: ticks 0 .. tick − 1, each once; a sync quorum of q:
// every closed tick has q contributions, the open one fewer; async: one contribution per tick),
// and the server's counters of duplicates, drops and skips lie between what the acks counted and
// that plus the gradients whose ack was never read (async: at most every tick applied stale).
// Returns the violations.
std::vector<std::string> CheckSession(const SessionPlan& plan, const SessionEnd& end,
                                      const std::vector<const WorkerLedger*>& workers);

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_TICK_LEDGER_H_
