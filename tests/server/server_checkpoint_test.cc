// Server-side checkpoints: Checkpoint, ListCheckpoints, DeleteCheckpoint and
// CreateSessionRequest.from_checkpoint, over gRPC against a server with a data directory, across a
// restart, between tenants (in-process, ServerCheckpoints), and every refusal.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server_checkpoints.h"
#include "server/session_manager.h"
#include "tests/testing/loopback_server.h"

namespace basin::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::pair<std::vector<float>, double> Smooth(const client::Query& q, int) {
  std::vector<float> g(q.values.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = 0.5f * q.values[i] - 0.1f + 0.01f * std::sin(q.tick + 0.3f * i);
  return {g, 1.0};
}

class ServerCheckpointTest : public LoopbackServerTest {
 protected:
  ServerCheckpointTest()
      : dir_(fs::temp_directory_path() /
             absl::StrCat("basin-ckpt-", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-",
                          ::getpid())) {
    fs::remove_all(dir_);
  }
  ~ServerCheckpointTest() override { fs::remove_all(dir_); }

  std::string DataDir() const override { return dir_.string(); }
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_checkpoints_per_tenant = 3;
    return limits;
  }

  // A noisy EMCMC run (so bit-for-bit continuation covers the noise position).
  v1::Session CreateEmcmc(const std::string& extra = "") {
    return CreateFromText(absl::StrCat(R"pb(spec {
      tensors { name: "w" shape: 24 }
      optimizer { emcmc { lr: 0.05 temperature: 0.01 } }
      seed: 5 )pb", extra, " }"));
  }

  std::vector<float> Model(const std::string& id) {
    auto model = client_->GetParameters(id, v1::PARAMETER_SET_MODEL);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.value_or(std::vector<float>());
  }

  // The server as a restart on the same data directory leaves it.
  void Restart() {
    client_.reset();
    server_->Drain(absl::Seconds(5));
    server_->Wait();
    server_.reset();
    SetUp();
  }

  absl::StatusOr<v1::Session> CreateFrom(const std::string& checkpoint_id, const std::string& spec_text = "",
                                         const std::string& request_id = "") {
    v1::CreateSessionRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(spec_text, request.mutable_spec())) << spec_text;
    request.set_from_checkpoint(checkpoint_id);
    request.set_request_id(request_id);
    return client_->CreateSession(request);
  }

  fs::path dir_;
};

TEST_F(ServerCheckpointTest, ASessionMadeFromACheckpointContinuesBitForBit) {
  const v1::Session original = CreateEmcmc();
  Drive(original.session_id(), 7, Smooth);
  auto info = client_->Checkpoint(original.session_id(), "after-7");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->checkpoint_id(), "after-7");
  EXPECT_EQ(info->session_id(), original.session_id());
  EXPECT_EQ(info->tick(), 7);
  EXPECT_EQ(info->optimizer(), "emcmc");
  EXPECT_GT(info->bytes(), 24 * 4);
  Drive(original.session_id(), 9, Smooth);

  auto resumed = CreateFrom("after-7");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_NE(resumed->session_id(), original.session_id());
  EXPECT_EQ(resumed->tick(), 7);
  EXPECT_EQ(resumed->spec().optimizer().SerializeAsString(), original.spec().optimizer().SerializeAsString());
  Drive(resumed->session_id(), 9, Smooth);
  EXPECT_EQ(Model(resumed->session_id()), Model(original.session_id()));
  EXPECT_EQ(*client_->ExportSession(resumed->session_id()), *client_->ExportSession(original.session_id()));
}

