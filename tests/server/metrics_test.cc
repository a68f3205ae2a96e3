// The metrics of docs/metrics.md, read from a real basin-server after real RPCs: the gRPC
// interceptor's series, tick and byte counters, stale gradients, the session gauges, per-run
// opt-in with its limits, and the HTTP endpoint Prometheus scrapes.
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "server/flag_spelling.h"
#include "tests/testing/http_get.h"
#include "tests/testing/loopback_server.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

// One scrape: every family of every collectable, searchable by name and labels.
class Scrape {
 public:
  explicit Scrape(const BasinServer& server) {
    for (const auto& weak : server.collectables()) {
      auto collectable = weak.lock();
      for (auto& family : collectable->Collect()) families_.push_back(std::move(family));
    }
  }

  // The series `name` with exactly `labels`; nullopt when absent. Histograms give their count.
  std::optional<double> Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& family : families_) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        std::map<std::string, std::string> have;
        for (const auto& label : metric.label) have[label.name] = label.value;
        if (have != labels) continue;
        switch (family.type) {
          case prometheus::MetricType::Counter:
            return metric.counter.value;
          case prometheus::MetricType::Gauge:
            return metric.gauge.value;
          case prometheus::MetricType::Histogram:
            return static_cast<double>(metric.histogram.sample_count);
          default:
            return std::nullopt;
        }
      }
    }
    return std::nullopt;
  }

  double Get(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> v = Value(name, labels);
    EXPECT_TRUE(v.has_value()) << "no series " << name << " with the given labels";
    return v.value_or(std::nan(""));
  }

  // Sum over every series of `name` whose labels include `labels`.
  double Sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    double sum = 0;
    for (const auto& family : families_) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        bool match = true;
        for (const auto& [key, value] : labels) {
          bool found = false;
          for (const auto& label : metric.label) found |= label.name == key && label.value == value;
          match &= found;
        }
        if (!match) continue;
        switch (family.type) {
          case prometheus::MetricType::Histogram:
            sum += static_cast<double>(metric.histogram.sample_count);
            break;
          case prometheus::MetricType::Gauge:
            sum += metric.gauge.value;
            break;
          default:
            sum += metric.counter.value;
        }
      }
    }
    return sum;
  }

  std::string Text() const { return prometheus::TextSerializer().Serialize(families_); }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

std::map<std::string, std::string> Rpc(const std::string& method, const std::string& type,
                                       const std::string& service = "basin.v1.Optimizer") {
  return {{"grpc_service", service}, {"grpc_method", method}, {"grpc_type", type}};
}

std::map<std::string, std::string> WithCode(std::map<std::string, std::string> labels, const std::string& code) {
  labels["grpc_code"] = code;
  return labels;
}

class MetricsTest : public ::basin::testing::LoopbackServerTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_metric_runs = 2;
    return limits;
  }

  absl::StatusOr<v1::Session> Create(const std::string& text) {
    v1::CreateSessionRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
    return client_->CreateSession(request);
  }

  static std::string Spec(const std::string& optimizer, const std::string& extra = "") {
    return absl::StrCat("spec { tensors { name: 'w' shape: 4 shape: 3 } optimizer { ", optimizer, " {} } ", extra,
                        " }");
  }

  // `ticks` ticks of one worker; the gradient is the point itself, the k-th loss is k + 1.
  void Drive(const std::string& id, int ticks) {
    LoopbackServerTest::Drive(id, ticks,
                              [](const client::Query& q, int k) { return std::make_pair(q.values, 1.0 + k); });
  }
};

