// Fuzz target: chunk reassembly, as the Train stream (and PutParameters and initial values) does
// it. A layout and a sequence of GradientChunk messages come from the input (train_chunks_input.h)
// and go through ViewOf and ChunkAssembler while a shadow records which element each accepted
// chunk wrote and with what value.
//
// Invariants: a rejected chunk is RESOURCE_EXHAUSTED or INVALID_ARGUMENT with a bounded message
// and changes nothing (values, completeness, what Finish says); an accepted chunk obeys every rule
// (size limit, whole elements, known dtype and tensor) and writes exactly its own elements, with
// the values its bytes decode to, right where the previous data ended; Finish() is OK exactly when
// every element was written exactly once since the last Reset; and a complete set split again by
// ForEachChunk reassembles to the same values.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "basin/v1/optimizer_service.pb.h"
#include "core/half.h"
#include "core/layout.h"
#include "core/tensor_chunks.h"
#include "proto/chunk_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/train_chunks_input.h"

namespace basin {
namespace {

namespace format = fuzz::train_chunks;

// A message names at most 256 bytes of a tensor name, escaped (4 bytes per byte), plus the
// expected tensor's name and some words: nowhere near this.
constexpr std::size_t kMaxMessageBytes = 2048;

bool SameBits(absl::Span<const float> a, absl::Span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool SameBits(absl::Span<const double> a, absl::Span<const double> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// What arrived since the last Reset, element by element: how often each was written, and the
// value its chunk decodes to; kept apart from the assembler to check it.
template <typename Real>
class Shadow {
 public:
  explicit Shadow(const ParameterLayout& layout)
      : layout_(layout),
        writes_(static_cast<std::size_t>(layout.num_elements()), 0),
        expected_(static_cast<std::size_t>(layout.num_elements()), Real{0}) {}

  void Reset() {
    std::fill(writes_.begin(), writes_.end(), 0);
    filled_ = 0;
  }

  // Checks an accepted chunk against the rules and records what it wrote.
  void Accept(const ChunkView& chunk, int64_t max_chunk_bytes, absl::Span<const Real> before,
              absl::Span<const Real> after) {
    BASIN_FUZZ_CHECK(static_cast<int64_t>(chunk.data.size()) <= max_chunk_bytes, "accepted a chunk of ",
                     chunk.data.size(), " bytes over the limit ", max_chunk_bytes);
    BASIN_FUZZ_CHECK(IsValidWireDType(chunk.dtype), "accepted dtype ", static_cast<int>(chunk.dtype));
    auto tensor = layout_.Find(chunk.tensor);
    BASIN_FUZZ_CHECK(tensor.ok(), "accepted a chunk of an unknown tensor");
    const int element_bytes = WireDTypeSize(chunk.dtype);
    BASIN_FUZZ_CHECK(chunk.data.size() % element_bytes == 0, "accepted ", chunk.data.size(), " bytes of ",
                     WireDTypeName(chunk.dtype));
    const int64_t count = static_cast<int64_t>(chunk.data.size()) / element_bytes;
    BASIN_FUZZ_CHECK(chunk.offset >= 0 && chunk.offset + count <= layout_.size(*tensor), "accepted offset ",
                     chunk.offset, " + ", count, " elements in a tensor of ", layout_.size(*tensor));
    const int64_t first = layout_.offset(*tensor) + chunk.offset;
    // Empty chunks too: where the next one may start (tensors in between have no elements).
    BASIN_FUZZ_CHECK(first == filled_, "accepted a chunk of ", count, " elements at element ", first, " when ",
                     filled_, " elements had arrived");
    for (int64_t i = 0; i < count; ++i) {
      Real value;
      DecodeToState(chunk.dtype, chunk.data.data() + i * element_bytes, 1, &value);
      expected_[first + i] = value;
      ++writes_[first + i];
    }
    filled_ = first + count;
    for (int64_t i = 0; i < layout_.num_elements(); ++i) {
      const bool written = i >= first && i < first + count;
      const Real want = written ? expected_[i] : before[i];
      BASIN_FUZZ_CHECK(std::memcmp(&after[i], &want, sizeof(Real)) == 0, "element ", i,
                       written ? " does not hold the value its chunk decodes to" : " changed outside its chunk");
    }
  }

  // Finish and complete() agree with what arrived.
  void CheckCompleteness(const ChunkAssembler<Real>& assembler) const {
    bool every_once = true;
    for (uint32_t w : writes_) every_once = every_once && w == 1;
    BASIN_FUZZ_CHECK(assembler.complete() == every_once, "complete() is ", assembler.complete(),
                     " but every element written exactly once is ", every_once);
    const absl::Status finish = assembler.Finish();
    BASIN_FUZZ_CHECK(finish.ok() == every_once, "Finish() says ", finish.ToString(), " but every element written "
                     "exactly once is ", every_once);
    if (every_once) {
      BASIN_FUZZ_CHECK(SameBits(assembler.values(), absl::MakeConstSpan(expected_)),
                       "the assembled values are not the chunks' values");
    } else {
      BASIN_FUZZ_CHECK(finish.code() == absl::StatusCode::kInvalidArgument && !finish.message().empty(),
                       "an incomplete Finish: ", finish.ToString());
    }
  }

 private:
  const ParameterLayout& layout_;
  std::vector<uint32_t> writes_;
  std::vector<Real> expected_;
  int64_t filled_ = 0;
};

// A complete set of values, split again as the server sends query points, reassembles unchanged.
template <typename Real>
void CheckSplitRoundTrip(const ParameterLayout& layout, absl::Span<const Real> values, int64_t max_chunk_bytes) {
  ChunkAssembler<Real> again(layout, max_chunk_bytes);
  const WireDType dtype = WireDTypeOf(DTypeOf<Real>());
  const absl::Status split =
      ForEachChunk<Real>(layout, values, dtype, again.max_chunk_bytes(), [&](const ChunkView& view) {
        v1::TensorChunk chunk;
        FillChunk(view, &chunk);
        return again.Add(ViewOf(chunk));
      });
  BASIN_FUZZ_CHECK(split.ok(), "ForEachChunk into an assembler: ", split.ToString());
  BASIN_FUZZ_CHECK(again.Finish().ok(), "the split values are incomplete: ", again.Finish().ToString());
  BASIN_FUZZ_CHECK(SameBits(again.values(), values), "split and reassembled values differ");
}

template <typename Real>
void Run(fuzz::FuzzInput& in, const ParameterLayout& layout, int64_t max_chunk_bytes) {
  ChunkAssembler<Real> assembler(layout, max_chunk_bytes);
  Shadow<Real> shadow(layout);
  const int64_t num_tensors = layout.num_tensors();
  const std::string long_name(300, '\xff');
  std::vector<Real> before(static_cast<std::size_t>(layout.num_elements()));
  while (!in.done()) {
    if (in.Read<uint8_t>() % 16 == format::kReset) {
      assembler.Reset();
      shadow.Reset();
      continue;
    }
    const uint8_t tensor = in.Read<uint8_t>();
    const int64_t index = tensor % (num_tensors + 1);
    v1::TrainRequest request;
    v1::TensorChunk& chunk = *request.mutable_gradient()->mutable_chunk();
    if (index < num_tensors) {
      chunk.set_tensor(layout.tensors()[index].name);
    } else {
      chunk.set_tensor((tensor & 0x80) != 0 ? long_name : "W");
    }
    chunk.set_dtype(static_cast<v1::DType>(in.Read<uint8_t>()));
    const uint8_t offset = in.Read<uint8_t>();
    chunk.set_offset(offset == format::kLongOffset ? in.Read<int64_t>() : offset);
    chunk.set_data(std::string(in.Bytes(in.Read<uint8_t>())));

    const ChunkView view = ViewOf(request.gradient().chunk());
    std::copy(assembler.values().begin(), assembler.values().end(), before.begin());
    const bool complete_before = assembler.complete();
    const absl::Status finish_before = assembler.Finish();
    const absl::Status added = assembler.Add(view);
    if (added.ok()) {
      shadow.Accept(view, assembler.max_chunk_bytes(), before, assembler.values());
    } else {
      BASIN_FUZZ_CHECK(added.code() == absl::StatusCode::kInvalidArgument ||
                           added.code() == absl::StatusCode::kResourceExhausted,
                       "a rejected chunk: ", added.ToString());
      BASIN_FUZZ_CHECK(!added.message().empty() && added.message().size() <= kMaxMessageBytes,
                       "a rejection message of ", added.message().size(), " bytes");
      BASIN_FUZZ_CHECK(SameBits(assembler.values(), before), "a rejected chunk changed the values: ",
                       added.ToString());
      BASIN_FUZZ_CHECK(assembler.complete() == complete_before && assembler.Finish() == finish_before,
                       "a rejected chunk moved the position: ", added.ToString());
    }
    shadow.CheckCompleteness(assembler);
  }
  if (assembler.complete()) CheckSplitRoundTrip<Real>(layout, assembler.values(), max_chunk_bytes);
}

}  // namespace
}  // namespace basin

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace format = basin::fuzz::train_chunks;
  basin::fuzz::FuzzInput in(data, size);
  const uint8_t setup = in.Read<uint8_t>();
  const int num_tensors = 1 + in.Read<uint8_t>() % 4;
  std::vector<basin::TensorSpec> tensors;
  for (int t = 0; t < num_tensors; ++t) {
    basin::TensorSpec spec{format::kTensorNames[t], {}};
    const int rank = in.Read<uint8_t>() % 3;
    for (int d = 0; d < rank; ++d) spec.shape.push_back(in.Read<uint8_t>() % 6);
    tensors.push_back(std::move(spec));
  }
  auto layout = basin::ParameterLayout::Create(std::move(tensors));
  if (!layout.ok()) return 0;  // zero elements overall
  const int64_t max_chunk_bytes = format::kMaxChunkBytes[(setup >> 1) & 3];
  if ((setup & 1) != 0) {
    basin::Run<double>(in, *layout, max_chunk_bytes);
  } else {
    basin::Run<float>(in, *layout, max_chunk_bytes);
  }
  return 0;
}
