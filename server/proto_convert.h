#ifndef BASIN_SERVER_PROTO_CONVERT_H_
#define BASIN_SERVER_PROTO_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "basin/v1/optimizer_service.pb.h"
#include "grpcpp/support/status.h"
#include "server/session.h"
#include "server/session_manager.h"

namespace basin {

// absl and gRPC share the canonical code numbering.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The spec of a CreateSessionRequest, checked: InvalidArgument names the field ("spec.tensors: ...",
// "spec.state_dtype must be F32 or F64, got BF16").
absl::StatusOr<CreateSessionSpec> CreateSessionSpecFromProto(const v1::CreateSessionRequest& request);

// A Session as the client sees it: the spec with every hyper-parameter filled in, and progress.
// Unset num_workers is 1, unset quorum is num_workers; an unknown mode is InvalidArgument
// ("workers.mode has no value 7").
absl::StatusOr<WorkerPolicy> WorkerPolicyFromProto(const v1::WorkerPolicy& proto);
v1::WorkerPolicy WorkerPolicyToProto(const WorkerPolicy& workers);
// Unset is reject; a value the schema does not know is InvalidArgument naming it.
absl::StatusOr<NonFinitePolicy> NonFinitePolicyFromProto(v1::NonFinitePolicy policy);

v1::Session SessionToProto(const Session& session);
v1::SessionStats SessionStatsToProto(const Session& session);

v1::DType ToProtoDType(DType dtype);

}  // namespace basin

#endif  // BASIN_SERVER_PROTO_CONVERT_H_
