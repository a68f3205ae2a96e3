#include "server/persistence/session_image.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/byte_io.h"
#include "core/status_macros.h"

namespace basin {
namespace {

constexpr absl::string_view kMagic = "BASNSNAP";
constexpr uint32_t kVersion = 1;
// Ids, tenant names, labels and request ids are far shorter (docs/protocol.md).
constexpr std::size_t kMaxString = 4096;
constexpr int kMaxWorkers = 1 << 20;

}  // namespace

std::string EncodeSnapshot(const SessionImage& image) {
  std::string out;
  out.reserve(image.state.size() + 512);
  ByteWriter w(&out);
  w.PutBytes(kMagic.data(), kMagic.size());
  w.Put<uint32_t>(kVersion);
  for (const std::string* s : {&image.id, &image.tenant, &image.metrics_run, &image.request_id, &image.fingerprint}) {
    w.PutString(*s);
  }
  w.Put<int32_t>(image.workers.num_workers);
  w.Put<uint8_t>(image.workers.mode == WorkerPolicy::Mode::kSync ? 0 : 1);
  w.Put<int32_t>(image.workers.quorum);
  w.Put<int32_t>(image.workers.max_staleness);
  w.Put<uint8_t>(static_cast<uint8_t>(image.durability.mode));
  w.Put<double>(absl::ToDoubleSeconds(image.durability.snapshot_interval));
  w.Put<uint8_t>(static_cast<uint8_t>(image.nonfinite_policy));
  w.Put<uint64_t>(image.last_seq);
  w.Put<int64_t>(image.counters.gradients_dropped);
  w.Put<int64_t>(image.counters.gradients_duplicate);
  w.Put<int64_t>(image.counters.gradients_stale_applied);
  w.Put<int64_t>(image.counters.gradients_skipped);
  w.Put<uint32_t>(static_cast<uint32_t>(image.last_tick_of_worker.size()));
  for (const auto& [worker, tick] : image.last_tick_of_worker) {
    w.Put<int32_t>(worker);
    w.Put<int64_t>(tick);
  }
  w.Put<uint32_t>(static_cast<uint32_t>(image.pending.size()));
  for (const auto& [worker, c] : image.pending) {
    w.Put<int32_t>(worker);
    w.Put<double>(c.loss);
    w.Put<double>(c.weight);
    w.Put<uint64_t>(c.gradient.size());
    w.PutBytes(c.gradient.data(), c.gradient.size() * sizeof(double));
  }
  w.Put<uint64_t>(image.state.size());
  w.PutBytes(image.state.data(), image.state.size());
  w.Put<uint32_t>(Crc32c(out));
  return out;
}

absl::StatusOr<SessionImage> DecodeSnapshot(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() + 8 || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError(absl::StrCat("not a basin snapshot (", bytes.size(), " bytes, no BASNSNAP header)"));
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - 4);
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + body.size(), 4);
  if (Crc32c(body) != stored_crc) {
    return absl::DataLossError(absl::StrCat("snapshot checksum mismatch over ", bytes.size(), " bytes"));
  }
  ByteReader r(body.substr(kMagic.size()));
  SessionImage image;
  BASIN_ASSIGN_OR_RETURN(uint32_t version, r.Get<uint32_t>("version"));
  if (version != kVersion) {
    return absl::DataLossError(absl::StrCat("snapshot format version ", version, " is not ", kVersion));
  }
  for (std::string* s : {&image.id, &image.tenant, &image.metrics_run, &image.request_id}) {
    BASIN_ASSIGN_OR_RETURN(*s, r.GetString("a session string", kMaxString));
  }
  // The create request's bytes, initial values included: as long as a request can be, so bounded
  // only by the snapshot itself.
  BASIN_ASSIGN_OR_RETURN(image.fingerprint, r.GetString("the request fingerprint", r.remaining()));
  BASIN_ASSIGN_OR_RETURN(image.workers.num_workers, r.Get<int32_t>("num_workers"));
  BASIN_ASSIGN_OR_RETURN(uint8_t mode, r.Get<uint8_t>("worker mode"));
  if (mode > 1) return absl::DataLossError(absl::StrCat("worker mode ", mode, " is unknown"));
  image.workers.mode = mode == 0 ? WorkerPolicy::Mode::kSync : WorkerPolicy::Mode::kAsync;
  BASIN_ASSIGN_OR_RETURN(image.workers.quorum, r.Get<int32_t>("quorum"));
  BASIN_ASSIGN_OR_RETURN(image.workers.max_staleness, r.Get<int32_t>("max_staleness"));
  if (image.workers.num_workers < 1 || image.workers.num_workers > kMaxWorkers) {
    return absl::DataLossError(absl::StrCat("num_workers ", image.workers.num_workers, " is out of range"));
  }
  BASIN_ASSIGN_OR_RETURN(uint8_t durability, r.Get<uint8_t>("durability"));
  if (durability > static_cast<uint8_t>(Durability::Mode::kEveryTick)) {
    return absl::DataLossError(absl::StrCat("durability ", durability, " is unknown"));
  }
  image.durability.mode = static_cast<Durability::Mode>(durability);
  BASIN_ASSIGN_OR_RETURN(double interval, r.Get<double>("snapshot interval"));
  if (!(interval >= 0) || !std::isfinite(interval)) {
    return absl::DataLossError(absl::StrCat("snapshot interval ", interval, " is not a duration"));
  }
  image.durability.snapshot_interval = absl::Seconds(interval);
  // The encoder writes a Duration's seconds, which read back as that Duration: a value that does not
  // (-0, more digits than a quarter-nanosecond holds, beyond the Duration range) was not written by
  // it, and would not be written back the same.
  const double written_back = absl::ToDoubleSeconds(image.durability.snapshot_interval);
  if (std::signbit(interval) || std::memcmp(&written_back, &interval, sizeof(double)) != 0) {
    return absl::DataLossError(absl::StrFormat("snapshot interval %.17g s is not one the encoder writes (it reads as "
                                               "%.17g s)",
                                               interval, written_back));
  }
  BASIN_ASSIGN_OR_RETURN(uint8_t nonfinite, r.Get<uint8_t>("nonfinite policy"));
  if (nonfinite > static_cast<uint8_t>(NonFinitePolicy::kSkip)) {
    return absl::DataLossError(absl::StrCat("nonfinite policy ", nonfinite, " is not a policy"));
  }
  image.nonfinite_policy = static_cast<NonFinitePolicy>(nonfinite);
  BASIN_ASSIGN_OR_RETURN(image.last_seq, r.Get<uint64_t>("last_seq"));
  BASIN_ASSIGN_OR_RETURN(image.counters.gradients_dropped, r.Get<int64_t>("gradients_dropped"));
  BASIN_ASSIGN_OR_RETURN(image.counters.gradients_duplicate, r.Get<int64_t>("gradients_duplicate"));
  BASIN_ASSIGN_OR_RETURN(image.counters.gradients_stale_applied, r.Get<int64_t>("gradients_stale_applied"));
  BASIN_ASSIGN_OR_RETURN(image.counters.gradients_skipped, r.Get<int64_t>("gradients_skipped"));

  BASIN_ASSIGN_OR_RETURN(uint32_t num_last, r.Get<uint32_t>("worker ticks"));
  if (num_last > static_cast<uint32_t>(image.workers.num_workers)) {
    return absl::DataLossError(absl::StrCat(num_last, " worker ticks for ", image.workers.num_workers, " workers"));
  }
  for (uint32_t i = 0; i < num_last; ++i) {
    BASIN_ASSIGN_OR_RETURN(int32_t worker, r.Get<int32_t>("worker"));
    BASIN_ASSIGN_OR_RETURN(int64_t tick, r.Get<int64_t>("worker tick"));
    // In ascending order, as the encoder writes its map: anything else would be written back otherwise.
    const bool ascending = image.last_tick_of_worker.empty() || worker > image.last_tick_of_worker.rbegin()->first;
    if (worker < 0 || worker >= image.workers.num_workers || !ascending) {
      return absl::DataLossError(absl::StrCat("worker id ", worker, " is out of range, repeated or out of order"));
    }
    image.last_tick_of_worker.emplace(worker, tick);
  }
  BASIN_ASSIGN_OR_RETURN(uint32_t num_pending, r.Get<uint32_t>("pending gradients"));
  if (num_pending > static_cast<uint32_t>(image.workers.num_workers)) {
    return absl::DataLossError(absl::StrCat(num_pending, " pending gradients for ", image.workers.num_workers,
                                            " workers"));
  }
  for (uint32_t i = 0; i < num_pending; ++i) {
    BASIN_ASSIGN_OR_RETURN(int32_t worker, r.Get<int32_t>("pending worker"));
    PendingContribution c;
    BASIN_ASSIGN_OR_RETURN(c.loss, r.Get<double>("pending loss"));
    BASIN_ASSIGN_OR_RETURN(c.weight, r.Get<double>("pending weight"));
    BASIN_ASSIGN_OR_RETURN(uint64_t count, r.Get<uint64_t>("pending length"));
    if (count > r.remaining() / sizeof(double)) {
      return absl::DataLossError(absl::StrCat("pending gradient of ", count, " elements overruns the snapshot"));
    }
    c.gradient.resize(count);
    BASIN_RETURN_IF_ERROR(r.GetBytes("pending gradient", c.gradient.data(), count * sizeof(double)));
    const bool ascending = image.pending.empty() || worker > image.pending.rbegin()->first;
    if (worker < 0 || worker >= image.workers.num_workers || !ascending) {
      return absl::DataLossError(
          absl::StrCat("pending worker id ", worker, " is out of range, repeated or out of order"));
    }
    image.pending.emplace(worker, std::move(c));
  }
  BASIN_ASSIGN_OR_RETURN(uint64_t state_size, r.Get<uint64_t>("state length"));
  if (state_size != r.remaining()) {
    return absl::DataLossError(absl::StrCat("state of ", state_size, " bytes where ", r.remaining(), " remain"));
  }
  image.state.resize(state_size);
  BASIN_RETURN_IF_ERROR(r.GetBytes("state", image.state.data(), state_size));
  return image;
}

