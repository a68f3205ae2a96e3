// Fuzz target: a CreateSessionRequest from untrusted bytes through what CreateSession does with it
// (CreateSessionSpecFromProto, the initial values, SessionManager::Create under small limits).
//
// Invariants: no crash, leak or hang; a refusal is a client error (INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED, FAILED_PRECONDITION) with a message, and leaves no session and no state
// bytes behind; creating allocates no more than the limits allow (ASan builds), so a huge layout
// is refused, not allocated; and a session that is created is described by a spec that is itself
// valid and creates the same session again, which runs a tick.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "basin/v1/optimizer_service.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/initial_values.h"
#include "server/proto_convert.h"
#include "server/session_manager.h"
#include "tests/fuzz/allocation_meter.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/session_checks.h"

namespace basin {
namespace {

// Small enough that a layout over them is cheap to refuse and fast to fuzz when accepted.
ServerLimits FuzzLimits() {
  ServerLimits limits;
  limits.max_sessions = 4;
  limits.max_parameters_per_session = int64_t{1} << 18;
  limits.max_total_state_bytes = int64_t{1} << 20;
  limits.max_chunk_bytes = 4096;
  limits.max_workers_per_session = 8;
  limits.max_metric_runs = 2;
  return limits;
}

bool IsClientError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kFailedPrecondition;
}

// CreateSession's steps: the spec, the initial values, the session.
absl::StatusOr<std::shared_ptr<Session>> Create(const v1::CreateSessionRequest& request, SessionManager& sessions) {
  auto spec = CreateSessionSpecFromProto(request);
  if (!spec.ok()) return spec.status();
  if (request.initial_values_size() > 0) {
    spec->initialize = InitialValuesStep(request.initial_values(), sessions.limits().max_chunk_bytes, nullptr);
  }
  return sessions.Create(*std::move(spec));
}

void CheckRequest(const v1::CreateSessionRequest& request, std::size_t input_size) {
  const ServerLimits limits = FuzzLimits();
  SessionManager sessions(limits);
  absl::StatusOr<std::shared_ptr<Session>> session;
  {
    fuzz::AllocationMeter meter;
    session = Create(request, sessions);
    // The state itself, the assembled initial values (at most the state's size again), and what
    // is proportional to the request (names, its fingerprint).
    const int64_t allowed = 2 * limits.max_total_state_bytes + 16 * static_cast<int64_t>(input_size) + (256 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "creating allocated ",
                     meter.peak_bytes(), " bytes at the peak, over the ", allowed, " the limits allow; result: ",
                     session.ok() ? "created" : session.status().ToString());
  }
  if (!session.ok()) {
    BASIN_FUZZ_CHECK(IsClientError(session.status()) && !session.status().message().empty(),
                     "a refusal must be a client error with a message, got ", session.status().ToString());
    BASIN_FUZZ_CHECK(sessions.num_sessions() == 0 && sessions.total_state_bytes() == 0,
                     "a refused request left ", sessions.num_sessions(), " sessions and ",
                     sessions.total_state_bytes(), " state bytes");
    return;
  }
  BASIN_FUZZ_CHECK(sessions.total_state_bytes() == (*session)->state_bytes() &&
                       (*session)->state_bytes() <= limits.max_total_state_bytes,
                   "state bytes: session ", (*session)->state_bytes(), ", manager ", sessions.total_state_bytes());

  // What the client is told is a request for the same session.
  const v1::Session described = SessionToProto(**session);
  v1::CreateSessionRequest again;
  *again.mutable_spec() = described.spec();
  SessionManager other(limits);
  auto recreated = Create(again, other);
  BASIN_FUZZ_CHECK(recreated.ok(), "the spec of a created session is refused: ", recreated.status().ToString(),
                   "\n  spec: ", described.spec().ShortDebugString());
  v1::Session described_again = SessionToProto(**recreated);
  described_again.set_session_id(described.session_id());
  BASIN_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(described, described_again),
                   "the session's own spec makes another session:\n  ", described.ShortDebugString(), "\n  ",
                   described_again.ShortDebugString());

  fuzz::CheckAcceptsAZeroGradient(**session);
}

}  // namespace
}  // namespace basin

// protobuf logs every string field with invalid UTF-8 it refuses to parse; the fuzzer makes
// thousands a second.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  basin::v1::CreateSessionRequest request;
  if (size > INT32_MAX || !request.ParseFromArray(data, static_cast<int>(size))) return 0;
  basin::CheckRequest(request, size);
  return 0;
}
