#ifndef BASIN_SERVER_PERSISTENCE_SESSION_IMAGE_H_
#define BASIN_SERVER_PERSISTENCE_SESSION_IMAGE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "server/session_options.h"

namespace basin {

// A sync worker's gradient waiting for its quorum (acknowledged, so it must survive a restart).
struct PendingContribution {
  std::vector<double> gradient;
  double loss = 0;
  double weight = 1;
};

// Everything a session snapshot holds: the optimizer state (core's state codec) plus what the
// server keeps beside it, so that a restored session behaves exactly like the one that was saved.
struct SessionImage {
  std::string id;
  std::string tenant;
  std::string metrics_run;
  std::string request_id;   // idempotent create: survives a restart
  std::string fingerprint;
  WorkerPolicy workers;
  Durability durability;
  NonFinitePolicy nonfinite_policy = NonFinitePolicy::kReject;
  uint64_t last_seq = 0;    // the newest log record included
  SessionCounters counters;
  std::map<int, int64_t> last_tick_of_worker;
  std::map<int, PendingContribution> pending;
  std::string state;        // StateCodec bytes
};

// The snapshot file (little-endian, version 1):
//   "BASNSNAP" u32 version
//   string id, tenant, metrics_run, request_id (each at most 4096 bytes), fingerprint (any length)
//   i32 num_workers u8 mode i32 quorum i32 max_staleness
//   u8 durability f64 snapshot_interval_seconds u8 nonfinite_policy
//   u64 last_seq   i64 dropped, duplicate, stale_applied, skipped
//   u32 n {i32 worker, i64 tick}
//   u32 n {i32 worker, f64 loss, f64 weight, u64 count, count × f64}
//   u64 length, state bytes
//   u32 crc32c of everything before it
// Decoding trusts nothing: a bad checksum, magic, version, truncation or trailing byte is
// DataLoss naming what was wrong; the state bytes are checked by the state codec when decoded.
std::string EncodeSnapshot(const SessionImage& image);
absl::StatusOr<SessionImage> DecodeSnapshot(absl::string_view bytes);

// Whether the image's worker bookkeeping is what Session::SubmitGradient can leave in a session
// with the image's worker policy at `tick` over `dimension` parameters of `dtype`: every worker's
// last tick in [0, tick], and before `tick` unless the worker's gradient waits in the open tick;
// gradients waiting only in a sync quorum of more than one, fewer than the quorum, each from a
// worker with a last tick, of `dimension` finite values within `dtype`'s range, with a finite loss
// and a finite positive weight; no negative counter. Anything else is DataLoss naming it: recovered, such a session would answer a
// worker's gradients DUPLICATE, unapplied, until the session caught up with its last tick, or
// refuse every gradient that completes a quorum.
absl::Status CheckWorkerBookkeeping(const SessionImage& image, int64_t tick, int64_t dimension, DType dtype);

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_SESSION_IMAGE_H_
