// Malformed requests to every basin.v1.Optimizer RPC but Train (bad_train_input_test.cc), and
// hostile bytes below the protobuf layer: each is refused with the status docs/errors.md gives, a
// message naming the bad value, and a server left exactly as it was (ServerState: every session's
// Session, stats and checkpoint bytes). Cases an older test already shows are named in
// docs/errors.md and not repeated here.
#include <sys/resource.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/optimizer_config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/server/bad_input_fixture.h"

namespace basin::testing {
namespace {

using ::testing::HasSubstr;

void ExpectStatus(const grpc::Status& s, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(message));
}

v1::CreateSessionRequest Request(const std::string& text) {
  v1::CreateSessionRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
  return request;
}

// A valid request to vary: one tensor, SGD.
v1::CreateSessionRequest Valid() { return Request(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sgd {} } })pb"); }

class BadRequestTest : public BadInputTest {
 protected:
  grpc::Status Create(const v1::CreateSessionRequest& request) {
    v1::Session session;
    return client_->stub().CreateSession(Context().get(), request, &session);
  }
  void ExpectCreateRefused(const v1::CreateSessionRequest& request, grpc::StatusCode code,
                           const std::string& message) {
    SCOPED_TRACE(request.ShortDebugString().substr(0, 300));
    ExpectStatus(Create(request), code, message);
  }

