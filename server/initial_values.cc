#include "server/initial_values.h"

#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "core/tensor_chunks.h"
#include "proto/chunk_view.h"

namespace basin {

std::function<absl::Status(AnyOptimizer&)> InitialValuesStep(
    const google::protobuf::RepeatedPtrField<v1::TensorChunk>& chunks, int64_t max_chunk_bytes,
    prometheus::Counter* received_bytes) {
  return [&chunks, max_chunk_bytes, received_bytes](AnyOptimizer& any) -> absl::Status {
    return std::visit(
        [&](auto& o) -> absl::Status {
          using Real = typename std::decay_t<decltype(*o)>::Buffer::value_type;
          ChunkAssembler<Real> assembler(o->layout(), max_chunk_bytes);
          for (const v1::TensorChunk& chunk : chunks) {
            if (received_bytes != nullptr) received_bytes->Increment(static_cast<double>(chunk.data().size()));
            absl::Status s = assembler.Add(ViewOf(chunk));
            if (!s.ok()) return absl::Status(s.code(), absl::StrCat("initial_values: ", s.message()));
          }
          absl::Status s = assembler.Finish();
          if (!s.ok()) return absl::Status(s.code(), absl::StrCat("initial_values: ", s.message()));
          s = o->SetStartingPoint(assembler.values());
          if (!s.ok()) return absl::Status(s.code(), absl::StrCat("initial_values: ", s.message()));
          return s;
        },
        any);
  };
}

}  // namespace basin
