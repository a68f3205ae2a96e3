#ifndef BASIN_SERVER_PROTO_CONVERT_H_
#define BASIN_SERVER_PROTO_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "basin/v1/optimizer_service.pb.h"
#include "core/status_macros.h"
#include "grpcpp/support/status.h"
#include "server/session.h"
#include "server/session_manager.h"

namespace basin {

// absl and gRPC share the canonical code numbering.
grpc::Status ToGrpcStatus(const absl::Status& status);

// BASIN_ASSIGN_OR_RETURN for methods that return a grpc::Status.
#define BASIN_GRPC_ASSIGN_OR_RETURN(lhs, expr) \
  BASIN_GRPC_ASSIGN_OR_RETURN_IMPL(BASIN_STATUS_CONCAT(basin_grpc_statusor_, __LINE__), lhs, expr)
#define BASIN_GRPC_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)            \
  auto statusor = (expr);                                                \
  if (!statusor.ok()) return ::basin::ToGrpcStatus(statusor.status());  \
  lhs = std::move(*statusor)

// The spec of a CreateSessionRequest, checked: InvalidArgument names the field ("spec.tensors: ...",
// "spec.state_dtype must be F32 or F64, got BF16").
absl::StatusOr<CreateSessionSpec> CreateSessionSpecFromProto(const v1::CreateSessionRequest& request);

// SHA-256 (hex) of a message's deterministic bytes: what a request id is tied to. Fixed-size,
// since it is kept with the session and persisted, and stable across processes and restarts.
std::string Fingerprint(const google::protobuf::Message& message);

// A Session as the client sees it: the spec with every hyper-parameter filled in, and progress.
// Unset num_workers is 1, unset quorum is num_workers; an unknown mode is InvalidArgument
// ("workers.mode has no value 7").
absl::StatusOr<WorkerPolicy> WorkerPolicyFromProto(const v1::WorkerPolicy& proto);
v1::WorkerPolicy WorkerPolicyToProto(const WorkerPolicy& workers);
// Unset mode is periodic; an unknown mode or a negative, NaN or huge interval is InvalidArgument.
absl::StatusOr<Durability> DurabilityFromProto(const v1::Durability& proto);
v1::Durability DurabilityToProto(const Durability& durability);
// Unset is reject; a value the schema does not know is InvalidArgument naming it.
absl::StatusOr<NonFinitePolicy> NonFinitePolicyFromProto(v1::NonFinitePolicy policy);
v1::NonFinitePolicy NonFinitePolicyToProto(NonFinitePolicy policy);

v1::Session SessionToProto(const Session& session);
v1::Session SessionToProto(const SessionSummary& session);
v1::SessionStats SessionStatsToProto(const Session& session);
v1::SessionStats SessionStatsToProto(const SessionSummary& session);

v1::DType ToProtoDType(DType dtype);

}  // namespace basin

#endif  // BASIN_SERVER_PROTO_CONVERT_H_