TEST_F(ServerCheckpointTest, CheckpointsAreListedSurviveARestartAndAreDeleted) {
  const v1::Session a = CreateEmcmc();
  Drive(a.session_id(), 3, Smooth);
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "b-second").ok());
  auto chosen = client_->Checkpoint(a.session_id());
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_THAT(chosen->checkpoint_id(), ::testing::MatchesRegex("ck-[0-9a-f]{12}"));
  const std::string model_at_3 = *client_->ExportSession(a.session_id());

  Restart();
  auto listed = client_->ListCheckpoints();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].checkpoint_id(), "b-second");
  EXPECT_EQ((*listed)[1].checkpoint_id(), chosen->checkpoint_id());  // "b-" < "ck-"
  for (const auto& info : *listed) {
    EXPECT_EQ(info.tick(), 3);
    EXPECT_EQ(info.session_id(), a.session_id());
    EXPECT_TRUE(info.damage().empty());
  }
  auto resumed = CreateFrom("b-second");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(*client_->ExportSession(resumed->session_id()), model_at_3);

  ASSERT_TRUE(client_->DeleteCheckpoint("b-second").ok());
  EXPECT_EQ(client_->ListCheckpoints()->size(), 1u);
  const absl::Status again = client_->DeleteCheckpoint("b-second");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(again.message()), HasSubstr("no checkpoint 'b-second'"));
  EXPECT_EQ(CreateFrom("b-second").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerCheckpointTest, RefusalsNameTheProblemAndChangeNothing) {
  const v1::Session a = CreateEmcmc();
  auto expect = [](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(text));
  };
  expect(client_->Checkpoint("s-unknown", "x").status(), absl::StatusCode::kNotFound, "no session 's-unknown'");
  expect(client_->Checkpoint(a.session_id(), "../escape").status(), absl::StatusCode::kInvalidArgument,
         "checkpoint_id '../escape' must start with a letter or a digit");
  expect(client_->Checkpoint(a.session_id(), "a/b").status(), absl::StatusCode::kInvalidArgument,
         "may hold only letters, digits, '_', '.' and '-'");
  expect(client_->Checkpoint(a.session_id(), std::string(65, 'a')).status(), absl::StatusCode::kInvalidArgument,
         "checkpoint_id must be 1 to 64 characters, got 65");
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "one").ok());
  expect(client_->Checkpoint(a.session_id(), "one").status(), absl::StatusCode::kAlreadyExists,
         "checkpoint 'one' exists; delete it first or choose another id");
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "two").ok());
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "three").ok());
  expect(client_->Checkpoint(a.session_id(), "four").status(), absl::StatusCode::kResourceExhausted,
         "the default tenant holds 3 checkpoints, its limit (--max_checkpoints_per_tenant 3)");
  EXPECT_EQ(client_->ListCheckpoints()->size(), 3u);

  expect(CreateFrom("one", R"pb(optimizer { sgd {} })pb").status(), absl::StatusCode::kInvalidArgument,
         "with from_checkpoint the spec may set only metrics_run, durability and nonfinite_policy; it sets optimizer");
  expect(CreateFrom("one", R"pb(tensors { name: "w" shape: 24 })pb").status(), absl::StatusCode::kInvalidArgument,
         "it sets tensors");
  expect(CreateFrom("no-such").status(), absl::StatusCode::kNotFound, "no checkpoint 'no-such'");
  expect(CreateFrom("bad id").status(), absl::StatusCode::kInvalidArgument, "may hold only letters");
  expect(client_->DeleteCheckpoint(""), absl::StatusCode::kInvalidArgument,
         "checkpoint_id must be 1 to 64 characters, got 0");
  EXPECT_EQ(client_->ListSessions()->size(), 1u) << "no refused create made a session";

  // What the request may set is applied over the checkpoint.
  auto labelled = CreateFrom("one", R"pb(metrics_run: "resumed" durability { mode: MODE_EVERY_TICK }
                                          nonfinite_policy: NONFINITE_POLICY_SKIP)pb");
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(labelled->spec().metrics_run(), "resumed");
  EXPECT_EQ(labelled->spec().durability().mode(), v1::Durability::MODE_EVERY_TICK);
  EXPECT_EQ(labelled->spec().nonfinite_policy(), v1::NONFINITE_POLICY_SKIP);
}

TEST_F(ServerCheckpointTest, ADamagedCheckpointIsListedAsDamagedAndRefusedAsDataLoss) {
  const v1::Session a = CreateEmcmc();
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "fine").ok());
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "hurt").ok());
  fs::path hurt;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "checkpoints")) {
    if (entry.path().filename() == "hurt.ckpt") hurt = entry.path();
  }
  ASSERT_FALSE(hurt.empty());
  {
    std::fstream f(hurt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(hurt)) - 20);
    f.put('\x5a');
  }
  auto listed = client_->ListCheckpoints();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_TRUE((*listed)[0].damage().empty());  // "fine": its header is whole
  EXPECT_TRUE((*listed)[1].damage().empty()) << "only the body is damaged: the header still reads";
  const absl::Status s = CreateFrom("hurt").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("checkpoint checksum mismatch"));
  // A damaged header is listed with the damage.
  {
    std::fstream f(hurt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x5a');
  }
  listed = client_->ListCheckpoints();
  EXPECT_THAT((*listed)[1].damage(), HasSubstr("header checksum mismatch"));
  ASSERT_TRUE(client_->DeleteCheckpoint("hurt").ok());
  EXPECT_TRUE(CreateFrom("fine").ok());
}