TEST_F(MetricsTest, TicksStepsAndLatenciesAreCountedPerOptimizer) {
  auto session = Create(Spec("entropy_sgd", ""));
  ASSERT_TRUE(session.ok()) << session.status();
  const int L = session->ticks_per_step();
  ASSERT_GT(L, 1);
  Drive(session->session_id(), 2 * L + 1);

  const Scrape scrape(*server_);
  const std::map<std::string, std::string> esgd{{"optimizer", "entropy_sgd"}};
  EXPECT_EQ(scrape.Get("basin_ticks_total", esgd), 2 * L + 1);
  EXPECT_EQ(scrape.Get("basin_steps_total", esgd), 2);
  EXPECT_EQ(scrape.Get("basin_tick_compute_seconds", esgd), 2 * L + 1);
  EXPECT_EQ(scrape.Get("basin_tick_seconds", esgd), 2 * L + 1);
  EXPECT_EQ(scrape.Get("basin_sessions_created_total", esgd), 1);
  // Every optimizer's series exists from the start, so dashboards show 0 rather than nothing.
  for (const char* other : {"sgd", "sgld", "sam", "emcmc"}) {
    EXPECT_EQ(scrape.Get("basin_ticks_total", {{"optimizer", other}}), 0) << other;
    EXPECT_EQ(scrape.Get("basin_tick_seconds", {{"optimizer", other}}), 0) << other;
  }
  EXPECT_EQ(scrape.Get("basin_train_streams"), 0);
}

TEST_F(MetricsTest, BytesCountTensorDataEachWay) {
  auto session = Create(Spec("sgd"));
  ASSERT_TRUE(session.ok()) << session.status();
  const int ticks = 3;
  const double tensor_bytes = 12 * sizeof(float);
  Drive(session->session_id(), ticks);
  ASSERT_TRUE(client_->PutParameters(session->session_id(), v1::PARAMETER_SET_MODEL, std::vector<float>(12, 1)).ok());
  ASSERT_TRUE(client_->GetParameters(session->session_id(), v1::PARAMETER_SET_MODEL).ok());

  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_gradient_bytes_total"), ticks * tensor_bytes);
  EXPECT_EQ(scrape.Get("basin_parameter_bytes_total", {{"direction", "received"}}), tensor_bytes);
  // A query point per tick, the one after the last gradient, and the GetParameters answer.
  EXPECT_EQ(scrape.Get("basin_parameter_bytes_total", {{"direction", "sent"}}), (ticks + 2) * tensor_bytes);
}

TEST_F(MetricsTest, GrpcServerMetricsFollowTheConventionalNamesAndCodes) {
  ASSERT_EQ(client_->GetSession("s-none").status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(Create(Spec("sgd", "seed: 1") + " request_id: 'x'").status().code(), absl::StatusCode::kOk);
  ASSERT_EQ(Create("spec { tensors { name: 'w' shape: 2 } optimizer { sgd { lr: -1 } } }").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(client_->Health().value_or(""), "SERVING");
  auto session = client_->ListSessions();
  ASSERT_TRUE(session.ok());
  Drive(session->front().session_id(), 2);

  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("GetSession", "unary"), "NotFound")), 1);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("CreateSession", "unary"), "OK")), 1);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("CreateSession", "unary"), "InvalidArgument")), 1);
  EXPECT_EQ(scrape.Get("grpc_server_started_total", Rpc("CreateSession", "unary")), 2);
  EXPECT_EQ(scrape.Get("grpc_server_handling_seconds", Rpc("CreateSession", "unary")), 2);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total",
                       WithCode(Rpc("Check", "unary", "grpc.health.v1.Health"), "OK")),
            1);
  // The Train stream: an attach and two gradients in; three query points and two acks out.
  const auto train = Rpc("Train", "bidi_stream");
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(train, "OK")), 1);
  EXPECT_EQ(scrape.Get("grpc_server_msg_received_total", train), 3);
  EXPECT_EQ(scrape.Get("grpc_server_msg_sent_total", train), 5);
  // Every started RPC is handled exactly once.
  EXPECT_EQ(scrape.Sum("grpc_server_started_total"), scrape.Sum("grpc_server_handled_total"));
  // Series of methods and codes that have not happened exist at 0.
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("GetParameters", "server_stream"), "Internal")), 0);
  EXPECT_EQ(scrape.Get("grpc_server_started_total", Rpc("ServerReflectionInfo", "bidi_stream",
                                                        "grpc.reflection.v1alpha.ServerReflection")),
            0);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("Watch", "server_stream", "grpc.health.v1.Health"),
                                                             "Unauthenticated")),
            0);
}

