#include "server/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace basin {
namespace {

WalRecord GradientRecord(int worker, int64_t tick, double loss, double batch_size, DType dtype) {
  WalRecord record;
  record.kind = WalRecord::Kind::kGradient;
  record.worker = worker;
  record.tick = tick;
  record.loss = loss;
  record.batch_size = batch_size;
  record.dtype = dtype;
  return record;
}

// A quorum's gradient and loss: the mean weighted by batch size, in double, in worker order.
struct QuorumMean {
  std::vector<double> gradient;
  double loss = 0;
};

// Σ w·g / Σ w, as docs/protocol.md defines it. Finite gradients and weights can still overflow
// those sums (values or batch sizes near the double range): then the weights are scaled by the
// largest first and each term is divided by their total, so no partial sum exceeds the largest
// value. The same mean, finite, where the plain sums would give Inf, NaN or (an Inf total weight)
// zero, and would leave the quorum refused at every attempt to close it.
QuorumMean WeightedMean(const std::map<int, PendingContribution>& pending, std::size_t dimension) {
  QuorumMean mean;
  mean.gradient.assign(dimension, 0.0);
  double weight = 0, loss = 0;
  for (const auto& [w, contribution] : pending) {
    for (std::size_t i = 0; i < dimension; ++i) mean.gradient[i] += contribution.weight * contribution.gradient[i];
    weight += contribution.weight;
    loss += contribution.weight * contribution.loss;
  }
  bool finite = std::isfinite(weight) && std::isfinite(loss);
  for (std::size_t i = 0; finite && i < dimension; ++i) finite = std::isfinite(mean.gradient[i]);
  if (finite) {
    for (double& g : mean.gradient) g /= weight;
    mean.loss = loss / weight;
    return mean;
  }
  double largest = 0, scaled_total = 0;
  for (const auto& [w, contribution] : pending) largest = std::max(largest, contribution.weight);
  for (const auto& [w, contribution] : pending) scaled_total += contribution.weight / largest;
  mean.gradient.assign(dimension, 0.0);
  mean.loss = 0;
  for (const auto& [w, contribution] : pending) {
    const double share = contribution.weight / largest / scaled_total;
    for (std::size_t i = 0; i < dimension; ++i) mean.gradient[i] += share * contribution.gradient[i];
    mean.loss += share * contribution.loss;
  }
  return mean;
}

template <typename Real>
bool AllFinite(absl::Span<const Real> gradient, double loss) {
  if (!std::isfinite(loss)) return false;
  for (Real g : gradient) {
    if (!std::isfinite(g)) return false;
  }
  return true;
}

}  // namespace

const char* DurabilityModeName(Durability::Mode mode) {
  switch (mode) {
    case Durability::Mode::kNone:
      return "none";
    case Durability::Mode::kPeriodic:
      return "periodic";
    case Durability::Mode::kEveryTick:
      return "every_tick";
  }
  return "unknown";
}

absl::Status WorkerPolicy::Check(int64_t ticks_per_step) const {
  if (num_workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("workers.num_workers must be >= 1, got ", num_workers));
  }
  if (mode == Mode::kSync && (quorum < 1 || quorum > num_workers)) {
    return absl::InvalidArgumentError(absl::StrCat("workers.quorum must be in [1, num_workers = ", num_workers,
                                                   "], got ", quorum));
  }
  if (mode == Mode::kAsync) {
    if (max_staleness < 0) {
      return absl::InvalidArgumentError(absl::StrCat("workers.max_staleness must be >= 0, got ", max_staleness));
    }
    // A stale gradient from another phase of a multi-tick step (SAM's ascent, Entropy-SGD's tick
    // at x) would be applied as the wrong kind of gradient.
    if (ticks_per_step != 1) {
      return absl::InvalidArgumentError(absl::StrCat("workers.mode = async needs an optimizer with one tick per step; "
                                                     "this one has ",
                                                     ticks_per_step));
    }
  }
  return absl::OkStatus();
}

Session::Session(std::string id, AnyOptimizer optimizer, WorkerPolicy workers, std::string metrics_run,
                 ServerMetrics* metrics, SessionSettings settings)
    : id_(std::move(id)),
      layout_(std::visit([](const auto& o) { return o->layout(); }, optimizer)),
      dtype_(std::visit([](const auto& o) { return o->dtype(); }, optimizer)),
      spec_(std::visit([](const auto& o) { return o->spec(); }, optimizer)),
      state_bytes_(std::visit(
          [](const auto& o) {
            return static_cast<int64_t>(o->StateVariableNames().size()) * o->dimension() * DTypeSize(o->dtype());
          },
          optimizer)),
      workers_(workers),
      metrics_run_(std::move(metrics_run)),
      settings_(std::move(settings)),
      metrics_(metrics),
      series_(metrics == nullptr ? nullptr : metrics->ForOptimizer(OptimizerName(spec_.config))),
      optimizer_(std::move(optimizer)) {}

