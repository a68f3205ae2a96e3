#ifndef BASIN_SERVER_SPEC_MAPPING_H_
#define BASIN_SERVER_SPEC_MAPPING_H_

#include "absl/status/statusor.h"
#include "basin/v1/optimizer_config.pb.h"
#include "core/optimizer_config.h"

namespace basin {

// The proto configs and core's field tables name every hyper-parameter alike, so one mapping
// through protobuf reflection serves every optimizer: an unset optional field keeps core's default
// (of the variant or form the message selects), a set one goes through core's checks, and an
// enum value maps by name (VARIANT_PAPER ↔ "paper").

// The core config a proto config describes, validated; InvalidArgument names the field and value
// ("entropy_sgd.gamma must be > 0, got -1"). A missing oneof is InvalidArgument too.
absl::StatusOr<OptimizerConfig> OptimizerConfigFromProto(const v1::OptimizerConfig& proto);
// Every field set, so a client sees the values the server runs with.
v1::OptimizerConfig OptimizerConfigToProto(const OptimizerConfig& config);

absl::StatusOr<SampleCollection> SampleCollectionFromProto(const v1::SampleCollection& proto);
v1::SampleCollection SampleCollectionToProto(const SampleCollection& samples);

}  // namespace basin

#endif  // BASIN_SERVER_SPEC_MAPPING_H_
