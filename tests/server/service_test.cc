// basin-server over real loopback TCP: sessions, status codes, health and reflection.
#include <cmath>
#include <memory>
#include <thread>
#include <string>

#include "basin/v1/optimizer_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "client/cpp/basin_client.h"
#include "core/objectives/objective_driver.h"
#include "core/objectives/objective_spec.h"
#include "core/optimizer_registry.h"
#include "server/basin_server.h"
#include "tests/testing/loopback_server.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

class ServiceTest : public ::basin::testing::LoopbackServerTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_sessions = 8;
    return limits;
  }

  void SetUp() override {
    LoopbackServerTest::SetUp();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Optimizer::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  v1::CreateSessionRequest Request(const std::string& text) {
    v1::CreateSessionRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
    return request;
  }

  grpc::Status Create(const v1::CreateSessionRequest& request, v1::Session* session) {
    return stub_->CreateSession(Context().get(), request, session);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Optimizer::Stub> stub_;
};

TEST_F(ServiceTest, CreateReturnsTheResolvedSpecAndGetListDeleteWork) {
  v1::Session created;
  ASSERT_TRUE(Create(Request(R"pb(
                       spec {
                         tensors { name: "w" shape: [ 3, 4 ] }
                         tensors { name: "b" shape: 4 }
                         optimizer { entropy_sgd { variant: VARIANT_PAPER L: 5 } }
                         seed: 9
                       })pb"),
                     &created)
                  .ok());
  EXPECT_FALSE(created.session_id().empty());
  EXPECT_EQ(created.num_parameters(), 16);
  EXPECT_EQ(created.ticks_per_step(), 5);
  EXPECT_EQ(created.spec().state_dtype(), v1::DTYPE_F32);
  const auto& esgd = created.spec().optimizer().entropy_sgd();
  EXPECT_EQ(esgd.l(), 5);
  EXPECT_TRUE(esgd.has_ema());
  EXPECT_EQ(esgd.ema(), 0.75);  // the paper variant's default, filled in
  EXPECT_EQ(esgd.noise_scaling(), v1::EntropySgdConfig::NOISE_SCALING_PAPER);
  EXPECT_EQ(created.spec().workers().num_workers(), 1);
  EXPECT_EQ(created.spec().workers().quorum(), 1);

  v1::GetSessionRequest get;
  get.set_session_id(created.session_id());
  v1::Session fetched;
  ASSERT_TRUE(stub_->GetSession(Context().get(), get, &fetched).ok());
  EXPECT_EQ(fetched.SerializeAsString(), created.SerializeAsString());

  v1::ListSessionsResponse list;
  ASSERT_TRUE(stub_->ListSessions(Context().get(), v1::ListSessionsRequest(), &list).ok());
  ASSERT_EQ(list.sessions_size(), 1);

  v1::DeleteSessionRequest del;
  del.set_session_id(created.session_id());
  v1::DeleteSessionResponse deleted;
  ASSERT_TRUE(stub_->DeleteSession(Context().get(), del, &deleted).ok());
  grpc::Status s = stub_->GetSession(Context().get(), get, &fetched);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr(created.session_id()));
}

