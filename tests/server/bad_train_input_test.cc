// Malformed Train streams (docs/errors.md, "Train"): each is refused with its code and a message
// naming the bad value, and the server is left exactly as it was. The cases train_test already
// shows (unknown session, unknown tensor, chunks out of order, overlapping or missing, a stream
// ending mid-tick, a chunk of another tick, a tick from the future, NaN in a gradient, unknown
// dtype, a worker id too large, a duplicate tick) are not repeated here.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/bad_input_fixture.h"

namespace basin::testing {
namespace {

using ::testing::HasSubstr;

class BadTrainInputTest : public BadInputTest {
 protected:
  // Attach as worker 0, then `gradient`; expects the refusal and an unchanged server.
  void ExpectRefused(const std::vector<v1::TrainRequest>& gradient, grpc::StatusCode code,
                     const std::string& message) {
    std::vector<v1::TrainRequest> requests = {Attach(id_)};
    requests.insert(requests.end(), gradient.begin(), gradient.end());
    ExpectRefusedStream(requests, code, message);
  }
  void ExpectRefusedStream(const std::vector<v1::TrainRequest>& requests, grpc::StatusCode code,
                           const std::string& message) {
    const grpc::Status s = RawTrain(requests);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(message));
    ExpectUnchanged();
  }
};

TEST_F(BadTrainInputTest, ASecondAttachIsInvalidArgument) {
  ExpectRefusedStream({Attach(id_), Attach(id_, 1)}, grpc::StatusCode::INVALID_ARGUMENT,
                      "a Train message after the attach must be a gradient, got a message holding 'attach'");
}

TEST_F(BadTrainInputTest, AnEmptyMessageIsInvalidArgument) {
  ExpectRefusedStream({Attach(id_), v1::TrainRequest()}, grpc::StatusCode::INVALID_ARGUMENT,
                      "a Train message after the attach must be a gradient, got an empty message");
  ExpectRefusedStream({v1::TrainRequest()}, grpc::StatusCode::INVALID_ARGUMENT,
                      "the first Train message must be an attach, got an empty message");
}

TEST_F(BadTrainInputTest, AttachWithANegativeWorkerIdIsInvalidArgument) {
  ExpectRefusedStream({Attach(id_, -1)}, grpc::StatusCode::INVALID_ARGUMENT,
                      "attach.worker_id -1 is out of range: the session has 2 workers");
}

TEST_F(BadTrainInputTest, AttachWithAnUnknownQueryDtypeIsInvalidArgument) {
  v1::TrainRequest attach = Attach(id_);
  attach.mutable_attach()->set_query_dtype(static_cast<v1::DType>(42));
  ExpectRefusedStream({attach}, grpc::StatusCode::INVALID_ARGUMENT, "attach.query_dtype has no value 42");
}

TEST_F(BadTrainInputTest, AttachMaxChunkBytesOutOfRangeIsInvalidArgument) {
  for (int64_t bytes : {int64_t{-1}, int64_t{4}, (int64_t{4} << 20) + 1}) {
    v1::TrainRequest attach = Attach(id_);
    attach.mutable_attach()->set_max_chunk_bytes(bytes);
    ExpectRefusedStream({attach}, grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("attach.max_chunk_bytes must be 0 (1 MiB) or in [8, 4194304], got ", bytes));
  }
}

TEST_F(BadTrainInputTest, ANegativeTickIsInvalidArgument) {
  ExpectRefused(WholeGradient(-1), grpc::StatusCode::INVALID_ARGUMENT, "tick must be >= 0, got -1");
}

TEST_F(BadTrainInputTest, AChunkRunningPastItsTensorIsInvalidArgument) {
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(101)), false)}, grpc::StatusCode::INVALID_ARGUMENT,
                "has 101 elements, running past the tensor's end at 100");
}

TEST_F(BadTrainInputTest, DataAfterTheLastElementIsInvalidArgument) {
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100)), false), Gradient(kTicks, Chunk("b", 0, F32(28)), false),
                 Gradient(kTicks, Chunk("b", 28, F32(1)), true)},
                grpc::StatusCode::INVALID_ARGUMENT, "has 1 elements after every element of the layout arrived");
}

TEST_F(BadTrainInputTest, PartialElementsAreInvalidArgument) {
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100) + "x"), false)}, grpc::StatusCode::INVALID_ARGUMENT,
                "has 401 bytes of data, not a whole number of f32 elements (4 bytes each)");
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, std::string(3, '\0'), v1::DTYPE_BF16), false)},
                grpc::StatusCode::INVALID_ARGUMENT, "has 3 bytes of data, not a whole number of bf16 elements");
}

TEST_F(BadTrainInputTest, AChunkWithoutADtypeIsInvalidArgument) {
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100), v1::DTYPE_UNSPECIFIED), false)},
                grpc::StatusCode::INVALID_ARGUMENT, "has unknown dtype 0");
}

