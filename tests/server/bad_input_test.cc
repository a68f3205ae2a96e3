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

}  // namespace
}  // namespace basin::testing