TEST_F(MetricsTest, AMethodNoServiceDeclaresIsLabelledUnknown) {
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  grpc::ByteBuffer request, response;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&context, "/basin.v1.Optimizer/NoSuchMethod-x9", request, &cq);
  call->StartCall();
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }

  const Scrape scrape(*server_);
  EXPECT_THAT(scrape.Text(), ::testing::Not(HasSubstr("NoSuchMethod")));
  // Whether gRPC runs interceptors for a method nobody registered is its business; if it does,
  // the call is counted under "unknown".
  const double unknown = scrape.Sum("grpc_server_started_total", {{"grpc_method", "unknown"}});
  EXPECT_EQ(unknown, scrape.Sum("grpc_server_handled_total", {{"grpc_method", "unknown"}}));
}

TEST_F(MetricsTest, StaleGradientsAreCountedByOutcome) {
  // Sync, quorum 1 of 2: worker 1's gradient for a closed tick is dropped.
  auto sync = Create(Spec("sgd", "workers { num_workers: 2 quorum: 1 }"));
  ASSERT_TRUE(sync.ok()) << sync.status();
  client::TrainOptions second;
  second.worker_id = 1;
  auto late = client_->Train(sync->session_id(), second);
  ASSERT_TRUE(late.ok());
  auto q = (*late)->NextQuery();
  ASSERT_TRUE(q.ok());
  Drive(sync->session_id(), 1);
  auto dropped = (*late)->Tell(q->tick, q->values, 0);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(dropped->outcome(), v1::TickAck::OUTCOME_DROPPED);
  ASSERT_TRUE((*late)->Close().ok());

  // Async, τ = 1: two ticks old is rejected, one tick old is applied.
  auto async = Create(Spec("sgd", "workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 1 }"));
  ASSERT_TRUE(async.ok()) << async.status();
  auto slow = client_->Train(async->session_id(), second);
  ASSERT_TRUE(slow.ok());
  auto old = (*slow)->NextQuery();
  ASSERT_TRUE(old.ok());
  Drive(async->session_id(), 2);
  EXPECT_EQ((*slow)->Tell(old->tick, old->values, 0).status().code(), absl::StatusCode::kAborted);
  auto retry = client_->Train(async->session_id(), second);
  ASSERT_TRUE(retry.ok());
  auto recent = (*retry)->NextQuery();
  ASSERT_TRUE(recent.ok());
  Drive(async->session_id(), 1);
  auto applied = (*retry)->Tell(recent->tick, recent->values, 0);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE((*retry)->Close().ok());

  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_stale_gradients_total", {{"outcome", "dropped"}}), 1);
  EXPECT_EQ(scrape.Get("basin_stale_gradients_total", {{"outcome", "rejected"}}), 1);
  EXPECT_EQ(scrape.Get("basin_stale_gradients_total", {{"outcome", "applied"}}), 1);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("Train", "bidi_stream"), "Aborted")), 1);
}

TEST_F(MetricsTest, NonFiniteGradientsAreCountedByAction) {
  for (const char* policy : {"NONFINITE_POLICY_REJECT", "NONFINITE_POLICY_SKIP"}) {
    auto session = Create(Spec("sgd", absl::StrCat("nonfinite_policy: ", policy)));
    ASSERT_TRUE(session.ok()) << session.status();
    auto stream = client_->Train(session->session_id());
    ASSERT_TRUE(stream.ok());
    auto q = (*stream)->NextQuery();
    ASSERT_TRUE(q.ok());
    (*stream)->Tell(q->tick, q->values, std::nan("")).IgnoreError();  // refused or skipped
    (*stream)->Close().IgnoreError();
  }
  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_gradients_nonfinite_total", {{"action", "rejected"}}), 1);
  EXPECT_EQ(scrape.Get("basin_gradients_nonfinite_total", {{"action", "skipped"}}), 1);
  EXPECT_EQ(scrape.Get("grpc_server_handled_total", WithCode(Rpc("Train", "bidi_stream"), "InvalidArgument")), 1);
}

