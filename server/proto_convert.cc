#include "server/proto_convert.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "openssl/sha.h"
#include "server/spec_mapping.h"

namespace basin {
namespace {

absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

std::string Fingerprint(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

v1::DType ToProtoDType(DType dtype) { return dtype == DType::kF32 ? v1::DTYPE_F32 : v1::DTYPE_F64; }

absl::StatusOr<CreateSessionSpec> CreateSessionSpecFromProto(const v1::CreateSessionRequest& request) {
  const v1::SessionSpec& proto = request.spec();
  CreateSessionSpec spec;
  std::vector<TensorSpec> tensors;
  for (const v1::TensorSpec& t : proto.tensors()) {
    tensors.push_back(TensorSpec{t.name(), std::vector<int64_t>(t.shape().begin(), t.shape().end())});
  }
  auto layout = ParameterLayout::Create(std::move(tensors));
  BASIN_RETURN_IF_ERROR(Prefixed("spec.tensors: ", layout.status()));
  spec.layout = *std::move(layout);

  switch (proto.state_dtype()) {
    case v1::DTYPE_UNSPECIFIED:
    case v1::DTYPE_F32:
      spec.dtype = DType::kF32;
      break;
    case v1::DTYPE_F64:
      spec.dtype = DType::kF64;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("spec.state_dtype must be F32 or F64, got ",
                                                     v1::DType_Name(proto.state_dtype()).empty()
                                                         ? absl::StrCat(static_cast<int>(proto.state_dtype()))
                                                         : v1::DType_Name(proto.state_dtype())));
  }

  auto config = OptimizerConfigFromProto(proto.optimizer());
  BASIN_RETURN_IF_ERROR(Prefixed("spec.optimizer: ", config.status()));
  spec.optimizer.config = *std::move(config);
  auto samples = SampleCollectionFromProto(proto.samples());
  BASIN_RETURN_IF_ERROR(Prefixed("spec.", samples.status()));
  spec.optimizer.samples = *samples;
  spec.optimizer.seed = proto.seed();

  auto workers = WorkerPolicyFromProto(proto.workers());
  BASIN_RETURN_IF_ERROR(Prefixed("spec.", workers.status()));
  spec.workers = *workers;
  auto nonfinite = NonFinitePolicyFromProto(proto.nonfinite_policy());
  BASIN_RETURN_IF_ERROR(nonfinite.status());
  spec.nonfinite_policy = *nonfinite;
  spec.metrics_run = proto.metrics_run();
  auto durability = DurabilityFromProto(proto.durability());
  BASIN_RETURN_IF_ERROR(durability.status());
  spec.durability = *durability;
  spec.durability_set = proto.durability().mode() != v1::Durability::MODE_UNSPECIFIED;

  spec.request_id = request.request_id();
  v1::CreateSessionRequest without_id = request;
  without_id.clear_request_id();
  spec.fingerprint = Fingerprint(without_id);
  return spec;
}

absl::StatusOr<WorkerPolicy> WorkerPolicyFromProto(const v1::WorkerPolicy& w) {
  WorkerPolicy workers;
  workers.num_workers = w.num_workers() == 0 ? 1 : w.num_workers();
  switch (w.mode()) {
    case v1::WorkerPolicy::MODE_UNSPECIFIED:
    case v1::WorkerPolicy::MODE_SYNC:
      workers.mode = WorkerPolicy::Mode::kSync;
      break;
    case v1::WorkerPolicy::MODE_ASYNC:
      workers.mode = WorkerPolicy::Mode::kAsync;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("workers.mode has no value ", static_cast<int>(w.mode())));
  }
  workers.quorum = w.quorum() == 0 ? workers.num_workers : w.quorum();
  workers.max_staleness = w.max_staleness();
  return workers;
}

absl::StatusOr<Durability> DurabilityFromProto(const v1::Durability& proto) {
  Durability durability;
  switch (proto.mode()) {
    case v1::Durability::MODE_UNSPECIFIED:
    case v1::Durability::MODE_PERIODIC:
      durability.mode = Durability::Mode::kPeriodic;
      break;
    case v1::Durability::MODE_NONE:
      durability.mode = Durability::Mode::kNone;
      break;
    case v1::Durability::MODE_EVERY_TICK:
      durability.mode = Durability::Mode::kEveryTick;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("spec.durability.mode has no value ", static_cast<int>(proto.mode())));
  }
  const double interval = proto.snapshot_interval_seconds();
  if (!(interval >= 0) || interval > 86400 * 365) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.durability.snapshot_interval_seconds must be in [0, 1 year], got ", interval));
  }
  durability.snapshot_interval = absl::Seconds(interval);
  return durability;
}

