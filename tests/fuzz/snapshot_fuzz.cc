// Fuzz target: a session snapshot (server/persistence/session_image.h), the file a server reads
// back at start-up, on untrusted bytes. Each input is decoded as it is and, since a mutation
// almost always breaks the trailing CRC-32C, once more with the checksum made right; when what
// decodes holds a state that fails its own checksum, once more with that made right too, so the
// fuzzer reaches the state codec and recovery.
//
// Invariants: no crash, leak or unbounded allocation; a refusal is DATA_LOSS with a message;
// whatever decodes encodes to exactly the same bytes; and an image whose state decodes goes
// through Session::Recover on a real data directory: a refusal there is DATA_LOSS, and a session
// it recovers has worker bookkeeping its worker policy allows (last ticks no later than the
// session's tick, earlier unless the worker's gradient waits in the open tick; gradients waiting
// only in a sync quorum of more than one, fewer than the quorum, each of the model's size, finite
// and within the state dtype's range, with a positive weight; counters not negative). The
// recovered session then takes a gradient from every worker at its current tick (up to 64
// workers): APPLIED, or DUPLICATE for a worker whose gradient waits in the open tick; a sync tick
// closes; and its next snapshot loads.

#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/byte_io.h"
#include "core/state_codec.h"
#include "server/persistence/files.h"
#include "server/persistence/session_image.h"
#include "server/persistence/session_store.h"
#include "server/session.h"
#include "tests/fuzz/allocation_meter.h"
#include "tests/fuzz/fuzz_check.h"

