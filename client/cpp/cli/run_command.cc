#include "client/cpp/cli/run_command.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/cli/json.h"
#include "client/cpp/cli/optimizer_settings.h"
#include "core/objectives/logistic_regression.h"

namespace basin::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What a training thread publishes for the progress display.
struct LiveProgress {
  std::atomic<int64_t> ticks{0};
  std::atomic<double> last_loss{kNaN};
  std::atomic<bool> done{false};
};

std::vector<float> ToFloat(absl::Span<const double> values) {
  return std::vector<float>(values.begin(), values.end());
}

// One optimizer: `total_ticks` ticks through the Train stream, gradients from `objective`.
absl::Status Drive(client::Client& client, const std::string& session_id, const Objective& objective,
                   uint64_t data_seed, int64_t total_ticks, LiveProgress& live) {
  absl::StatusOr<std::unique_ptr<client::TrainStream>> stream = client.Train(session_id);
  if (!stream.ok()) return stream.status();
  const std::size_t dimension = static_cast<std::size_t>(objective.dimension());
  std::vector<double> point(dimension), gradient(dimension);
  std::vector<float> gradient_f32(dimension);
  for (int64_t k = 0; k < total_ticks; ++k) {
    absl::StatusOr<client::Query> query = (*stream)->NextQuery();
    if (!query.ok()) return query.status();
    std::copy(query->values.begin(), query->values.end(), point.begin());
    // The server's minibatch key, not the tick: SAM's two ticks of a step must see one minibatch.
    const double loss = objective.Evaluate(point, absl::MakeSpan(gradient),
                                           SampleKey{data_seed, static_cast<uint64_t>(query->minibatch_key)});
    std::copy(gradient.begin(), gradient.end(), gradient_f32.begin());
    absl::StatusOr<v1::TickAck> ack = (*stream)->Tell(query->tick, gradient_f32, loss);
    if (!ack.ok()) return ack.status();
    if (ack->outcome() != v1::TickAck::OUTCOME_APPLIED) {
      return absl::AbortedError(absl::StrCat("tick ", query->tick, " was not applied: ",
                                             v1::TickAck::Outcome_Name(ack->outcome()),
                                             " (is another worker attached to ", session_id, "?)"));
    }
    live.ticks.store(k + 1, std::memory_order_relaxed);
    live.last_loss.store(loss, std::memory_order_relaxed);
  }
  return (*stream)->Close();
}

// Draws the live state of every run on `progress.stream`.
class ProgressDisplay {
 public:
  ProgressDisplay(const ProgressOutput& output, const std::vector<RunResult>& runs,
                  const std::vector<std::unique_ptr<LiveProgress>>& live)
      : output_(output), runs_(runs), live_(live), reported_done_(runs.size(), false),
        last_plain_(absl::Now()) {}

  // Called every kRefresh until every run is done, then once more with `final` set.
  void Update(bool final) {
    if (output_.stream == nullptr) return;
    if (output_.interactive) {
      if (drawn_) absl::FPrintF(output_.stream, "\x1b[%dA", static_cast<int>(runs_.size()));
      for (std::size_t i = 0; i < runs_.size(); ++i) {
        absl::FPrintF(output_.stream, "\r\x1b[2K%s\n", Bar(i));
      }
      drawn_ = true;
    } else {
      const bool periodic = absl::Now() - last_plain_ >= kPlainEvery;
      for (std::size_t i = 0; i < runs_.size(); ++i) {
        const bool done = live_[i]->done.load();
        if ((done && !reported_done_[i]) || (periodic && !done && !final)) {
          absl::FPrintF(output_.stream, "%s\n", Line(i));
          reported_done_[i] = reported_done_[i] || done;
        }
      }
      if (periodic) last_plain_ = absl::Now();
    }
    std::fflush(output_.stream);
  }

  static constexpr absl::Duration kRefresh = absl::Milliseconds(100);

 private:
  static constexpr absl::Duration kPlainEvery = absl::Seconds(2);
  static constexpr int kBarWidth = 30;

  // Set before the threads start and not written by them.
  int64_t Total(std::size_t i) const { return runs_[i].ticks_per_step * runs_[i].steps; }