absl::Status CheckWorkerBookkeeping(const SessionImage& image, int64_t tick, int64_t dimension, DType dtype) {
  const WorkerPolicy& workers = image.workers;
  for (const auto& [worker, last] : image.last_tick_of_worker) {
    const bool waiting = image.pending.count(worker) != 0;
    if (last < 0 || last > tick || (last == tick && !waiting)) {
      return absl::DataLossError(absl::StrCat("worker ", worker, " last sent tick ", last, " at session tick ", tick,
                                              waiting ? "" : " without a gradient waiting in the open tick"));
    }
  }
  if (!image.pending.empty()) {
    if (workers.mode != WorkerPolicy::Mode::kSync || workers.quorum < 2) {
      return absl::DataLossError(absl::StrCat(image.pending.size(), " gradients wait for a quorum in a ",
                                              workers.mode == WorkerPolicy::Mode::kSync ? "sync" : "async",
                                              " session with quorum ", workers.quorum));
    }
    if (static_cast<int64_t>(image.pending.size()) >= workers.quorum) {
      return absl::DataLossError(absl::StrCat(image.pending.size(), " gradients wait for a quorum of ",
                                              workers.quorum, ", which they complete"));
    }
  }
  for (const auto& [worker, c] : image.pending) {
    if (image.last_tick_of_worker.count(worker) == 0) {
      return absl::DataLossError(absl::StrCat("worker ", worker, "'s gradient waits in the quorum, but it never sent"));
    }
    if (static_cast<int64_t>(c.gradient.size()) != dimension) {
      return absl::DataLossError(absl::StrCat("worker ", worker, "'s pending gradient has ", c.gradient.size(),
                                              " values for ", dimension, " parameters"));
    }
    if (!std::isfinite(c.loss) || !std::isfinite(c.weight) || !(c.weight > 0)) {
      return absl::DataLossError(absl::StrCat("worker ", worker, "'s pending gradient has loss ", c.loss,
                                              " and weight ", c.weight));
    }
    // Kept in double, sent in the state's dtype: an f32 session's values are floats.
    const double largest =
        dtype == DType::kF32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
    for (std::size_t i = 0; i < c.gradient.size(); ++i) {
      if (!(std::abs(c.gradient[i]) <= largest)) {
        return absl::DataLossError(
            absl::StrCat("worker ", worker, "'s pending gradient holds ", c.gradient[i], " at index ", i));
      }
    }
  }
  const SessionCounters& n = image.counters;
  if (n.gradients_dropped < 0 || n.gradients_duplicate < 0 || n.gradients_stale_applied < 0 ||
      n.gradients_skipped < 0) {
    return absl::DataLossError(absl::StrCat("negative counters: dropped ", n.gradients_dropped, ", duplicate ",
                                            n.gradients_duplicate, ", stale applied ", n.gradients_stale_applied,
                                            ", skipped ", n.gradients_skipped));
  }
  return absl::OkStatus();
}

}  // namespace basin
