// Session: snapshots, the write-ahead log and recovery (docs/persistence.md).
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/state_codec.h"
#include "core/status_macros.h"
#include "server/session.h"

namespace basin {
namespace {

// An every_tick log is compacted into a snapshot once it holds this many times the state's bytes.
constexpr uint64_t kLogGrowthFactor = 4;

template <typename Real>
absl::StatusOr<std::vector<Real>> ValuesOf(const WalRecord& record, int64_t dimension) {
  if (record.dtype != DTypeOf<Real>()) {
    return absl::DataLossError(absl::StrCat("log record ", record.seq, " holds ", DTypeName(record.dtype),
                                            " values for a ", DTypeName(DTypeOf<Real>()), " session"));
  }
  if (record.values.size() != static_cast<std::size_t>(dimension) * sizeof(Real)) {
    return absl::DataLossError(absl::StrCat("log record ", record.seq, " holds ", record.values.size() / sizeof(Real),
                                            " values for ", dimension, " parameters"));
  }
  std::vector<Real> values(static_cast<std::size_t>(dimension));
  std::memcpy(values.data(), record.values.data(), record.values.size());
  return values;
}

}  // namespace

SessionImage Session::ImageLocked() const {
  SessionImage image;
  image.id = id_;
  image.metrics_run = metrics_run_;
  image.tenant = settings_.tenant;
  image.request_id = settings_.request_id;
  image.fingerprint = settings_.fingerprint;
  image.workers = workers_;
  image.durability = settings_.durability;
  image.nonfinite_policy = settings_.nonfinite_policy;
  image.last_seq = wal_ != nullptr ? wal_->last_seq() : last_seq_;
  image.counters = counters_;
  image.last_tick_of_worker = last_tick_of_worker_;
  image.pending = pending_;
  image.state = EncodeState(optimizer_);
  return image;
}

absl::Status Session::LogLocked(WalRecord record, absl::string_view values, int64_t tick_after) {
  if (wal_ == nullptr) return absl::OkStatus();
  absl::Status s = wal_->Append(std::move(record), values, tick_after).status();
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("session '", id_, "' cannot log the change: ", s.message()));
  return absl::OkStatus();
}

absl::Status Session::StartPersisting(SessionStore* store) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    store_ = store;
    dirty_ = true;
  }
  BASIN_RETURN_IF_ERROR(Snapshot());
  return OpenLog();
}

absl::Status Session::OpenLog() {
  if (settings_.durability.mode != Durability::Mode::kEveryTick) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  BASIN_ASSIGN_OR_RETURN(std::unique_ptr<AppendOnlyFile> file, store_->StartLog(id_, last_seq_ + 1));
  std::function<void(double)> observe;
  if (metrics_ != nullptr) observe = [h = &metrics_->wal_fsync_seconds()](double s) { h->Observe(s); };
  wal_ = std::make_shared<WriteAheadLog>(std::move(file), last_seq_ + 1, std::move(observe));
  return store_->RemoveLogsThrough(id_, last_seq_);
}

absl::Status Session::Snapshot() {
  std::lock_guard<std::mutex> snapshot_lock(snapshot_mu_);
  const auto start = std::chrono::steady_clock::now();
  SessionImage image;
  int64_t tick = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_ == nullptr) return absl::OkStatus();
    image = ImageLocked();
    tick = std::visit([](const auto& o) { return o->tick(); }, optimizer_);
    // Records after the snapshot go to a new log, so the old one can go once the snapshot is on
    // disk. Switching syncs the old log: an acknowledgement waiting for it is then satisfied.
    if (wal_ != nullptr && wal_->file_has_records()) {
      BASIN_ASSIGN_OR_RETURN(std::unique_ptr<AppendOnlyFile> next, store_->StartLog(id_, image.last_seq + 1));
      BASIN_RETURN_IF_ERROR(wal_->SwitchTo(std::move(next)).status());
    }
    dirty_ = false;
  }
  absl::Status s = store_->WriteSnapshot(image);
  if (s.ok()) s = store_->RemoveLogsThrough(id_, image.last_seq);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) {
    dirty_ = true;
    if (metrics_ != nullptr) metrics_->snapshot_failures().Increment();
    return absl::Status(s.code(), absl::StrCat("snapshot of session '", id_, "': ", s.message()));
  }
  last_snapshot_ = absl::Now();
  snapshot_tick_ = std::max(snapshot_tick_, tick);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (metrics_ != nullptr) metrics_->snapshot_seconds().Observe(elapsed.count());
  return absl::OkStatus();
}

absl::Status Session::RemoveFiles() {
  std::lock_guard<std::mutex> snapshot_lock(snapshot_mu_);
  SessionStore* store;
  {
    std::lock_guard<std::mutex> lock(mu_);
    store = store_;
    store_ = nullptr;  // no snapshot after this
    wal_.reset();
  }
  return store == nullptr ? absl::OkStatus() : store->Remove(id_);
}

bool Session::SnapshotDue(absl::Time now, absl::Duration default_interval) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (store_ == nullptr || !dirty_) return false;
  const absl::Duration interval = settings_.durability.snapshot_interval > absl::ZeroDuration()
                                      ? settings_.durability.snapshot_interval
                                      : default_interval;
  if (now - last_snapshot_ >= interval) return true;
  return wal_ != nullptr &&
         wal_->bytes() > kLogGrowthFactor * std::max<uint64_t>(static_cast<uint64_t>(state_bytes_), 1 << 20);
}