TEST_F(MetricsTest, SessionGaugesFollowCreateAndDelete) {
  auto a = Create(Spec("emcmc"));
  auto b = Create(Spec("sgd"));
  ASSERT_TRUE(a.ok() && b.ok());
  Scrape before(*server_);
  EXPECT_EQ(before.Get("basin_sessions"), 2);
  EXPECT_EQ(before.Get("basin_sessions_limit"), 1024);
  EXPECT_EQ(before.Get("basin_state_bytes"), a->state_bytes() + b->state_bytes());
  EXPECT_EQ(before.Get("basin_state_bytes_limit"), static_cast<double>(ServerLimits{}.max_total_state_bytes));

  ASSERT_TRUE(client_->DeleteSession(a->session_id()).ok());
  Scrape after(*server_);
  EXPECT_EQ(after.Get("basin_sessions"), 1);
  EXPECT_EQ(after.Get("basin_state_bytes"), b->state_bytes());
  EXPECT_EQ(after.Get("basin_sessions_deleted_total", {{"optimizer", "emcmc"}}), 1);
  EXPECT_EQ(after.Get("basin_sessions_created_total", {{"optimizer", "emcmc"}}), 1);
}

TEST_F(MetricsTest, RunLabelsOptInToPerRunGauges) {
  auto labelled = Create(Spec("emcmc", "metrics_run: 'exp-1.a'"));
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(labelled->spec().metrics_run(), "exp-1.a");
  auto unlabelled = Create(Spec("sgd"));
  ASSERT_TRUE(unlabelled.ok());
  Drive(labelled->session_id(), 3);
  Drive(unlabelled->session_id(), 3);

  const Scrape scrape(*server_);
  const std::map<std::string, std::string> run{{"optimizer", "emcmc"}, {"run", "exp-1.a"}};
  auto stats = client_->GetStats(labelled->session_id());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(scrape.Get("basin_run_loss", run), 3.0);  // the loss told with the third gradient
  EXPECT_EQ(scrape.Get("basin_run_step", run), 3);
  EXPECT_GT(scrape.Get("basin_run_gradient_norm", run), 0);
  EXPECT_GT(scrape.Get("basin_run_lr", run), 0);
  EXPECT_EQ(scrape.Get("basin_run_gamma", run), 0);
  EXPECT_GT(scrape.Get("basin_run_distance_to_anchor", run), 0);
  // No series for the session that did not opt in.
  EXPECT_EQ(scrape.Sum("basin_run_step"), 3);

  ASSERT_TRUE(client_->DeleteSession(labelled->session_id()).ok());
  EXPECT_FALSE(Scrape(*server_).Value("basin_run_loss", run).has_value());
  // The label is free again.
  EXPECT_TRUE(Create(Spec("sgd", "metrics_run: 'exp-1.a'")).ok());
}