void Session::CountProgress(int64_t ticks, int64_t steps) {
  if (series_ == nullptr) return;
  if (ticks > 0) series_->ticks->Increment(static_cast<double>(ticks));
  if (steps > 0) series_->steps->Increment(static_cast<double>(steps));
}

void Session::CountEvent(prometheus::Counter& (ServerMetrics::*counter)()) {
  if (metrics_ != nullptr) (metrics_->*counter)().Increment();
}

template <typename Real>
bool Session::SkipNonFinite(absl::Span<const Real> gradient, double loss) {
  if (settings_.nonfinite_policy != NonFinitePolicy::kSkip || AllFinite(gradient, loss)) return false;
  ++counters_.gradients_skipped;
  CountEvent(&ServerMetrics::nonfinite_skipped);
  return true;
}

template <typename Real>
absl::Status Session::CountRefusal(absl::Status refusal, absl::Span<const Real> gradient, double loss) {
  if (!AllFinite(gradient, loss)) CountEvent(&ServerMetrics::nonfinite_rejected);
  return refusal;
}

template <typename Real>
absl::Status Session::TellCounted(Optimizer<Real>& o, absl::Span<const Real> gradient, double loss) {
  const int64_t step = o.step();
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = o.Tell(gradient, loss);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (!s.ok()) return s;
  if (series_ != nullptr) series_->tick_compute_seconds->Observe(elapsed.count());
  CountProgress(1, o.step() - step);
  return s;
}

void Session::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  tick_changed_.notify_all();
}

bool Session::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int64_t Session::tick() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::visit([](const auto& o) { return o->tick(); }, optimizer_);
}

OptimizerStats Session::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::visit([](const auto& o) { return o->Stats(); }, optimizer_);
}

SessionSummary Session::Summary() const {
  SessionSummary summary;
  summary.id = id_;
  summary.layout = layout_;
  summary.dtype = dtype_;
  summary.spec = spec_;
  summary.workers = workers_;
  summary.settings = settings_;
  summary.metrics_run = metrics_run_;
  summary.stats = Stats();
  summary.counters = counters();
  summary.state_bytes = state_bytes();
  summary.durable_tick = durable_tick();
  return summary;
}

SessionCounters Session::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}


template <typename Real>
QueryPoint<Real> Session::CopyQuery() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& o = *std::get<std::unique_ptr<Optimizer<Real>>>(optimizer_);
  QueryPoint<Real> q;
  q.tick = o.tick();
  q.step = o.step();
  q.phase = o.phase();
  q.minibatch_key = o.ticks_share_minibatch() ? o.step() : o.tick();
  q.values.assign(o.Query().begin(), o.Query().end());
  return q;
}

bool Session::WaitForTickAfter(int64_t tick, absl::Time deadline, const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  auto current = [&] { return std::visit([](const auto& o) { return o->tick(); }, optimizer_); };
  while (current() <= tick) {
    if (closed_ || (cancelled && cancelled()) || absl::Now() >= deadline) return false;
    // Wake at least every 50 ms to notice a cancellation, which nobody notifies here.
    tick_changed_.wait_until(lock, absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Milliseconds(50))));
  }
  return true;
}

template <typename Real>
absl::StatusOr<TickOutcome> Session::SubmitGradient(int worker, int64_t tick, absl::Span<const Real> gradient,
                                                    double loss, double batch_size) {
  if (worker < 0 || worker >= workers_.num_workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker id ", worker, " is out of range: the session has ", workers_.num_workers, " workers"));
  }
  if (!(batch_size > 0) || !std::isfinite(batch_size)) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be finite and > 0, got ", batch_size));
  }
  Touch();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return absl::NotFoundError(absl::StrCat("session '", id_, "' was deleted"));
  auto* holder = std::get_if<std::unique_ptr<Optimizer<Real>>>(&optimizer_);
  if (holder == nullptr) {
    return absl::InternalError(absl::StrCat("gradient decoded as ", DTypeName(DTypeOf<Real>()), " for a ",
                                            DTypeName(dtype_), " session"));
  }
  Optimizer<Real>& o = **holder;
  if (tick > o.tick()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient for tick ", tick, " is from the future: the session is at tick ", o.tick()));
  }
  if (tick < 0) return absl::InvalidArgumentError(absl::StrCat("tick must be >= 0, got ", tick));
  if (workers_.mode == WorkerPolicy::Mode::kAsync) return SubmitAsync(o, worker, tick, gradient, loss);
  return SubmitSync(o, worker, tick, gradient, loss, batch_size);
}

