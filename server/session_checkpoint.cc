#include "server/session_checkpoint.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/state_codec.h"
#include "server/proto_convert.h"

namespace basin {

EncodedCheckpoint EncodeCheckpoint(const Session& session) {
  v1::SessionCheckpoint checkpoint;
  checkpoint.set_format_version(kCheckpointFormatVersion);
  *checkpoint.mutable_workers() = WorkerPolicyToProto(session.workers());
  checkpoint.set_nonfinite_policy(NonFinitePolicyToProto(session.nonfinite_policy()));
  EncodedCheckpoint encoded;
  session.WithOptimizer([&](const auto& o) {
    using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
    encoded.tick = o.tick();
    checkpoint.set_state(StateCodec<Real>::Encode(o));
    return 0;
  });
  encoded.bytes = checkpoint.SerializeAsString();
  return encoded;
}

absl::StatusOr<v1::SessionCheckpoint> ParseCheckpoint(absl::string_view bytes) {
  v1::SessionCheckpoint checkpoint;
  if (bytes.empty() || bytes.size() > INT32_MAX ||
      !checkpoint.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", bytes.size(), " bytes received are not a basin checkpoint"));
  }
  if (checkpoint.format_version() != kCheckpointFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint format version ", checkpoint.format_version(),
                                                   " is not ", kCheckpointFormatVersion,
                                                   ", the one this server reads"));
  }
  return checkpoint;
}

absl::StatusOr<CreateSessionSpec> CreateSessionSpecFromCheckpoint(const v1::SessionCheckpoint& checkpoint,
                                                                 const v1::ImportHeader& header) {
  auto workers = WorkerPolicyFromProto(checkpoint.workers());
  if (!workers.ok()) {
    return absl::Status(workers.status().code(), absl::StrCat("checkpoint ", workers.status().message()));
  }
  auto nonfinite = NonFinitePolicyFromProto(checkpoint.nonfinite_policy());
  if (!nonfinite.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", nonfinite.status().message()));
  }
  auto decoded = DecodeState(checkpoint.state());
  if (!decoded.ok()) {
    return absl::Status(decoded.status().code(), absl::StrCat("checkpoint state: ", decoded.status().message()));
  }
  CreateSessionSpec spec;
  std::visit(
      [&](const auto& o) {
        spec.layout = o->layout();
        spec.dtype = o->dtype();
        spec.optimizer = o->spec();
      },
      *decoded);
  spec.workers = *workers;
  spec.nonfinite_policy = *nonfinite;
  spec.request_id = header.request_id();
  spec.metrics_run = header.metrics_run();
  // Same request id, same checkpoint and label: the same session.
  spec.fingerprint = absl::StrCat("checkpoint:", Fingerprint(checkpoint), ":", header.metrics_run());
  // The registry builds a fresh optimizer of the same spec, which the decoded one replaces: one
  // way to make sessions, with every limit checked. (Shared: a std::function must be copyable.)
  auto optimizer = std::make_shared<AnyOptimizer>(*std::move(decoded));
  spec.initialize = [optimizer](AnyOptimizer& fresh) -> absl::Status {
    if (std::visit([](const auto& o) { return o == nullptr; }, *optimizer)) {
      return absl::InternalError("the checkpoint's optimizer was installed in a session already");
    }
    fresh = std::move(*optimizer);
    return absl::OkStatus();
  };
  return spec;
}

}  // namespace basin
