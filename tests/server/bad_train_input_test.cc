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

}  // namespace
}  // namespace basin::testing