TEST_F(ServerCheckpointTest, RequestIdsOfCreatesFromCheckpointsAndOfLargeInitialValuesSurviveARestart) {
  const v1::Session a = CreateEmcmc();
  ASSERT_TRUE(client_->Checkpoint(a.session_id(), "c").ok());
  auto first = CreateFrom("c", "", "resume-1");
  ASSERT_TRUE(first.ok()) << first.status();
  // initial_values far over the 4 KiB a snapshot string may hold: the request's fingerprint is a
  // digest, so the session it made still recovers.
  v1::CreateSessionRequest big;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(spec { tensors { name: "x" shape: 5000 } optimizer { sgd { lr: 0.1 } } } request_id: "big-1")pb", &big));
  v1::TensorChunk& chunk = *big.add_initial_values();
  chunk.set_tensor("x");
  chunk.set_dtype(v1::DTYPE_F32);
  std::vector<float> values(5000, 0.25f);
  chunk.set_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  auto made = client_->CreateSession(big);
  ASSERT_TRUE(made.ok()) << made.status();

  Restart();
  EXPECT_EQ(server_->recovery().failed, 0);
  auto retried = CreateFrom("c", "", "resume-1");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->session_id(), first->session_id());
  auto big_again = client_->CreateSession(big);
  ASSERT_TRUE(big_again.ok()) << big_again.status();
  EXPECT_EQ(big_again->session_id(), made->session_id());
  EXPECT_EQ(Model(made->session_id()), values);
}

TEST(ServerCheckpointsTest, EachTenantSeesOnlyItsOwnCheckpoints) {
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("basin-ckpt-tenants-", ::getpid());
  fs::remove_all(dir);
  {
    auto store = SessionStore::Open(dir.string());
    ASSERT_TRUE(store.ok()) << store.status();
    SessionManager manager(ServerLimits{}, nullptr, store->get());
    ServerCheckpoints checkpoints(store->get(), 2);
    CreateSessionSpec spec;
    spec.tenant = "alice";
    spec.layout = ParameterLayout::Flat(4);
    spec.optimizer.config = SgdConfig{};
    auto alices = manager.Create(spec);
    ASSERT_TRUE(alices.ok()) << alices.status();
    ASSERT_TRUE(checkpoints.Save("alice", **alices, "same-name").ok());
    // Bob may use the same id: ids are per tenant.
    ASSERT_TRUE(checkpoints.Save("bob", **alices, "same-name").ok());
    ASSERT_TRUE(checkpoints.Save("alice", **alices, "only-alice").ok());
    EXPECT_EQ(checkpoints.Save("alice", **alices, "third").status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(checkpoints.Save("carol", **alices, "third").ok()) << "the bound is per tenant";
    EXPECT_EQ(checkpoints.List("alice")->size(), 2u);
    EXPECT_EQ(checkpoints.List("bob")->size(), 1u);
    const absl::Status foreign = checkpoints.Load("bob", "only-alice").status();
    EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(std::string(foreign.message()), "no checkpoint 'only-alice'");
    EXPECT_EQ(checkpoints.Delete("bob", "only-alice").code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(checkpoints.Load("alice", "only-alice").ok());
  }
  fs::remove_all(dir);
}

class NoDataDirCheckpointTest : public LoopbackServerTest {};

TEST_F(NoDataDirCheckpointTest, ServerSideCheckpointsNeedADataDirectory) {
  const v1::Session a = CreateFromText(R"pb(spec { tensors { name: "w" shape: 3 } optimizer { sgd {} } })pb");
  for (const absl::Status& s :
       {client_->Checkpoint(a.session_id(), "x").status(), client_->ListCheckpoints().status(),
        client_->DeleteCheckpoint("x")}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("need a data directory"));
  }
  v1::CreateSessionRequest request;
  request.set_from_checkpoint("x");
  EXPECT_EQ(client_->CreateSession(request).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace basin::testing