TEST_F(MetricsTest, RunLabelsAreCheckedUniqueAndCapped) {
  auto first = Create(Spec("sgd", "metrics_run: 'a'"));
  ASSERT_TRUE(first.ok()) << first.status();

  auto taken = Create(Spec("sgd", "metrics_run: 'a'"));
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(taken.status().message(), HasSubstr(first->session_id()));

  auto spaced = Create(Spec("sgd", "metrics_run: 'a b'"));
  EXPECT_EQ(spaced.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spaced.status().message(), HasSubstr("metrics_run"));
  auto long_label = Create(Spec("sgd", absl::StrCat("metrics_run: '", std::string(33, 'x'), "'")));
  EXPECT_EQ(long_label.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(long_label.status().message(), HasSubstr("33"));

  ASSERT_TRUE(Create(Spec("sgd", "metrics_run: 'b'")).ok());
  auto third = Create(Spec("sgd", "metrics_run: 'c'"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.status().message(),
            "the server holds 2 sessions with a metrics_run label, its limit (--max_metric_runs 2); create this one "
            "without a label");
  // Refusals change nothing: two sessions, two runs.
  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_sessions"), 2);
  EXPECT_EQ(scrape.Sum("basin_sessions_created_total"), 2);
  // Unlabelled sessions are not limited by the cap.
  EXPECT_TRUE(Create(Spec("sgd")).ok());
}

TEST_F(MetricsTest, ReplayedCreateCountsOnce) {
  const std::string text = Spec("sgd", "metrics_run: 'r'") + " request_id: 'req-1'";
  auto first = Create(text);
  auto again = Create(text);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->session_id(), again->session_id());
  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_sessions_created_total", {{"optimizer", "sgd"}}), 1);
  EXPECT_EQ(scrape.Get("basin_sessions"), 1);
}

TEST_F(MetricsTest, RunObjectiveTicksAreCounted) {
  v1::RunObjectiveRequest request;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "objective { kind: 'quadratic' dimension: 3 } ticks: 7 spec { optimizer { sam {} } }", &request));
  grpc::ClientContext context;
  auto reader = client_->stub().RunObjective(&context, request);
  v1::RunObjectiveProgress progress;
  while (reader->Read(&progress)) {
  }
  ASSERT_TRUE(reader->Finish().ok());
  const Scrape scrape(*server_);
  EXPECT_EQ(scrape.Get("basin_ticks_total", {{"optimizer", "sam"}}), 7);
  EXPECT_EQ(scrape.Get("basin_steps_total", {{"optimizer", "sam"}}), 3);  // two ticks a step
}

using ::basin::testing::HttpGet;

class MetricsEndpointTest : public ::basin::testing::LoopbackServerTest {
 protected:
  std::string MetricsListen() const override { return "127.0.0.1:0"; }
};

TEST_F(MetricsEndpointTest, ServesTheTextFormatOverHttp) {
  ASSERT_THAT(server_->metrics_address(), ::testing::StartsWith("127.0.0.1:"));
  ASSERT_TRUE(client_->GetSession("s-none").status().code() == absl::StatusCode::kNotFound);
  const std::string response = HttpGet(server_->metrics_address(), "/metrics");
  EXPECT_THAT(response, HasSubstr("200 OK"));
  EXPECT_THAT(response, HasSubstr("# TYPE basin_ticks_total counter"));
  EXPECT_THAT(response, HasSubstr("basin_build_info{version=\""));
  EXPECT_THAT(response, HasSubstr("basin_sessions 0"));
  EXPECT_THAT(response, HasSubstr("grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method=\"GetSession\""));
}

TEST(MetricsEndpointStartTest, AnAddressInUseIsAClearError) {
  ServerOptions first;
  first.listen = "127.0.0.1:0";
  first.metrics_listen = "127.0.0.1:0";
  auto server = BasinServer::Start(first);
  ASSERT_TRUE(server.ok()) << server.status();
  ServerOptions second = first;
  second.metrics_listen = (*server)->metrics_address();
  auto clash = BasinServer::Start(second);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(clash.status().message(), HasSubstr("cannot serve metrics on " + second.metrics_listen));
}

TEST(FlagNamesTest, DashesInFlagNamesBecomeUnderscores) {
  std::vector<std::string> storage;
  const char* argv[] = {"basin-server", "--metrics-listen=127.0.0.1:0", "-drain-grace", "-1.5e-3",
                        "--max_sessions=-1",  "--",  "--not-a-flag"};
  std::vector<char*> out = WithUnderscoredFlagNames(7, const_cast<char**>(argv), storage);
  ASSERT_EQ(out.size(), 8u);
  EXPECT_STREQ(out[0], "basin-server");
  EXPECT_STREQ(out[1], "--metrics_listen=127.0.0.1:0");
  EXPECT_STREQ(out[2], "-drain_grace");
  EXPECT_STREQ(out[3], "-1.5e-3");
  EXPECT_STREQ(out[4], "--max_sessions=-1");
  EXPECT_STREQ(out[5], "--");
  EXPECT_STREQ(out[6], "--not-a-flag");
  EXPECT_EQ(out[7], nullptr);
}

}  // namespace
}  // namespace basin