  std::string Line(std::size_t i) const {
    const int64_t ticks = live_[i]->ticks.load();
    return absl::StrFormat("%-12s tick %d/%d  loss %.5g%s", runs_[i].optimizer, ticks, Total(i),
                           live_[i]->last_loss.load(), live_[i]->done.load() ? "  done" : "");
  }

  std::string Bar(std::size_t i) const {
    const int64_t ticks = live_[i]->ticks.load();
    const int64_t total = std::max<int64_t>(Total(i), 1);
    const int filled = static_cast<int>(kBarWidth * ticks / total);
    return absl::StrFormat("%-12s [%s%s] %3d%%  tick %d/%d  loss %.5g", runs_[i].optimizer,
                           std::string(filled, '#'), std::string(kBarWidth - filled, '.'),
                           static_cast<int>(100 * ticks / total), ticks, Total(i), live_[i]->last_loss.load());
  }

  const ProgressOutput output_;
  const std::vector<RunResult>& runs_;
  const std::vector<std::unique_ptr<LiveProgress>>& live_;
  std::vector<bool> reported_done_;
  absl::Time last_plain_;
  bool drawn_ = false;
};

// The session every run trains: the objective's layout, one optimizer, the CLI's seed and
// metrics label.
v1::CreateSessionRequest SessionRequest(const Objective& objective, const v1::OptimizerConfig& optimizer,
                                        uint64_t seed, const std::string& metrics_run) {
  v1::CreateSessionRequest request;
  v1::SessionSpec& spec = *request.mutable_spec();
  for (const TensorSpec& tensor : objective.layout().tensors()) {
    v1::TensorSpec& t = *spec.add_tensors();
    t.set_name(tensor.name);
    for (int64_t d : tensor.shape) t.add_shape(d);
  }
  spec.set_state_dtype(v1::DTYPE_F32);
  *spec.mutable_optimizer() = optimizer;
  spec.set_seed(seed);
  spec.set_metrics_run(metrics_run);
  return request;
}

void DeleteAll(client::Client& client, const std::vector<RunResult>& runs) {
  for (const RunResult& run : runs) client.DeleteSession(run.session_id).IgnoreError();
}

}  // namespace

absl::StatusOr<std::vector<RunResult>> RunOptimizers(client::Client& client, const RunOptions& options,
                                                     const ProgressOutput& progress) {
  if (options.steps < 1) return absl::InvalidArgumentError(absl::StrCat("--steps must be >= 1, got ", options.steps));
  absl::StatusOr<std::unique_ptr<Objective>> objective = MakeObjective(options.objective);
  if (!objective.ok()) return objective.status();
  // The final loss is over the whole data set, not one more minibatch.
  ObjectiveSpec full_batch_spec = options.objective;
  full_batch_spec.batch_size = 0;
  absl::StatusOr<std::unique_ptr<Objective>> full_batch = MakeObjective(full_batch_spec);
  if (!full_batch.ok()) return full_batch.status();
  const std::vector<float> initial = ToFloat((*objective)->InitialPoint());

  std::vector<RunResult> runs;
  for (const v1::OptimizerConfig& optimizer : options.optimizers) {
    RunResult run;
    run.optimizer = OptimizerNameOf(optimizer);
    const std::string metrics_run =
        options.metrics_run.empty() ? "" : absl::StrCat(options.metrics_run, "-", run.optimizer);
    absl::StatusOr<v1::Session> session =
        client.CreateSession(SessionRequest(**objective, optimizer, options.seed, metrics_run));
    absl::Status s = session.status();
    if (s.ok()) {
      run.session_id = session->session_id();
      run.ticks_per_step = session->ticks_per_step();
      run.steps = options.steps;
      s = client.PutParameters(run.session_id, v1::PARAMETER_SET_MODEL, initial);
      // EMCMC's anchor was copied from the zero model at creation; it starts with the model.
      if (s.ok() && run.optimizer == "emcmc") s = client.PutParameters(run.session_id, v1::PARAMETER_SET_ANCHOR, initial);
      runs.push_back(run);
    }
    if (!s.ok()) {
      DeleteAll(client, runs);
      return absl::Status(s.code(), absl::StrCat(run.optimizer, ": ", s.message()));
    }
  }

  std::vector<std::unique_ptr<LiveProgress>> live;
  for (std::size_t i = 0; i < runs.size(); ++i) live.push_back(std::make_unique<LiveProgress>());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    threads.emplace_back([&, i] {
      RunResult& run = runs[i];
      const absl::Time start = absl::Now();
      run.status = Drive(client, run.session_id, **objective, options.objective.data_seed,
                         run.steps * run.ticks_per_step, *live[i]);
      run.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
      live[i]->done.store(true);
    });
  }
  ProgressDisplay display(progress, runs, live);
  while (!std::all_of(live.begin(), live.end(), [](const auto& l) { return l->done.load(); })) {
    display.Update(/*final=*/false);
    absl::SleepFor(ProgressDisplay::kRefresh);
  }
  for (std::thread& t : threads) t.join();
  display.Update(/*final=*/true);

  const auto* logistic = dynamic_cast<const LogisticRegression*>(full_batch->get());
  for (RunResult& run : runs) {
    run.final_loss = kNaN;
    absl::StatusOr<v1::Session> session = client.GetSession(run.session_id);
    if (!session.ok()) {
      if (run.status.ok()) run.status = session.status();
      continue;
    }
    run.ticks = session->tick();
    run.steps = session->step();
    absl::StatusOr<std::vector<float>> model = client.GetParameters(run.session_id, v1::PARAMETER_SET_MODEL);
    if (!model.ok()) {
      if (run.status.ok()) run.status = model.status();
      continue;
    }
    const std::vector<double> x(model->begin(), model->end());
    run.final_loss = (*full_batch)->Evaluate(x, {}, SampleKey{options.objective.data_seed, 0});
    if (logistic != nullptr) run.accuracy = logistic->Accuracy(x);
  }
  return runs;
}