TEST_F(ServiceTest, BadSpecsAreInvalidArgumentAndCreateNothing) {
  auto expect = [&](const std::string& text, grpc::StatusCode code, const std::string& message) {
    v1::Session session;
    grpc::Status s = Create(Request(text), &session);
    EXPECT_EQ(s.error_code(), code) << text << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(message)) << text;
  };
  expect(R"pb(spec { optimizer { sgd {} } })pb", grpc::StatusCode::INVALID_ARGUMENT, "spec.tensors: layout has no tensors");
  expect(R"pb(spec { tensors { name: "x" shape: 2 } })pb", grpc::StatusCode::INVALID_ARGUMENT,
         "spec.optimizer: optimizer is not set");
  expect(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { entropy_sgd { gamma: -1 } } })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "spec.optimizer: entropy_sgd.gamma must be > 0, got -1");
  expect(R"pb(spec { tensors { name: "x" shape: 2 } state_dtype: DTYPE_BF16 optimizer { sgd {} } })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "spec.state_dtype must be F32 or F64, got DTYPE_BF16");
  expect(R"pb(spec { tensors { name: "x" shape: -2 } optimizer { sgd {} } })pb", grpc::StatusCode::INVALID_ARGUMENT,
         "negative dimension");
  expect(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd {} } workers { num_workers: 2 quorum: 3 } })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "workers.quorum must be in [1, num_workers = 2], got 3");
  expect(R"pb(spec {
                tensors { name: "x" shape: 2 }
                optimizer { sgd {} }
                samples { which: WHICH_ANCHOR }
              })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "sgd has none (only emcmc does)");
  expect(R"pb(spec {
                tensors { name: "x" shape: 2 }
                optimizer { sgd {} }
                durability { snapshot_interval_seconds: -1 }
              })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "spec.durability.snapshot_interval_seconds must be in [0, 1 year], got -1");
  expect(R"pb(spec {
                tensors { name: "x" shape: 2 }
                optimizer { sgd {} }
                durability { snapshot_interval_seconds: nan }
              })pb",
         grpc::StatusCode::INVALID_ARGUMENT, "snapshot_interval_seconds must be in [0, 1 year], got nan");
  // This server has no data directory: a durability it cannot keep is refused, not ignored.
  expect(R"pb(spec {
                tensors { name: "x" shape: 2 }
                optimizer { sgd {} }
                durability { mode: MODE_EVERY_TICK }
              })pb",
         grpc::StatusCode::FAILED_PRECONDITION, "durability every_tick needs a data directory");
  v1::CreateSessionRequest unknown_mode = Request(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd {} } })pb");
  unknown_mode.mutable_spec()->mutable_durability()->set_mode(static_cast<v1::Durability::Mode>(9));
  v1::Session session;
  const grpc::Status s = Create(unknown_mode, &session);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.durability.mode has no value 9"));
  EXPECT_EQ(server_->sessions().num_sessions(), 0);
}

TEST_F(ServiceTest, RequestIdRetriesReturnTheSameSession) {
  v1::CreateSessionRequest request = Request(R"pb(
    spec { tensors { name: "x" shape: 2 } optimizer { sgd { lr: 0.1 } } }
    request_id: "job-7/create")pb");
  v1::Session first, second;
  ASSERT_TRUE(Create(request, &first).ok());
  ASSERT_TRUE(Create(request, &second).ok());
  EXPECT_EQ(first.session_id(), second.session_id());
  request.mutable_spec()->mutable_optimizer()->mutable_sgd()->set_lr(0.2);
  EXPECT_EQ(Create(request, &second).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
}

TEST_F(ServiceTest, SessionLimitIsResourceExhausted) {
  v1::Session session;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(Create(Request(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd {} } })pb"), &session).ok());
  }
  grpc::Status s = Create(Request(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd {} } })pb"), &session);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("the server holds 8 sessions"));
}

TEST_F(ServiceTest, HealthServingThenNotServingWhileDraining) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", "basin.v1.Optimizer"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(Context().get(), request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  // A worker mid-tick: it holds the query point and has not answered yet.
  v1::Session session;
  ASSERT_TRUE(Create(Request(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd { lr: 0.5 } } })pb"),
                     &session)
                  .ok());
  auto stream = client_->Train(session.session_id());
  ASSERT_TRUE(stream.ok());
  auto query = (*stream)->NextQuery();
  ASSERT_TRUE(query.ok());

  std::thread drain([&] { server_->Drain(absl::Seconds(5)); });
  absl::SleepFor(absl::Milliseconds(200));
  // While the tick is in flight the server still answers: health NOT_SERVING, creation refused.
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("basin.v1.Optimizer");
  grpc::health::v1::HealthCheckResponse response;
  const bool checked = health->Check(Context().get(), request, &response).ok();
  v1::Session refused_session;
  grpc::Status refused =
      Create(Request(R"pb(spec { tensors { name: "x" shape: 2 } optimizer { sgd {} } })pb"), &refused_session);
  // The tick in flight completes; then the stream is closed with UNAVAILABLE.
  auto ack = (*stream)->Tell(query->tick, {1.0f, 1.0f}, 1.0);
  absl::Status end = (*stream)->Close();
  drain.join();

  ASSERT_TRUE(checked);
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("shutting down"));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->outcome(), v1::TickAck::OUTCOME_APPLIED);
  EXPECT_EQ(ack->session_tick(), 1);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable);
}