  grpc::Status GetParameters(const v1::GetParametersRequest& request) {
    auto context = Context();
    auto reader = client_->stub().GetParameters(context.get(), request);
    v1::GetParametersResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  grpc::Status RunObjective(const std::string& text, std::vector<v1::RunObjectiveProgress>* progress = nullptr) {
    v1::RunObjectiveRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
    auto context = Context();
    auto reader = client_->stub().RunObjective(context.get(), request);
    v1::RunObjectiveProgress p;
    while (reader->Read(&p)) {
      if (progress != nullptr) progress->push_back(p);
    }
    return reader->Finish();
  }

  grpc::Status Import(const std::vector<v1::ImportSessionRequest>& requests) {
    auto context = Context();
    v1::Session session;
    auto writer = client_->stub().ImportSession(context.get(), &session);
    for (const auto& r : requests) {
      if (!writer->Write(r)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  static v1::ImportSessionRequest Data(std::string bytes) {
    v1::ImportSessionRequest r;
    r.set_data(std::move(bytes));
    return r;
  }
};

// --- CreateSession -------------------------------------------------------------------------------

TEST_F(BadRequestTest, CreateWithBadInitialValuesIsInvalidArgument) {
  const std::string nan_bytes = F32(4, 2, std::nanf(""));
  const std::vector<std::pair<std::vector<v1::TensorChunk>, std::string>> cases = {
      {{Chunk("y", 0, F32(4))}, "initial_values: chunk of tensor 'y' at offset 0: no tensor of that name"},
      {{Chunk("x", 1, F32(3))}, "initial_values: chunk of tensor 'x' at offset 1 leaves a gap; expected tensor 'x' at offset 0"},
      {{Chunk("x", 0, F32(2)), Chunk("x", 1, F32(2))}, "chunk of tensor 'x' at offset 1 overlaps elements already received"},
      {{Chunk("x", 0, F32(5))}, "has 5 elements, running past the tensor's end at 4"},
      {{Chunk("x", 0, F32(3) + "ab")}, "has 14 bytes of data, not a whole number of f32 elements"},
      {{Chunk("x", 0, F32(4), static_cast<v1::DType>(11))}, "has unknown dtype 11"},
      {{Chunk("x", 0, F32(3))}, "initial_values: chunks end with tensor 'x' incomplete: its elements from offset 3 of 4 are missing"},
      {{Chunk("x", 0, nan_bytes)}, "initial_values: model element 2 (tensor 'x', index 2) is nan"},
  };
  for (const auto& [chunks, message] : cases) {
    v1::CreateSessionRequest request = Valid();
    for (const auto& c : chunks) *request.add_initial_values() = c;
    ExpectCreateRefused(request, grpc::StatusCode::INVALID_ARGUMENT, message);
  }
  ExpectUnchanged();
}

// A server that holds 1 MiB of state.
class SmallServerTest : public BadRequestTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_total_state_bytes = int64_t{1} << 20;
    return limits;
  }
};

int64_t PeakResidentKiB() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST_F(SmallServerTest, StateOverTheServersLimitIsRefusedBeforeItIsAllocated) {
  // 2^27 f32 parameters with momentum: 1 GiB of state. The server (in this process) must refuse it
  // from the spec, not after allocating and zeroing it, which the peak resident size would show.
  const int64_t peak_before = PeakResidentKiB();
  ExpectCreateRefused(
      Request(R"pb(spec { tensors { name: "x" shape: 134217728 } optimizer { sgd { momentum: 0.9 } } })pb"),
      grpc::StatusCode::RESOURCE_EXHAUSTED, "the session needs 1073741824 bytes of state");
  EXPECT_LT(PeakResidentKiB() - peak_before, 256 << 10) << "KiB of peak resident memory added by a refused session";
  ExpectUnchanged();
}

// --- PutParameters -------------------------------------------------------------------------------

TEST_F(BadRequestTest, PutWithoutATargetFirstIsInvalidArgument) {
  v1::PutParametersRequest chunk;
  *chunk.mutable_chunk() = Chunk("w", 0, F32(100));
  ExpectStatus(RawPut({chunk}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got a message holding 'chunk'");
  ExpectStatus(RawPut({}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got none");
  ExpectStatus(RawPut({v1::PutParametersRequest()}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got an empty message");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutWithASecondTargetIsInvalidArgument) {
  std::vector<v1::PutParametersRequest> requests(3);
  requests[0].mutable_target()->set_session_id(id_);
  *requests[1].mutable_chunk() = Chunk("w", 0, F32(100));
  requests[2].mutable_target()->set_session_id(id_);
  ExpectStatus(RawPut(requests), grpc::StatusCode::INVALID_ARGUMENT,
               "a PutParameters message after the target must be a chunk, got a message holding 'target'");
  requests[2].Clear();
  ExpectStatus(RawPut(requests), grpc::StatusCode::INVALID_ARGUMENT,
               "a PutParameters message after the target must be a chunk, got an empty message");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutToATargetOtherThanModelOrAnchorIsInvalidArgument) {
  const std::vector<v1::TensorChunk> values = {Chunk("w", 0, F32(100)), Chunk("b", 0, F32(28))};
  ExpectStatus(RawPut(id_, v1::PARAMETER_SET_QUERY, values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got PARAMETER_SET_QUERY");
  ExpectStatus(RawPut(id_, v1::PARAMETER_SET_SAMPLE, values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got PARAMETER_SET_SAMPLE");
  ExpectStatus(RawPut(id_, static_cast<v1::ParameterSet>(9), values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got 9");
  ExpectUnchanged();
}

// --- Checkpoints ---------------------------------------------------------------------------------

TEST_F(BadRequestTest, ImportOfAnotherFormatOrABadWorkerPolicyIsInvalidArgument) {
  auto bytes = client_->ExportSession(id_);
  ASSERT_TRUE(bytes.ok());
  v1::SessionCheckpoint checkpoint;
  ASSERT_TRUE(checkpoint.ParseFromString(*bytes));

  v1::SessionCheckpoint other = checkpoint;
  other.set_format_version(2);
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "checkpoint format version 2 is not 1, the one this server reads");
  other = checkpoint;
  other.mutable_workers()->set_mode(static_cast<v1::WorkerPolicy::Mode>(9));
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "checkpoint workers.mode has no value 9");
  other = checkpoint;
  other.mutable_workers()->set_quorum(5);
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "workers.quorum must be in [1, num_workers = 2], got 5");
  ExpectUnchanged();
}

}  // namespace
}  // namespace basin::testing
