#ifndef BASIN_BENCH_SOAK_SOAK_WORKER_H_
#define BASIN_BENCH_SOAK_SOAK_WORKER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/soak/cancel_slot.h"
#include "bench/soak/soak_mix.h"
#include "bench/soak/status_tally.h"
#include "bench/soak/tick_ledger.h"
#include "client/cpp/basin_client.h"

namespace basin::soak {

// How a worker's stream ended before it reconnected.
enum class Disconnect {
  kRandomMoment,   // the canceller thread cancelled it wherever the worker was
  kCancelBetween,  // the worker cancelled it holding a query point
  kCloseBetween,   // the worker half-closed it between ticks (a clean end: OK)
  kAfterSend,      // the worker sent a gradient and cancelled before reading its ack
  kMidTick,        // the worker sent part of a gradient's chunks, then cancelled
  kCount,
};
const char* DisconnectName(Disconnect d);

struct WorkerCounts {
  int64_t ticks_sent = 0;  // gradients sent in the normal flow (resends not included)
  int64_t nan_sent = 0;
  int64_t reconnects = 0;
  int64_t fresh_channels = 0;      // reconnects that also made a new channel (a new connection)
  int64_t resends = 0;             // gradients whose ack was never read, sent again after a reconnect
  int64_t ambiguous_restarts = 0;  // streams restarted because a newer query point may or may not follow
  int64_t disconnects[static_cast<int>(Disconnect::kCount)] = {};
};

struct WorkerConfig {
  std::string target;
  std::string session_id;
  const SessionPlan* plan = nullptr;
  int session_index = 0;  // picks the quadratic's minimum
  int worker_id = 0;
  uint64_t seed = 0;
  absl::Duration disconnect_every = absl::Seconds(4);  // mean time between the worker's own disconnects
  int64_t max_iterations = 100'000'000;
};

// One Train stream of the soak: worker `worker_id` of a session, computing the gradient of a
// quadratic at each query point and sending it, and now and then ending its stream in one of the
// ways of Disconnect (another thread adds kRandomMoment through slot()). After each disconnect it
// reconnects on the same or a new channel, reads the session's tick and the query point, and
// resends the gradient whose ack it never read; sometimes it also resends an acknowledged one,
// which must come back DUPLICATE. Every ack, resend answer and status goes to its ledger and
// tally; what can be checked on the spot (a single worker's tick after a reconnect, the answer to
// a resend) is checked there.
class SoakWorker {
 public:
  explicit SoakWorker(WorkerConfig config);

  // Trains until `stop`, then settles: closes its stream and resends an unacknowledged gradient
  // until its fate is known. Returns by `hard_deadline` at the latest.
  void Run(const std::atomic<bool>& stop, absl::Time hard_deadline);

  CancelSlot& slot() { return slot_; }
  const WorkerConfig& config() const { return config_; }
  const WorkerLedger& ledger() const { return ledger_; }
  const StatusTally& statuses() const { return statuses_; }
  const WorkerCounts& counts() const { return counts_; }

 private:
  // A gradient as sent, kept to resend it.
  struct Sent {
    int64_t tick = 0;
    std::vector<float> gradient;
    double loss = 0;
    double batch_size = 1;
    bool nan = false;
  };
  enum class SendKind { kFirst, kResolve, kProbe };

  bool Connect(absl::Time hard_deadline, bool settling);
  void Tick();
  void Resend(const Sent& sent, SendKind kind);
  void Record(const v1::TickAck& ack, const Sent& sent, SendKind kind);
  // After an ack for `sent` on a stream whose query point in hand was for `query_tick`: whether the
  // server will send another query point, or the stream must start over to be sure.
  void AfterAck(const v1::TickAck& ack, const Sent& sent, int64_t query_tick);
  void Settle(absl::Time hard_deadline);
  void DisconnectNow();
  void MidTickStream();
  // The stream ended with `status`: tallied (expected when the soak cancelled it, or ABORTED for an
  // async session), then dropped.
  void Ended(const absl::Status& status, const char* where);
  void CancelAndClose(const char* where);
  void DropStream();
  Sent GradientAt(const client::Query& query, bool allow_nan);
  bool single_worker() const { return config_.plan->workers == 1 && !config_.plan->async; }
  absl::Duration NextGap();

  WorkerConfig config_;
  std::mt19937_64 random_;
  std::unique_ptr<client::Client> client_;
  std::optional<ParameterLayout> layout_;
  std::unique_ptr<client::TrainStream> stream_;
  CancelSlot slot_;
  std::optional<client::Query> query_;  // the query point in hand, not yet answered
  std::optional<Sent> pending_;         // sent, ack never read
  std::optional<Sent> last_applied_;    // the newest gradient acknowledged APPLIED
  absl::Time next_disconnect_;
  bool connected_before_ = false;
  bool own_cancel_ = false;  // a CANCELLED now is the worker's own, not the canceller thread's
  const std::atomic<bool>* stop_ = nullptr;

  WorkerLedger ledger_;
  StatusTally statuses_;
  WorkerCounts counts_;
};

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_SOAK_WORKER_H_