TEST_F(ServiceTest, RunObjectiveDrivesABuiltInObjectiveServerSide) {
  v1::RunObjectiveRequest request;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    spec { optimizer { sgd { lr: 0.5 momentum: 0.9 } } seed: 4 }
    objective { kind: "logistic_regression" dimension: 8 num_examples: 400 batch_size: 32 data_seed: 2 }
    ticks: 200
    report_every: 50)pb", &request));
  auto context = Context();
  auto reader = stub_->RunObjective(context.get(), request);
  std::vector<v1::RunObjectiveProgress> progress;
  v1::RunObjectiveProgress p;
  while (reader->Read(&p)) progress.push_back(p);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(progress.size(), 4u);
  EXPECT_EQ(progress.back().tick(), 200);
  EXPECT_LT(progress.back().full_loss(), 0.5 * std::log(2.0));  // from ln 2 at zero
  const std::string id = progress.back().session_id();

  // The same run in-process gives the same model, bit for bit.
  ObjectiveSpec objective{.kind = "logistic_regression", .dimension = 8, .data_seed = 2, .num_examples = 400,
                          .batch_size = 32};
  auto f = MakeObjective(objective);
  ASSERT_TRUE(f.ok());
  SgdConfig sgd;
  sgd.lr = 0.5;
  sgd.momentum = 0.9;
  OptimizerSpec spec{.config = sgd, .seed = 4};
  const std::vector<double> start = (*f)->InitialPoint();
  auto o = CreateOptimizer<float>(spec, (*f)->layout(), std::vector<float>(start.begin(), start.end()));
  ASSERT_TRUE(DriveObjective<float>(**o, **f, 200, 2).ok());
  auto served = server_->sessions().Get("", id);
  ASSERT_TRUE(served.ok());
  (*served)->WithOptimizer([&](const auto& s) {
    for (std::size_t i = 0; i < s.Model().size(); ++i) EXPECT_EQ(static_cast<float>(s.Model()[i]), (*o)->Model()[i]);
    return 0;
  });

  // More ticks on the same session continue it; a session of another layout is refused.
  request.clear_spec();
  request.set_session_id(id);
  request.set_ticks(10);
  auto more_context = Context();
  auto more = stub_->RunObjective(more_context.get(), request);
  while (more->Read(&p)) {
  }
  ASSERT_TRUE(more->Finish().ok());
  EXPECT_EQ(p.tick(), 210);
  request.mutable_objective()->set_dimension(9);
  auto mismatch_context = Context();
  auto mismatch = stub_->RunObjective(mismatch_context.get(), request);
  while (mismatch->Read(&p)) {
  }
  grpc::Status s = mismatch->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("another layout"));

  for (const std::string& bad : {std::string(R"pb(objective { kind: "cubic" } ticks: 1 spec { optimizer { sgd {} } })pb"),
                                 std::string(R"pb(objective { kind: "quadratic" } ticks: 0 spec { optimizer { sgd {} } })pb")}) {
    v1::RunObjectiveRequest r;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(bad, &r));
    auto c = Context();
    auto bad_reader = stub_->RunObjective(c.get(), r);
    while (bad_reader->Read(&p)) {
    }
    EXPECT_EQ(bad_reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
}

TEST_F(ServiceTest, ReflectionListsTheService) {
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  auto context = Context();
  auto stream = reflection->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.push_back(s.name());
  EXPECT_THAT(services, ::testing::Contains("basin.v1.Optimizer"));
  EXPECT_THAT(services, ::testing::Contains("grpc.health.v1.Health"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace basin