absl::Status Session::MakeDurable() {
  std::shared_ptr<WriteAheadLog> wal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wal = wal_;
  }
  if (wal == nullptr) return absl::OkStatus();
  absl::Status s = wal->SyncThrough(wal->last_seq());
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("session '", id_, "' cannot sync its log: ", s.message()));
  return absl::OkStatus();
}

int64_t Session::durable_tick() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (store_ == nullptr) return 0;
  return std::max<int64_t>(snapshot_tick_, wal_ != nullptr ? wal_->durable_tick() : 0);
}

template <typename Real>
absl::Status Session::SetParameters(bool anchor, absl::Span<const Real> values) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return absl::NotFoundError(absl::StrCat("session '", id_, "' was deleted"));
  auto* holder = std::get_if<std::unique_ptr<Optimizer<Real>>>(&optimizer_);
  if (holder == nullptr) return absl::InternalError("state dtype changed");
  Optimizer<Real>& o = **holder;
  // Refused before it is logged: the checks Set* makes (the length, the phase, an anchor at all).
  if (static_cast<int64_t>(values.size()) != o.dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", values.size(), " values for a model of ", o.dimension(), " parameters"));
  }
  if (o.phase() != 0) {
    return absl::FailedPreconditionError(absl::StrCat("the ", anchor ? "anchor" : "model",
                                                      " can be set only between outer steps; the session is at "
                                                      "phase ",
                                                      o.phase(), " of step ", o.step()));
  }
  if (anchor && o.Anchor().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(OptimizerName(o.spec().config), " has no anchor"));
  }
  WalRecord record;
  record.kind = anchor ? WalRecord::Kind::kSetAnchor : WalRecord::Kind::kSetModel;
  record.dtype = DTypeOf<Real>();
  BASIN_RETURN_IF_ERROR(LogLocked(record, ValueBytes(values), o.tick()));
  dirty_ = true;
  return anchor ? o.SetAnchor(values) : o.SetModel(values);
}

absl::Status Session::Replay(const WalRecord& record) {
  return std::visit(
      [&](auto& holder) -> absl::Status {
        using Real = typename std::decay_t<decltype(*holder)>::Buffer::value_type;
        BASIN_ASSIGN_OR_RETURN(std::vector<Real> values, ValuesOf<Real>(record, holder->dimension()));
        const absl::Span<const Real> span(values);
        if (record.kind != WalRecord::Kind::kGradient) {
          return SetParameters<Real>(record.kind == WalRecord::Kind::kSetAnchor, span);
        }
        auto outcome = SubmitGradient<Real>(record.worker, record.tick, span, record.loss, record.batch_size);
        if (!outcome.ok()) {
          return absl::DataLossError(absl::StrCat("log record ", record.seq, " does not replay: ",
                                                  outcome.status().message()));
        }
        if (*outcome != TickOutcome::kApplied) {
          return absl::DataLossError(absl::StrCat("log record ", record.seq, " replays as a gradient not applied"));
        }
        return absl::OkStatus();
      },
      optimizer_);
}

absl::StatusOr<std::shared_ptr<Session>> Session::Recover(SessionStore& store, const std::string& id,
                                                          ServerMetrics* metrics, int64_t* replayed) {
  BASIN_ASSIGN_OR_RETURN(SessionStore::Loaded loaded, store.Load(id));
  SessionImage& image = loaded.image;
  auto optimizer = DecodeState(image.state);
  if (!optimizer.ok()) {
    return absl::DataLossError(absl::StrCat("snapshot state: ", optimizer.status().message()));
  }
  const int64_t ticks_per_step = std::visit([](const auto& o) { return o->ticks_per_step(); }, *optimizer);
  absl::Status workers_ok = image.workers.Check(ticks_per_step);
  if (!workers_ok.ok()) return absl::DataLossError(absl::StrCat("snapshot worker policy: ", workers_ok.message()));
  const int64_t dimension = std::visit([](const auto& o) { return o->dimension(); }, *optimizer);
  const int64_t tick = std::visit([](const auto& o) { return o->tick(); }, *optimizer);
  const DType dtype = std::visit([](const auto& o) { return o->dtype(); }, *optimizer);
  absl::Status bookkeeping = CheckWorkerBookkeeping(image, tick, dimension, dtype);
  if (!bookkeeping.ok()) return absl::DataLossError(absl::StrCat("snapshot: ", bookkeeping.message()));
  SessionSettings settings{image.tenant, image.request_id, image.fingerprint, image.durability,
                           image.nonfinite_policy};
  auto session = std::make_shared<Session>(image.id, *std::move(optimizer), image.workers, image.metrics_run, metrics,
                                           std::move(settings));
  session->counters_ = image.counters;
  session->last_tick_of_worker_ = std::move(image.last_tick_of_worker);
  session->pending_ = std::move(image.pending);
  session->last_seq_ = image.last_seq;
  for (const WalRecord& record : loaded.records) {
    BASIN_RETURN_IF_ERROR(session->Replay(record));
    session->last_seq_ = record.seq;
  }
  if (replayed != nullptr) *replayed = static_cast<int64_t>(loaded.records.size());
  // Persisting again: a snapshot that includes what was replayed (the old logs go), or, with
  // nothing replayed, the one on disk stands.
  session->store_ = &store;
  session->snapshot_tick_ = session->tick();
  session->last_snapshot_ = absl::Now();
  if (!loaded.records.empty()) {
    session->dirty_ = true;
    BASIN_RETURN_IF_ERROR(session->Snapshot());
  }
  BASIN_RETURN_IF_ERROR(session->OpenLog());
  return session;
}

template absl::Status Session::SetParameters<float>(bool, absl::Span<const float>);
template absl::Status Session::SetParameters<double>(bool, absl::Span<const double>);

}  // namespace basin
