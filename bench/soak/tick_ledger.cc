#include "bench/soak/tick_ledger.h"

#include "absl/strings/str_cat.h"

namespace basin::soak {

void WorkerLedger::Contributed(int64_t tick) {
  if (!contributed_.empty() && tick <= contributed_.back()) {
    Violation(absl::StrCat("worker ", worker_, "'s gradient for tick ", tick,
                           " was applied after its gradient for tick ", contributed_.back(), ": applied twice"));
    return;
  }
  contributed_.push_back(tick);
}

void WorkerLedger::Ack(const v1::TickAck& ack) {
  const int outcome = ack.outcome();
  if (outcome <= v1::TickAck::OUTCOME_UNSPECIFIED || outcome >= static_cast<int>(acks_.size())) {
    Violation(absl::StrCat("worker ", worker_, ": ack for tick ", ack.tick(), " has outcome ", outcome));
    return;
  }
  ++acks_[static_cast<std::size_t>(outcome)];
}

std::vector<std::string> CheckSession(const SessionPlan& plan, const SessionEnd& end,
                                      const std::vector<const WorkerLedger*>& workers) {
  std::vector<std::string> violations;
  const std::string who = absl::StrCat(plan.label, " (", end.session.session_id(), "): ");
  auto fail = [&](std::string what) { violations.push_back(absl::StrCat(who, what)); };
  const int64_t tick = end.session.tick();
  if (end.stats.tick() != tick) {
    fail(absl::StrCat("GetSessionStats says tick ", end.stats.tick(), ", GetSession ", tick));
  }
  if (end.checkpoint_tick != tick) {
    fail(absl::StrCat("the exported state is at tick ", end.checkpoint_tick, ", the session at ", tick));
  }

  int64_t contributions = 0, unacknowledged = 0;
  for (const WorkerLedger* w : workers) {
    contributions += static_cast<int64_t>(w->contributed().size());
    unacknowledged += w->unacknowledged();
  }
  if (plan.async) {
    // Each applied gradient is one tick.
    if (contributions != tick) {
      fail(absl::StrCat("the workers know of ", contributions, " applied gradients; the session is at tick ", tick));
    }
    if (end.stats.gradients_stale_applied() > contributions) {
      fail(absl::StrCat(end.stats.gradients_stale_applied(), " gradients applied stale, of ", contributions));
    }
  } else {
    // Every closed tick took exactly a quorum; the open one holds fewer.
    std::vector<int> count(static_cast<std::size_t>(tick) + 1, 0);
    for (const WorkerLedger* w : workers) {
      for (int64_t t : w->contributed()) {
        if (t > tick) {
          fail(absl::StrCat("worker ", w->worker(), "'s gradient for tick ", t, " was acknowledged, beyond tick ",
                            tick));
        } else {
          ++count[static_cast<std::size_t>(t)];
        }
      }
    }
    int reported = 0;
    for (int64_t t = 0; t <= tick && reported < 5; ++t) {
      const int want = t < tick ? plan.quorum : -1;
      const int got = count[static_cast<std::size_t>(t)];
      if ((t < tick && got != want) || (t == tick && got >= plan.quorum)) {
        fail(t < tick ? absl::StrCat("tick ", t, " closed with ", got, " known contributions; the quorum is ",
                                     plan.quorum, got < want ? " (a lost tick)" : " (applied twice)")
                      : absl::StrCat("the open tick ", t, " holds ", got, " known contributions; the quorum is ",
                                     plan.quorum));
        ++reported;
      }
    }
  }

  // The server's counters against the acks: each gradient whose ack was never read may have
  // added one more.
  struct Counter {
    const char* name;
    v1::TickAck::Outcome outcome;
    int64_t server;
  };
  for (const Counter& c :
       {Counter{"gradients_duplicate", v1::TickAck::OUTCOME_DUPLICATE, end.stats.gradients_duplicate()},
        Counter{"gradients_dropped", v1::TickAck::OUTCOME_DROPPED, end.stats.gradients_dropped()},
        Counter{"gradients_skipped", v1::TickAck::OUTCOME_SKIPPED, end.stats.gradients_skipped()}}) {
    int64_t acked = 0;
    for (const WorkerLedger* w : workers) acked += w->acks(c.outcome);
    if (c.server < acked || c.server > acked + unacknowledged) {
      fail(absl::StrCat("SessionStats.", c.name, " is ", c.server, "; the acks say ", acked, " (+ at most ",
                        unacknowledged, " gradients whose ack was never read)"));
    }
  }
  for (const WorkerLedger* w : workers) {
    for (const std::string& v : w->violations()) fail(v);
  }
  return violations;
}

}  // namespace basin::soak