std::string FormatRunTable(const std::vector<RunResult>& results) {
  std::string out = absl::StrFormat("%-12s %8s %7s %12s %9s %8s  %s\n", "optimizer", "ticks", "steps",
                                    "final loss", "accuracy", "wall s", "session");
  for (const RunResult& r : results) {
    absl::StrAppendFormat(&out, "%-12s %8d %7d %12.6g %9s %8.2f  %s%s\n", r.optimizer, r.ticks, r.steps,
                          r.final_loss, r.accuracy ? absl::StrFormat("%.4f", *r.accuracy) : "-", r.wall_seconds,
                          r.session_id, r.status.ok() ? "" : absl::StrCat("  FAILED: ", r.status.ToString()));
  }
  return out;
}

std::string FormatRunJson(const RunOptions& options, const std::vector<RunResult>& results) {
  const ObjectiveSpec& o = options.objective;
  std::string out = absl::StrCat(
      "{\"objective\":{\"kind\":", JsonString(o.kind), ",\"dimension\":", JsonNumber(o.dimension),
      ",\"num_examples\":", JsonNumber(o.num_examples), ",\"batch_size\":", JsonNumber(o.batch_size),
      ",\"data_seed\":", std::to_string(o.data_seed), ",\"noise\":", JsonNumber(o.noise),
      "},\"steps\":", JsonNumber(options.steps), ",\"seed\":", std::to_string(options.seed), ",\"runs\":[");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const RunResult& r = results[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "{\"optimizer\":", JsonString(r.optimizer),
                    ",\"session_id\":", JsonString(r.session_id), ",\"ticks\":", JsonNumber(r.ticks),
                    ",\"steps\":", JsonNumber(r.steps), ",\"ticks_per_step\":", JsonNumber(r.ticks_per_step),
                    ",\"final_loss\":", JsonNumber(r.final_loss),
                    ",\"accuracy\":", r.accuracy ? JsonNumber(*r.accuracy) : "null",
                    ",\"wall_seconds\":", JsonNumber(r.wall_seconds), ",\"ok\":", r.status.ok() ? "true" : "false",
                    r.status.ok() ? "" : absl::StrCat(",\"error\":", JsonString(r.status.ToString())), "}");
  }
  return out + "\n]}\n";
}

}  // namespace basin::cli
