#ifndef BASIN_BENCH_SOAK_SOAK_MIX_H_
#define BASIN_BENCH_SOAK_SOAK_MIX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "basin/v1/optimizer_service.pb.h"
#include "core/half.h"

namespace basin::soak {

// One session of the soak and the streams that feed it: an optimizer, a state dtype, a worker
// policy, a durability mode and a non-finite policy, with the wire settings its workers use.
struct SessionPlan {
  std::string label;  // e.g. "sam f64 sync 2/2 periodic"
  v1::CreateSessionRequest request;
  int workers = 1;  // streams, one per worker id
  bool async = false;
  int quorum = 1;           // sync
  bool sends_nan = false;   // NONFINITE_POLICY_SKIP, and its workers now and then send a NaN
  int64_t chunk_bytes = 0;  // both directions; small enough that a gradient is several chunks
  WireDType query_dtype = WireDType::kF32;
  WireDType gradient_dtype = WireDType::kF32;
};

// Sessions for `streams` streams in all: a fixed cycle of kinds (every optimizer, f32 and f64,
// single workers, sync quorums, async workers with a staleness bound, the three durability modes,
// skip sessions), repeated until the streams are used up; a kind with more workers than streams
// left becomes a single-worker session. The first eight streams already cover every optimizer and
// worker mode. `run` makes request ids unique per run.
std::vector<SessionPlan> PlanSessions(int streams, const std::string& run);

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_SOAK_MIX_H_
