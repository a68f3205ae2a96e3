// basin-drive-traffic: drives a running basin-server through every path its metrics describe, so
// a scrape afterwards has samples for each series: sessions of all five optimizers (labelled for
// per-run metrics) that train for --duration, stale gradients of each outcome, refused calls of
// several codes, and parameter transfers both ways. The labelled sessions stay on the server.
//   basin-drive-traffic --target=127.0.0.1:50051 [--duration=5s] [--run_prefix=traffic]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/basin_client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "basin-server's gRPC address");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long the labelled sessions keep training");
ABSL_FLAG(std::string, run_prefix, "traffic", "per-run metrics labels are <prefix>-<optimizer>");

namespace basin {
namespace {

constexpr int kDimension = 16;

v1::CreateSessionRequest SessionOf(const std::string& optimizer, const std::string& metrics_run) {
  v1::CreateSessionRequest request;
  v1::SessionSpec& spec = *request.mutable_spec();
  v1::TensorSpec& tensor = *spec.add_tensors();
  tensor.set_name("w");
  tensor.add_shape(kDimension);
  v1::OptimizerConfig& config = *spec.mutable_optimizer();
  if (optimizer == "sgd") config.mutable_sgd();
  if (optimizer == "sgld") config.mutable_sgld();
  if (optimizer == "sam") config.mutable_sam();
  if (optimizer == "entropy_sgd") config.mutable_entropy_sgd();
  if (optimizer == "emcmc") config.mutable_emcmc();
  spec.set_seed(7);
  spec.set_metrics_run(metrics_run);
  return request;
}

// The gradient of ½‖x − 1‖², so the runs have a loss to report.
std::vector<float> GradientAt(const std::vector<float>& x, double* loss) {
  std::vector<float> g(x.size());
  *loss = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = x[i] - 1.0f;
    *loss += 0.5 * g[i] * g[i];
  }
  return g;
}

absl::Status Expect(absl::Status s, absl::StatusCode want, absl::string_view what) {
  if (s.code() == want) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": expected ", absl::StatusCodeToString(want), ", got ",
                                          s.ToString()));
}

// One tick on `stream`: query, gradient, ack.
absl::StatusOr<v1::TickAck> Tick(client::TrainStream& stream) {
  auto query = stream.NextQuery();
  if (!query.ok()) return query.status();
  double loss = 0;
  const std::vector<float> g = GradientAt(query->values, &loss);
  return stream.Tell(query->tick, g, loss);
}

absl::Status TrainLabelled(client::Client& client, const std::string& prefix, absl::Duration duration) {
  std::vector<std::unique_ptr<client::TrainStream>> streams;
  for (const std::string optimizer : {"sgd", "sgld", "sam", "entropy_sgd", "emcmc"}) {
    auto session = client.CreateSession(SessionOf(optimizer, absl::StrCat(prefix, "-", optimizer)));
    if (!session.ok()) return session.status();
    auto stream = client.Train(session->session_id());
    if (!stream.ok()) return stream.status();
    streams.push_back(*std::move(stream));
  }
  // The label is taken now.
  auto again = client.CreateSession(SessionOf("sgd", absl::StrCat(prefix, "-sgd")));
  if (absl::Status s = Expect(again.status(), absl::StatusCode::kAlreadyExists, "a second run label"); !s.ok()) {
    return s;
  }
  const absl::Time end = absl::Now() + duration;
  int64_t ticks = 0;
  do {
    for (auto& stream : streams) {
      auto ack = Tick(*stream);
      if (!ack.ok()) return ack.status();
      ++ticks;
    }
    absl::SleepFor(absl::Milliseconds(20));  // a steady rate across scrapes rather than one burst
  } while (absl::Now() < end);
  for (auto& stream : streams) {
    if (absl::Status s = stream->Close(); !s.ok()) return s;
  }
  std::printf("labelled runs: %lld ticks\n", static_cast<long long>(ticks));
  return absl::OkStatus();
}