namespace basin {
namespace {

namespace fs = std::filesystem;

constexpr char kId[] = "s-fuzz";
// Serving every worker costs a gradient each: a policy of up to 2^20 workers decodes and recovers,
// but is served only up to basin-server's default --max_workers_per_session.
constexpr int kMostWorkersServed = 64;

// Where the fuzzed snapshots are recovered from: one data directory per process, in memory when
// /dev/shm exists (recovery fsyncs), removed at exit.
class FuzzDataDirectory {
 public:
  FuzzDataDirectory() {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path_ = base / absl::StrCat("basin-snapshot-fuzz-", ::getpid());
    fs::remove_all(path_);
    auto store = SessionStore::Open(path_.string());
    BASIN_FUZZ_CHECK(store.ok(), "cannot open a data directory in ", path_.string(), ": ", store.status().ToString());
    store_ = *std::move(store);
  }
  ~FuzzDataDirectory() {
    store_.reset();
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  SessionStore& store() { return *store_; }

 private:
  fs::path path_;
  std::unique_ptr<SessionStore> store_;
};

SessionStore& Store() {
  static FuzzDataDirectory* directory = [] {
    static FuzzDataDirectory d;
    return &d;
  }();
  return directory->store();
}

std::string FirstDifference(absl::string_view a, absl::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return absl::StrCat("sizes ", a.size(), " and ", b.size(), ", first difference at byte ", i, ": '",
                      absl::CHexEscape(a.substr(i, 16)), "' vs '", absl::CHexEscape(b.substr(i, 16)), "'");
}

// The bookkeeping a session with `image`'s worker policy can hold at `tick` over `dimension`
// parameters, written from what Session::SubmitGradient does.
void CheckBookkeeping(const SessionImage& image, int64_t tick, int64_t dimension, DType dtype) {
  const WorkerPolicy& w = image.workers;
  for (const auto& [worker, last] : image.last_tick_of_worker) {
    const bool waiting = image.pending.count(worker) != 0;
    BASIN_FUZZ_CHECK(last >= 0 && (waiting ? last <= tick : last < tick), "recovered: worker ", worker,
                     " last sent tick ", last, " at session tick ", tick, waiting ? " (waiting in the quorum)" : "");
  }
  if (!image.pending.empty()) {
    BASIN_FUZZ_CHECK(w.mode == WorkerPolicy::Mode::kSync && w.quorum > 1, "recovered: ", image.pending.size(),
                     " gradients wait in a ", w.mode == WorkerPolicy::Mode::kSync ? "sync" : "async",
                     " session with quorum ", w.quorum);
    BASIN_FUZZ_CHECK(static_cast<int>(image.pending.size()) < w.quorum, "recovered: ", image.pending.size(),
                     " gradients wait for a quorum of ", w.quorum);
  }
  for (const auto& [worker, c] : image.pending) {
    BASIN_FUZZ_CHECK(image.last_tick_of_worker.count(worker) != 0, "recovered: worker ", worker,
                     " waits in the quorum but never sent a tick");
    BASIN_FUZZ_CHECK(static_cast<int64_t>(c.gradient.size()) == dimension, "recovered: worker ", worker,
                     "'s waiting gradient has ", c.gradient.size(), " values for ", dimension, " parameters");
    // Kept in double, but sent in the state's dtype.
    const double largest =
        dtype == DType::kF32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
    bool finite = std::isfinite(c.loss);
    for (double g : c.gradient) finite = finite && std::abs(g) <= largest;
    BASIN_FUZZ_CHECK(finite && std::isfinite(c.weight) && c.weight > 0, "recovered: worker ", worker,
                     "'s waiting gradient: loss ", c.loss, ", weight ", c.weight, ", all values finite: ", finite);
  }
  const SessionCounters& n = image.counters;
  BASIN_FUZZ_CHECK(n.gradients_dropped >= 0 && n.gradients_duplicate >= 0 && n.gradients_stale_applied >= 0 &&
                       n.gradients_skipped >= 0,
                   "recovered: negative counters ", n.gradients_dropped, " ", n.gradients_duplicate, " ",
                   n.gradients_stale_applied, " ", n.gradients_skipped);
}

// Every worker sends a zero gradient at the session's current tick, in worker order.
template <typename Real>
void ServeEveryWorker(Session& session, const SessionImage& image) {
  const int64_t tick = session.tick();
  const std::vector<Real> zero(static_cast<std::size_t>(session.layout().num_elements()), Real{0});
  for (int worker = 0; worker < image.workers.num_workers; ++worker) {
    const int64_t now = session.tick();
    auto outcome = session.SubmitGradient<Real>(worker, now, zero, 0.0, 1.0);
    BASIN_FUZZ_CHECK(outcome.ok(), "recovered: worker ", worker, "'s gradient for tick ", now,
                     " is refused: ", outcome.status().ToString());
    const bool waiting = now == tick && image.pending.count(worker) != 0;
    const TickOutcome want = waiting ? TickOutcome::kDuplicate : TickOutcome::kApplied;
    BASIN_FUZZ_CHECK(*outcome == want, "recovered: worker ", worker, "'s gradient for tick ", now, " is outcome ",
                     static_cast<int>(*outcome), ", not ", static_cast<int>(want));
  }
  // Fewer than a quorum were waiting, and every other worker added one.
  BASIN_FUZZ_CHECK(session.tick() > tick, "recovered: every worker sent a gradient and tick ", tick,
                   " did not close");
}

void CheckRecovery(const SessionImage& decoded) {
  SessionStore& store = Store();
  SessionImage image = decoded;
  image.id = kId;  // the directory name; the snapshot must name it
  absl::Status written = store.WriteSnapshot(image);
  BASIN_FUZZ_CHECK(written.ok(), "cannot write the snapshot: ", written.ToString());
  {
    auto recovered = Session::Recover(store, kId, nullptr);
    if (!recovered.ok()) {
      BASIN_FUZZ_CHECK(recovered.status().code() == absl::StatusCode::kDataLoss &&
                           !recovered.status().message().empty(),
                       "a refused recovery: ", recovered.status().ToString());
    } else {
      Session& session = **recovered;
      CheckBookkeeping(image, session.tick(), session.layout().num_elements(), session.dtype());
      if (image.workers.num_workers <= kMostWorkersServed) {
        if (session.dtype() == DType::kF32) {
          ServeEveryWorker<float>(session, image);
        } else {
          ServeEveryWorker<double>(session, image);
        }
      }
      if (image.durability.persisted()) {
        absl::Status snapshot = session.Snapshot();
        BASIN_FUZZ_CHECK(snapshot.ok(), "recovered: a snapshot fails: ", snapshot.ToString());
        auto again = store.Load(kId);
        BASIN_FUZZ_CHECK(again.ok(), "recovered: its next snapshot does not load: ", again.status().ToString());
      }
    }
  }
  absl::Status removed = store.Remove(kId);
  BASIN_FUZZ_CHECK(removed.ok(), "cannot remove the session's files: ", removed.ToString());
}

void CheckSnapshot(absl::string_view bytes, bool fix_state_checksum) {
  absl::StatusOr<SessionImage> image;
  {
    fuzz::AllocationMeter meter;
    image = DecodeSnapshot(bytes);
    // Strings, waiting gradients and the state are copies of bytes that are there.
    const int64_t allowed = 3 * static_cast<int64_t>(bytes.size()) + (64 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "decoding ",
                     bytes.size(), " bytes allocated ", meter.peak_bytes(), " at the peak");
  }
  if (!image.ok()) {
    BASIN_FUZZ_CHECK(image.status().code() == absl::StatusCode::kDataLoss && !image.status().message().empty(),
                     "a refused snapshot: ", image.status().ToString());
    return;
  }
  const std::string encoded = EncodeSnapshot(*image);
  BASIN_FUZZ_CHECK(encoded == bytes, "a snapshot that decodes does not encode to the same bytes: ",
                   FirstDifference(bytes, encoded));
  auto state = DecodeState(image->state);
  if (state.ok()) {
    CheckRecovery(*image);
  } else if (fix_state_checksum && image->state.size() >= 4) {
    SessionImage fixed = *image;
    const uint32_t crc = Crc32c(absl::string_view(fixed.state).substr(0, fixed.state.size() - 4));
    std::memcpy(fixed.state.data() + fixed.state.size() - 4, &crc, 4);
    if (fixed.state != image->state) CheckSnapshot(EncodeSnapshot(fixed), /*fix_state_checksum=*/false);
  }
}

}  // namespace
}  // namespace basin

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  basin::CheckSnapshot(bytes, /*fix_state_checksum=*/true);
  if (size >= 4) {
    std::string fixed(bytes);
    const uint32_t crc = basin::Crc32c(bytes.substr(0, size - 4));
    std::memcpy(fixed.data() + size - 4, &crc, 4);
    if (fixed != bytes) basin::CheckSnapshot(fixed, /*fix_state_checksum=*/true);
  }
  return 0;
}
