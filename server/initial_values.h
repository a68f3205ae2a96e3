#ifndef BASIN_SERVER_INITIAL_VALUES_H_
#define BASIN_SERVER_INITIAL_VALUES_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "basin/v1/optimizer_service.pb.h"
#include "core/optimizer_registry.h"
#include "prometheus/counter.h"

namespace basin {

// The initialize step of a CreateSessionSpec for a request's initial_values: the chunks, checked
// as a PutParameters stream (every tensor in layout order, each chunk's data at most
// `max_chunk_bytes`), become the new optimizer's starting point. Errors are the chunk assembler's,
// prefixed "initial_values: ". `received_bytes` (may be null) counts each chunk's data as it is
// read. `chunks` must outlive the step.
std::function<absl::Status(AnyOptimizer&)> InitialValuesStep(
    const google::protobuf::RepeatedPtrField<v1::TensorChunk>& chunks, int64_t max_chunk_bytes,
    prometheus::Counter* received_bytes);

}  // namespace basin

#endif  // BASIN_SERVER_INITIAL_VALUES_H_
