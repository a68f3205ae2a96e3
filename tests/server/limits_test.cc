// Every limit of basin-server over real loopback TCP: each refusal is RESOURCE_EXHAUSTED, names the
// limit and the value, and changes nothing. (Per-tenant quotas: security_test; labelled runs:
// metrics_test; checkpoint size: checkpoint_test.)
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_server.h"

namespace basin {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr int64_t kMaxChunkBytes = 1024;
// What the server lets a message be: a chunk plus its framing (basin_server.cc).
constexpr int64_t kMaxMessageBytes = kMaxChunkBytes + (64 << 10);

class LimitsTest : public ::basin::testing::LoopbackServerTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_sessions = 3;
    limits.max_parameters_per_session = 1000;
    limits.max_total_state_bytes = 8000;  // two SGD sessions of 1000 f32 parameters
    limits.max_chunk_bytes = kMaxChunkBytes;
    limits.max_workers_per_session = 4;
    return limits;
  }

  absl::Status CreateStatus(const std::string& spec) {
    v1::CreateSessionRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(absl::StrCat("spec { ", spec, " }"), &request));
    return client_->CreateSession(request).status();
  }

  static void ExpectExhausted(const absl::Status& s, const std::string& message) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_EQ(s.message(), message);
  }

  // PutParameters of one chunk of `bytes` zero bytes into tensor "x" of `session_id`.
  grpc::Status PutOneChunk(const std::string& session_id, int64_t bytes) {
    grpc::ClientContext context;
    v1::PutParametersResponse response;
    auto writer = client_->stub().PutParameters(&context, &response);
    v1::PutParametersRequest target;
    target.mutable_target()->set_session_id(session_id);
    writer->Write(target);
    v1::PutParametersRequest chunk;
    chunk.mutable_chunk()->set_tensor("x");
    chunk.mutable_chunk()->set_dtype(v1::DTYPE_F32);
    chunk.mutable_chunk()->set_data(std::string(static_cast<size_t>(bytes), '\0'));
    writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  }
};

constexpr char kSgd[] = "optimizer { sgd { lr: 0.1 } }";

TEST_F(LimitsTest, Sessions) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 2 } ", kSgd)).ok());
  ExpectExhausted(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 2 } ", kSgd)),
                  "the server holds 3 sessions, its limit (--max_sessions 3)");
  EXPECT_EQ(server_->sessions().num_sessions(), 3);
}

TEST_F(LimitsTest, ParametersPerSession) {
  ExpectExhausted(CreateStatus(absl::StrCat("tensors { name: 'w' shape: [10, 100] } tensors { name: 'b' shape: 1 } ", kSgd)),
                  "the layout has 1001 parameters; the limit per session is 1000 (--max_parameters_per_session)");
  EXPECT_TRUE(CreateStatus(absl::StrCat("tensors { name: 'w' shape: [10, 100] } ", kSgd)).ok());
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
}

TEST_F(LimitsTest, TotalStateBytes) {
  ASSERT_TRUE(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 1000 } ", kSgd)).ok());
  ASSERT_TRUE(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 999 } ", kSgd)).ok());
  ExpectExhausted(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 2 } ", kSgd)),
                  "the session needs 8 bytes of state; the server holds 7996 of its limit 8000 (--max_total_state_bytes)");
  EXPECT_EQ(server_->sessions().num_sessions(), 2);
  EXPECT_EQ(server_->sessions().total_state_bytes(), 7996);
}

TEST_F(LimitsTest, WorkersPerSession) {
  ExpectExhausted(
      CreateStatus(absl::StrCat("tensors { name: 'x' shape: 2 } ", kSgd, " workers { num_workers: 5 }")),
      "workers.num_workers is 5; the limit per session is 4 (--max_workers_per_session)");
  EXPECT_TRUE(CreateStatus(absl::StrCat("tensors { name: 'x' shape: 2 } ", kSgd, " workers { num_workers: 4 }")).ok());
}

TEST_F(LimitsTest, ChunkSizeInEveryDirectionThatCarriesTensors) {
  const v1::Session session = CreateFromText(absl::StrCat("spec { tensors { name: 'x' shape: 1000 } ", kSgd, " }"));
  const std::vector<float> before = *client_->GetParameters(session.session_id(), v1::PARAMETER_SET_MODEL);
  const std::string message = "chunk of tensor 'x' at offset 0 has 2048 bytes of data; the limit is 1024 bytes";

  const grpc::Status put = PutOneChunk(session.session_id(), 2048);
  EXPECT_EQ(put.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(put.error_message(), HasSubstr(message));

  v1::CreateSessionRequest create;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      absl::StrCat("spec { tensors { name: 'x' shape: 1000 } ", kSgd, " }"), &create));
  v1::TensorChunk& initial = *create.add_initial_values();
  initial.set_tensor("x");
  initial.set_dtype(v1::DTYPE_F32);
  initial.set_data(std::string(2048, '\0'));
  const absl::Status created = client_->CreateSession(create).status();
  EXPECT_EQ(created.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(created.message(), absl::StrCat("initial_values: ", message));

  grpc::ClientContext context;
  auto stream = client_->stub().Train(&context);
  v1::TrainRequest request;
  request.mutable_attach()->set_session_id(session.session_id());
  ASSERT_TRUE(stream->Write(request));
  v1::TrainResponse query;
  do {
    ASSERT_TRUE(stream->Read(&query));
  } while (!query.query().last());
  request.Clear();
  v1::GradientChunk& gradient = *request.mutable_gradient();
  gradient.set_tick(0);
  gradient.mutable_chunk()->set_tensor("x");
  gradient.mutable_chunk()->set_dtype(v1::DTYPE_F32);
  gradient.mutable_chunk()->set_data(std::string(2048, '\0'));
  stream->Write(request);
  stream->WritesDone();
  const grpc::Status train = stream->Finish();
  EXPECT_EQ(train.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(train.error_message(), HasSubstr(message));

  // Nothing changed: one session, at tick 0, with its parameters.
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
  EXPECT_EQ(client_->GetSession(session.session_id())->tick(), 0);
  EXPECT_EQ(*client_->GetParameters(session.session_id(), v1::PARAMETER_SET_MODEL), before);
}

TEST_F(LimitsTest, MessageSizeIsTheChunkLimitPlusFraming) {
  const v1::Session session = CreateFromText(absl::StrCat("spec { tensors { name: 'x' shape: 1000 } ", kSgd, " }"));
  // gRPC refuses the message before basin sees it, naming its size and the limit.
  const grpc::Status put = PutOneChunk(session.session_id(), 100'000);
  EXPECT_EQ(put.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(put.error_message(), MatchesRegex(absl::StrCat(".*larger than max \\(1000[0-9][0-9] vs\\. ",
                                                             kMaxMessageBytes, "\\).*")));
  // Just under the message limit, over the chunk limit: basin's own refusal.
  const grpc::Status chunk = PutOneChunk(session.session_id(), kMaxMessageBytes - 100);
  EXPECT_EQ(chunk.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(chunk.error_message(), HasSubstr(absl::StrCat("has ", kMaxMessageBytes - 100,
                                                            " bytes of data; the limit is 1024 bytes")));
  EXPECT_EQ(client_->GetSession(session.session_id())->tick(), 0);
}

}  // namespace
}  // namespace basin