template <typename Real>
absl::StatusOr<TickOutcome> Session::SubmitSync(Optimizer<Real>& o, int worker, int64_t tick,
                                                absl::Span<const Real> gradient, double loss, double batch_size) {
  auto last = last_tick_of_worker_.find(worker);
  const bool handled_before = last != last_tick_of_worker_.end() && last->second >= tick;
  if (tick < o.tick()) {
    if (handled_before) {
      ++counters_.gradients_duplicate;
      return TickOutcome::kDuplicate;
    }
    ++counters_.gradients_dropped;
    CountEvent(&ServerMetrics::stale_dropped);
    return TickOutcome::kDropped;
  }
  if (pending_.count(worker) != 0) {
    ++counters_.gradients_duplicate;
    return TickOutcome::kDuplicate;
  }
  // Skipped before it is logged: a skipped gradient changes nothing that must survive.
  if (SkipNonFinite(gradient, loss)) return TickOutcome::kSkipped;
  // Check now so a bad gradient is refused to its sender, not logged or discovered at the quorum.
  // (Applied alone and unlogged, Tell's own check suffices: no second pass on the hot path.)
  if (wal_ != nullptr || workers_.quorum > 1) {
    absl::Status checked = o.CheckGradient(gradient, loss);
    if (!checked.ok()) return CountRefusal(checked, gradient, loss);
  }
  const bool closes_tick = static_cast<int>(pending_.size()) + 1 >= workers_.quorum;
  absl::Status logged = LogLocked(GradientRecord(worker, tick, loss, batch_size, DTypeOf<Real>()),
                                  ValueBytes(gradient), o.tick() + (closes_tick ? 1 : 0));
  if (!logged.ok()) return logged;
  dirty_ = true;
  if (workers_.quorum == 1) {
    absl::Status s = TellCounted(o, gradient, loss);
    if (!s.ok()) return CountRefusal(s, gradient, loss);
  } else {
    absl::Status s;
    PendingContribution c{std::vector<double>(gradient.begin(), gradient.end()), loss, batch_size};
    pending_.emplace(worker, std::move(c));
    if (static_cast<int>(pending_.size()) < workers_.quorum) {
      last_tick_of_worker_[worker] = tick;
      return TickOutcome::kApplied;
    }
    // The quorum is complete: its weighted mean, rounded once to the state dtype.
    const QuorumMean quorum = WeightedMean(pending_, gradient.size());
    std::vector<Real> mean(quorum.gradient.begin(), quorum.gradient.end());
    s = TellCounted(o, absl::Span<const Real>(mean), quorum.loss);
    if (!s.ok()) {
      pending_.erase(worker);
      return s;
    }
    pending_.clear();
  }
  last_tick_of_worker_[worker] = tick;
  tick_changed_.notify_all();
  return TickOutcome::kApplied;
}

template <typename Real>
absl::StatusOr<TickOutcome> Session::SubmitAsync(Optimizer<Real>& o, int worker, int64_t tick,
                                                 absl::Span<const Real> gradient, double loss) {
  auto last = last_tick_of_worker_.find(worker);
  if (last != last_tick_of_worker_.end() && tick <= last->second) {
    ++counters_.gradients_duplicate;
    return TickOutcome::kDuplicate;
  }
  const int64_t staleness = o.tick() - tick;
  if (staleness > workers_.max_staleness) {
    CountEvent(&ServerMetrics::stale_rejected);
    return absl::AbortedError(absl::StrCat("gradient for tick ", tick, " is ", staleness,
                                           " ticks old; the session allows ", workers_.max_staleness,
                                           ": fetch the current query point and recompute"));
  }
  if (SkipNonFinite(gradient, loss)) return TickOutcome::kSkipped;
  if (wal_ != nullptr) {  // refused before it is logged; unlogged, Tell checks it
    absl::Status checked = o.CheckGradient(gradient, loss);
    if (!checked.ok()) return CountRefusal(checked, gradient, loss);
  }
  absl::Status s =
      LogLocked(GradientRecord(worker, tick, loss, 1, DTypeOf<Real>()), ValueBytes(gradient), o.tick() + 1);
  if (!s.ok()) return s;
  dirty_ = true;
  s = TellCounted(o, gradient, loss);
  if (!s.ok()) return CountRefusal(s, gradient, loss);
  if (staleness > 0) {
    ++counters_.gradients_stale_applied;
    CountEvent(&ServerMetrics::stale_applied);
  }
  last_tick_of_worker_[worker] = tick;
  tick_changed_.notify_all();
  return TickOutcome::kApplied;
}

template absl::StatusOr<TickOutcome> Session::SubmitGradient<float>(int, int64_t, absl::Span<const float>, double,
                                                                    double);
template absl::StatusOr<TickOutcome> Session::SubmitGradient<double>(int, int64_t, absl::Span<const double>, double,
                                                                     double);
template QueryPoint<float> Session::CopyQuery<float>() const;
template QueryPoint<double> Session::CopyQuery<double>() const;

}  // namespace basin