TEST_F(BadTrainInputTest, AChunkOverTheServersChunkLimitIsResourceExhausted) {
  // Within gRPC's message limit (the chunk limit plus 64 KiB), so basin's own check answers.
  const int64_t limit = int64_t{4} << 20;
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, std::string(static_cast<std::size_t>(limit + 4), '\0')), false)},
                grpc::StatusCode::RESOURCE_EXHAUSTED,
                absl::StrCat("has ", limit + 4, " bytes of data; the limit is ", limit, " bytes"));
}

TEST_F(BadTrainInputTest, NonFiniteLossOrElementIsInvalidArgumentByDefault) {
  const double inf = std::numeric_limits<double>::infinity();
  ExpectRefused(WholeGradient(kTicks, std::nan("")), grpc::StatusCode::INVALID_ARGUMENT, "loss is nan");
  ExpectRefused(WholeGradient(kTicks, -inf), grpc::StatusCode::INVALID_ARGUMENT, "loss is -inf");
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100, 41, static_cast<float>(inf))), false),
                 Gradient(kTicks, Chunk("b", 0, F32(28)), true)},
                grpc::StatusCode::INVALID_ARGUMENT, "gradient element 41 (tensor 'w', index 41) is inf");
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100)), false),
                 Gradient(kTicks, Chunk("b", 0, F32(28, 27, static_cast<float>(-inf))), true)},
                grpc::StatusCode::INVALID_ARGUMENT, "gradient element 127 (tensor 'b', index 27) is -inf");
  // A finite f64 that overflows f32 state is Inf once decoded, and refused like one.
  std::string big(28 * 8, '\0');
  const double huge = 1e300;
  std::memcpy(big.data(), &huge, 8);
  ExpectRefused({Gradient(kTicks, Chunk("w", 0, F32(100)), false),
                 Gradient(kTicks, Chunk("b", 0, big, v1::DTYPE_F64), true)},
                grpc::StatusCode::INVALID_ARGUMENT, "gradient element 100 (tensor 'b', index 0) is inf");
}

TEST_F(BadTrainInputTest, ABadBatchSizeIsInvalidArgument) {
  ExpectRefused(WholeGradient(kTicks, 1, -1), grpc::StatusCode::INVALID_ARGUMENT,
                "batch_size must be finite and > 0, got -1");
  ExpectRefused(WholeGradient(kTicks, 1, std::nan("")), grpc::StatusCode::INVALID_ARGUMENT,
                "batch_size must be finite and > 0, got nan");
  ExpectRefused(WholeGradient(kTicks, 1, std::numeric_limits<double>::infinity()),
                grpc::StatusCode::INVALID_ARGUMENT, "batch_size must be finite and > 0, got inf");
}

TEST_F(BadTrainInputTest, AnAsyncDuplicateTickIsAcknowledgedAndNotApplied) {
  const v1::Session async = CreateFromText(R"pb(spec {
                                                  tensors { name: "w" shape: [ 4, 25 ] }
                                                  tensors { name: "b" shape: 28 }
                                                  optimizer { sgd { lr: 0.1 momentum: 0.5 } }
                                                  workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 4 }
                                                })pb");
  std::vector<v1::TrainRequest> requests = {Attach(async.session_id())};
  for (const auto& r : WholeGradient(0)) requests.push_back(r);
  ASSERT_TRUE(RawTrain(requests).ok());
  Remember();
  std::vector<v1::TrainResponse> responses;
  ASSERT_TRUE(RawTrain(requests, &responses).ok());
  ASSERT_FALSE(responses.empty());
  const v1::TrainResponse* ack = nullptr;
  for (const auto& r : responses) {
    if (r.has_ack()) ack = &r;
  }
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->ack().outcome(), v1::TickAck::OUTCOME_DUPLICATE);
  EXPECT_EQ(ack->ack().session_tick(), 1);
  // Only the duplicate counter moved.
  ServerState expected = before_;
  auto stats = Parse<v1::SessionStats>(expected.sessions[async.session_id()].stats);
  stats.set_gradients_duplicate(stats.gradients_duplicate() + 1);
  expected.sessions[async.session_id()].stats = stats.SerializeAsString();
  ExpectSameState(expected, State());
}

TEST_F(BadTrainInputTest, AnAsyncTickFromTheFutureIsInvalidArgument) {
  const v1::Session async = CreateFromText(R"pb(spec {
                                                  tensors { name: "x" shape: 8 }
                                                  optimizer { sgd { lr: 0.1 } }
                                                  workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 4 }
                                                })pb");
  Remember();
  const grpc::Status s = RawTrain({Attach(async.session_id(), 1), Gradient(5, Chunk("x", 0, F32(8)), true)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("gradient for tick 5 is from the future: the session is at tick 0"));
  ExpectUnchanged();
}

}  // namespace
}  // namespace basin::testing