v1::Durability DurabilityToProto(const Durability& durability) {
  v1::Durability out;
  switch (durability.mode) {
    case Durability::Mode::kNone:
      out.set_mode(v1::Durability::MODE_NONE);
      break;
    case Durability::Mode::kPeriodic:
      out.set_mode(v1::Durability::MODE_PERIODIC);
      break;
    case Durability::Mode::kEveryTick:
      out.set_mode(v1::Durability::MODE_EVERY_TICK);
      break;
  }
  out.set_snapshot_interval_seconds(absl::ToDoubleSeconds(durability.snapshot_interval));
  return out;
}

v1::NonFinitePolicy NonFinitePolicyToProto(NonFinitePolicy policy) {
  return policy == NonFinitePolicy::kSkip ? v1::NONFINITE_POLICY_SKIP : v1::NONFINITE_POLICY_REJECT;
}

absl::StatusOr<NonFinitePolicy> NonFinitePolicyFromProto(v1::NonFinitePolicy policy) {
  switch (policy) {
    case v1::NONFINITE_POLICY_UNSPECIFIED:
    case v1::NONFINITE_POLICY_REJECT:
      return NonFinitePolicy::kReject;
    case v1::NONFINITE_POLICY_SKIP:
      return NonFinitePolicy::kSkip;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("spec.nonfinite_policy has no value ", static_cast<int>(policy)));
  }
}

v1::WorkerPolicy WorkerPolicyToProto(const WorkerPolicy& workers) {
  v1::WorkerPolicy w;
  w.set_num_workers(workers.num_workers);
  w.set_mode(workers.mode == WorkerPolicy::Mode::kSync ? v1::WorkerPolicy::MODE_SYNC : v1::WorkerPolicy::MODE_ASYNC);
  w.set_quorum(workers.quorum);
  w.set_max_staleness(workers.max_staleness);
  return w;
}

v1::Session SessionToProto(const Session& session) { return SessionToProto(session.Summary()); }

v1::Session SessionToProto(const SessionSummary& session) {
  v1::Session out;
  out.set_session_id(session.id);
  if (!session.failure.empty()) {
    out.set_failure(session.failure);
    return out;
  }
  v1::SessionSpec& spec = *out.mutable_spec();
  for (const TensorSpec& t : session.layout.tensors()) {
    v1::TensorSpec& p = *spec.add_tensors();
    p.set_name(t.name);
    for (int64_t d : t.shape) p.add_shape(d);
  }
  spec.set_state_dtype(ToProtoDType(session.dtype));
  *spec.mutable_optimizer() = OptimizerConfigToProto(session.spec.config);
  *spec.mutable_samples() = SampleCollectionToProto(session.spec.samples);
  spec.set_seed(session.spec.seed);
  *spec.mutable_workers() = WorkerPolicyToProto(session.workers);
  spec.set_nonfinite_policy(NonFinitePolicyToProto(session.settings.nonfinite_policy));
  spec.set_metrics_run(session.metrics_run);
  *spec.mutable_durability() = DurabilityToProto(session.settings.durability);
  const OptimizerStats& stats = session.stats;
  out.set_tick(stats.tick);
  out.set_step(stats.step);
  out.set_phase(static_cast<int32_t>(stats.phase));
  out.set_ticks_per_step(static_cast<int32_t>(stats.ticks_per_step));
  out.set_num_parameters(session.layout.num_elements());
  out.set_state_bytes(session.state_bytes);
  out.set_durable_tick(session.durable_tick);
  return out;
}

v1::SessionStats SessionStatsToProto(const Session& session) { return SessionStatsToProto(session.Summary()); }

v1::SessionStats SessionStatsToProto(const SessionSummary& session) {
  const OptimizerStats& s = session.stats;
  const SessionCounters& c = session.counters;
  v1::SessionStats out;
  out.set_tick(s.tick);
  out.set_step(s.step);
  out.set_phase(static_cast<int32_t>(s.phase));
  out.set_ticks_per_step(static_cast<int32_t>(s.ticks_per_step));
  out.set_lr(s.lr);
  out.set_gamma(s.gamma);
  out.set_last_loss(s.last_loss);
  out.set_last_step_mean_loss(s.last_step_mean_loss);
  out.set_last_gradient_norm(s.last_gradient_norm);
  out.set_distance_to_anchor(s.distance_to_anchor);
  out.set_samples_kept(s.samples_kept);
  out.set_samples_dropped(s.samples_dropped);
  out.set_gradients_dropped(c.gradients_dropped);
  out.set_gradients_duplicate(c.gradients_duplicate);
  out.set_gradients_stale_applied(c.gradients_stale_applied);
  out.set_durable_tick(session.durable_tick);
  out.set_gradients_skipped(c.gradients_skipped);
  return out;
}

}  // namespace basin