// Async, τ = 1: worker 1 first answers a query three ticks old (rejected), then one tick old
// (applied late).
absl::Status AsyncStaleness(client::Client& client) {
  v1::CreateSessionRequest request = SessionOf("sgd", "");
  v1::WorkerPolicy& workers = *request.mutable_spec()->mutable_workers();
  workers.set_num_workers(2);
  workers.set_mode(v1::WorkerPolicy::MODE_ASYNC);
  workers.set_max_staleness(1);
  auto session = client.CreateSession(request);
  if (!session.ok()) return session.status();
  client::TrainOptions second;
  second.worker_id = 1;
  auto fast = client.Train(session->session_id());
  auto slow = client.Train(session->session_id(), second);
  if (!fast.ok()) return fast.status();
  if (!slow.ok()) return slow.status();
  auto old_query = (*slow)->NextQuery();
  if (!old_query.ok()) return old_query.status();
  for (int i = 0; i < 3; ++i) {
    if (auto ack = Tick(**fast); !ack.ok()) return ack.status();
  }
  double loss = 0;
  auto refused = (*slow)->Tell(old_query->tick, GradientAt(old_query->values, &loss), loss);
  if (absl::Status s = Expect(refused.status(), absl::StatusCode::kAborted, "a gradient 3 ticks old"); !s.ok()) {
    return s;
  }
  auto retry = client.Train(session->session_id(), second);
  if (!retry.ok()) return retry.status();
  auto query = (*retry)->NextQuery();
  if (!query.ok()) return query.status();
  if (auto ack = Tick(**fast); !ack.ok()) return ack.status();
  auto late = (*retry)->Tell(query->tick, GradientAt(query->values, &loss), loss);
  if (!late.ok()) return late.status();
  if (late->outcome() != v1::TickAck::OUTCOME_APPLIED) return absl::InternalError("a gradient 1 tick old was not applied");
  if (absl::Status s = (*retry)->Close(); !s.ok()) return s;
  if (absl::Status s = (*fast)->Close(); !s.ok()) return s;
  return client.DeleteSession(session->session_id());
}

// Sync with a quorum of 1 out of 2: the second worker's gradient for a closed tick is dropped.
absl::Status SyncDrop(client::Client& client) {
  v1::CreateSessionRequest request = SessionOf("sgd", "");
  v1::WorkerPolicy& workers = *request.mutable_spec()->mutable_workers();
  workers.set_num_workers(2);
  workers.set_quorum(1);
  auto session = client.CreateSession(request);
  if (!session.ok()) return session.status();
  client::TrainOptions second;
  second.worker_id = 1;
  auto first = client.Train(session->session_id());
  auto other = client.Train(session->session_id(), second);
  if (!first.ok()) return first.status();
  if (!other.ok()) return other.status();
  auto query = (*other)->NextQuery();
  if (!query.ok()) return query.status();
  if (auto ack = Tick(**first); !ack.ok()) return ack.status();
  double loss = 0;
  auto dropped = (*other)->Tell(query->tick, GradientAt(query->values, &loss), loss);
  if (!dropped.ok()) return dropped.status();
  if (dropped->outcome() != v1::TickAck::OUTCOME_DROPPED) return absl::InternalError("the late gradient was not dropped");
  if (absl::Status s = (*other)->Close(); !s.ok()) return s;
  if (absl::Status s = (*first)->Close(); !s.ok()) return s;
  return client.DeleteSession(session->session_id());
}

absl::Status RefusedCalls(client::Client& client) {
  if (absl::Status s = Expect(client.GetSession("s-no-such-session").status(), absl::StatusCode::kNotFound,
                              "an unknown session");
      !s.ok()) {
    return s;
  }
  v1::CreateSessionRequest bad = SessionOf("sgd", "");
  bad.mutable_spec()->mutable_optimizer()->mutable_sgd()->set_lr(-1);
  return Expect(client.CreateSession(bad).status(), absl::StatusCode::kInvalidArgument, "a negative lr");
}

absl::Status Parameters(client::Client& client) {
  auto session = client.CreateSession(SessionOf("emcmc", ""));
  if (!session.ok()) return session.status();
  const std::vector<float> values(kDimension, 0.5f);
  if (absl::Status s = client.PutParameters(session->session_id(), v1::PARAMETER_SET_MODEL, values); !s.ok()) return s;
  auto anchor = client.GetParameters(session->session_id(), v1::PARAMETER_SET_ANCHOR);
  if (!anchor.ok()) return anchor.status();
  return client.DeleteSession(session->session_id());
}

int Main() {
  auto client = client::Client::Connect(absl::GetFlag(FLAGS_target));
  const std::pair<const char*, std::function<absl::Status()>> steps[] = {
      {"refused calls", [&] { return RefusedCalls(*client); }},
      {"parameters", [&] { return Parameters(*client); }},
      {"async staleness", [&] { return AsyncStaleness(*client); }},
      {"sync drop", [&] { return SyncDrop(*client); }},
      {"labelled runs",
       [&] { return TrainLabelled(*client, absl::GetFlag(FLAGS_run_prefix), absl::GetFlag(FLAGS_duration)); }},
  };
  for (const auto& [name, step] : steps) {
    if (absl::Status s = step(); !s.ok()) {
      std::fprintf(stderr, "basin-drive-traffic: %s: %s\n", name, s.ToString().c_str());
      return 1;
    }
    std::printf("%s: done\n", name);
  }
  return 0;
}

}  // namespace
}  // namespace basin

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return basin::Main();
}
