#include "core/tensor_chunks.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/half.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

// A chunk that owns its bytes, for tests that keep chunks around.
struct OwnedChunk {
  std::string tensor;
  int64_t offset = 0;
  WireDType dtype = WireDType::kF32;
  std::string data;

  ChunkView view() const { return ChunkView{tensor, offset, dtype, data}; }
};

ParameterLayout MakeLayout(std::vector<TensorSpec> specs) {
  auto layout = ParameterLayout::Create(std::move(specs));
  EXPECT_TRUE(layout.ok()) << layout.status();
  return *std::move(layout);
}

template <typename Real>
std::vector<Real> RandomValues(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<Real> normal(0, 3);
  std::vector<Real> values(static_cast<std::size_t>(n));
  for (Real& v : values) v = normal(rng);
  return values;
}

// Values that must survive bit for bit: signed zeros, infinities, a NaN with a payload,
// subnormals, extremes.
template <typename Real>
std::vector<Real> SpecialValues(int64_t n) {
  using Limits = std::numeric_limits<Real>;
  using Bits = std::conditional_t<sizeof(Real) == 4, uint32_t, uint64_t>;
  const Real specials[] = {Real{0},
                           -Real{0},
                           Limits::infinity(),
                           -Limits::infinity(),
                           std::bit_cast<Real>(std::bit_cast<Bits>(Limits::quiet_NaN()) | Bits{0x1234}),
                           Limits::denorm_min(),
                           -Limits::min(),
                           Limits::max(),
                           Real{1} / 3};
  std::vector<Real> values = RandomValues<Real>(n, 99);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 3 == 0) values[i] = specials[(i / 3) % std::size(specials)];
  }
  return values;
}

template <typename Real>
std::vector<OwnedChunk> Split(const ParameterLayout& layout, const std::vector<Real>& values, WireDType dtype,
                              int64_t max_chunk_bytes) {
  std::vector<OwnedChunk> chunks;
  const absl::Status status =
      ForEachChunk<Real>(layout, values, dtype, max_chunk_bytes, [&](const ChunkView& chunk) {
        chunks.push_back({std::string(chunk.tensor), chunk.offset, chunk.dtype, std::string(chunk.data)});
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  return chunks;
}

template <typename Real>
bool BitwiseEqual(absl::Span<const Real> a, absl::Span<const Real> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Real)) == 0;
}

// Checks the chunks' shape: layout order, contiguous offsets from 0 covering each tensor, whole
// elements within the limit, no chunk for a zero-element tensor, and as few chunks as the limit
// allows.
void ExpectWellFormed(const ParameterLayout& layout, const std::vector<OwnedChunk>& chunks, WireDType dtype,
                      int64_t max_chunk_bytes) {
  const int64_t limit = max_chunk_bytes == 0 ? kDefaultMaxChunkBytes : max_chunk_bytes;
  const int64_t element_bytes = WireDTypeSize(dtype);
  const int64_t per_chunk = limit / element_bytes;
  std::size_t next = 0;
  for (int64_t t = 0; t < layout.num_tensors(); ++t) {
    int64_t offset = 0;
    while (offset < layout.size(t)) {
      ASSERT_LT(next, chunks.size());
      const OwnedChunk& c = chunks[next++];
      ASSERT_EQ(c.tensor, layout.tensors()[t].name);
      ASSERT_EQ(c.offset, offset);
      ASSERT_EQ(c.dtype, dtype);
      const int64_t bytes = static_cast<int64_t>(c.data.size());
      ASSERT_LE(bytes, limit);
      ASSERT_EQ(bytes % element_bytes, 0);
      ASSERT_GT(bytes, 0);
      // Every chunk but a tensor's last is full.
      const int64_t count = bytes / element_bytes;
      if (offset + count < layout.size(t)) {
        ASSERT_EQ(count, per_chunk);
      }
      offset += count;
    }
    ASSERT_EQ(offset, layout.size(t));
  }
  EXPECT_EQ(next, chunks.size());
}

const std::vector<TensorSpec> kMixedLayout = {
    {"scalar", {}},    {"empty", {0}},         {"w", {3, 5}}, {"empty2", {4, 0, 2}},
    {"b", {5}},        {"another_scalar", {}}, {"v", {37}},   {"trailing_empty", {0}},
};

template <typename Real>
class RoundTripTest : public ::testing::Test {};
using StateTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(RoundTripTest, StateTypes);

TYPED_TEST(RoundTripTest, SameAndWideDTypesAreBitExactForManyChunkSizes) {
  using Real = TypeParam;
  const std::vector<std::vector<TensorSpec>> layouts = {
      {{"s", {}}},
      kMixedLayout,
      {{"big", {1000}}, {"odd", {7}}},
  };
  for (const auto& specs : layouts) {
    const ParameterLayout layout = MakeLayout(specs);
    const std::vector<Real> values = SpecialValues<Real>(layout.num_elements());
    for (WireDType dtype : {WireDType::kF32, WireDType::kF64}) {
      // f64 state through an f32 wire rounds; compare with what rounding gives.
      std::vector<Real> expected = values;
      if (sizeof(Real) == 8 && dtype == WireDType::kF32) {
        for (Real& v : expected) v = static_cast<Real>(static_cast<float>(v));
      }
      for (int64_t max_chunk_bytes : std::vector<int64_t>{4, 6, 8, 12, 28, 100, 4096, 1 << 20, 0}) {
        if (max_chunk_bytes != 0 && max_chunk_bytes < WireDTypeSize(dtype)) continue;
        SCOPED_TRACE(::testing::Message() << "layout of " << specs.size() << " tensors, " << WireDTypeName(dtype)
                                          << ", max_chunk_bytes " << max_chunk_bytes);
        const std::vector<OwnedChunk> chunks = Split(layout, values, dtype, max_chunk_bytes);
        ExpectWellFormed(layout, chunks, dtype, max_chunk_bytes);
        ChunkAssembler<Real> assembler(layout, max_chunk_bytes);
        for (const OwnedChunk& c : chunks) {
          ASSERT_FALSE(assembler.complete());
          ASSERT_TRUE(assembler.Add(c.view()).ok());
        }
        EXPECT_TRUE(assembler.complete());
        EXPECT_TRUE(assembler.Finish().ok());
        EXPECT_TRUE(BitwiseEqual<Real>(assembler.values(), expected));
      }
    }
  }
}

TYPED_TEST(RoundTripTest, HalfDTypesRoundEachElementOnceToNearest) {
  using Real = TypeParam;
  const ParameterLayout layout = MakeLayout(kMixedLayout);
  std::vector<Real> values = RandomValues<Real>(layout.num_elements(), 5);
  for (WireDType dtype : {WireDType::kBF16, WireDType::kF16}) {
    for (int64_t max_chunk_bytes : std::vector<int64_t>{2, 3, 6, 64, 0}) {
      SCOPED_TRACE(::testing::Message() << WireDTypeName(dtype) << ", max_chunk_bytes " << max_chunk_bytes);
      const std::vector<OwnedChunk> chunks = Split(layout, values, dtype, max_chunk_bytes);
      ExpectWellFormed(layout, chunks, dtype, max_chunk_bytes);
      ChunkAssembler<Real> assembler(layout, max_chunk_bytes);
      for (const OwnedChunk& c : chunks) ASSERT_TRUE(assembler.Add(c.view()).ok());
      ASSERT_TRUE(assembler.Finish().ok());
      // Each element is the nearest half value to the state value, and within half an ulp of it.
      const double relative = dtype == WireDType::kBF16 ? 0x1p-8 : 0x1p-11;
      for (std::size_t i = 0; i < values.size(); ++i) {
        const Real got = assembler.values()[i];
        const double v = static_cast<double>(values[i]);
        const uint16_t want_bits = dtype == WireDType::kBF16 ? DoubleToBf16(v) : DoubleToF16(v);
        const float want = dtype == WireDType::kBF16 ? Bf16ToFloat(want_bits) : F16ToFloat(want_bits);
        ASSERT_EQ(got, static_cast<Real>(want)) << i;
        ASSERT_LE(std::fabs(static_cast<double>(got) - v), relative * std::fabs(v)) << i << ": " << v;
      }
    }
  }
}

// Many tiny tensors, each smaller than a chunk; and one tensor many chunks long.
TYPED_TEST(RoundTripTest, ManyTinyTensors) {
  using Real = TypeParam;
  std::vector<TensorSpec> specs;
  for (int i = 0; i < 1000; ++i) specs.push_back({absl::StrCat("t", i), {i % 4}});
  const ParameterLayout layout = MakeLayout(specs);
  const std::vector<Real> values = RandomValues<Real>(layout.num_elements(), 11);
  const WireDType state_dtype = sizeof(Real) == 4 ? WireDType::kF32 : WireDType::kF64;
  const std::vector<OwnedChunk> chunks = Split(layout, values, state_dtype, 2 * sizeof(Real));
  ExpectWellFormed(layout, chunks, state_dtype, 2 * sizeof(Real));
  EXPECT_EQ(chunks.size(), 250u * (0 + 1 + 1 + 2));
  ChunkAssembler<Real> assembler(layout, 2 * sizeof(Real));
  for (const OwnedChunk& c : chunks) ASSERT_TRUE(assembler.Add(c.view()).ok());
  ASSERT_TRUE(assembler.Finish().ok());
  EXPECT_TRUE(BitwiseEqual<Real>(assembler.values(), values));
}

// 8·10^6 floats in three tensors with 1 MiB chunks, streamed from the splitter straight into the
// assembler without keeping chunks.
TEST(TensorChunksTest, EightMillionFloatsInOneMebibyteChunks) {
  const ParameterLayout layout = MakeLayout({{"embed", {3000, 1000}}, {"hidden", {4'000'001}}, {"head", {999'999}}});
  ASSERT_EQ(layout.num_elements(), 8'000'000);
  std::vector<float> values(8'000'000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 1e6f;
  for (WireDType dtype : {WireDType::kF32, WireDType::kBF16}) {
    ChunkAssembler<float> assembler(layout, 1 << 20);
    int64_t num_chunks = 0;
    int64_t largest = 0;
    const absl::Status status =
        ForEachChunk<float>(layout, values, dtype, 1 << 20, [&](const ChunkView& chunk) {
          ++num_chunks;
          largest = std::max<int64_t>(largest, chunk.data.size());
          return assembler.Add(chunk);
        });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_TRUE(assembler.Finish().ok());
    EXPECT_EQ(largest, 1 << 20);
    const int64_t per_chunk = (1 << 20) / WireDTypeSize(dtype);
    int64_t want_chunks = 0;
    for (int64_t t = 0; t < 3; ++t) want_chunks += (layout.size(t) + per_chunk - 1) / per_chunk;
    EXPECT_EQ(num_chunks, want_chunks);
    if (dtype == WireDType::kF32) {
      EXPECT_TRUE(BitwiseEqual<float>(assembler.values(), values));
    } else {
      for (std::size_t i = 0; i < values.size(); i += 997) {
        ASSERT_EQ(assembler.values()[i], Bf16ToFloat(FloatToBf16(values[i]))) << i;
      }
    }
  }
}

TEST(TensorChunksTest, StateDTypeChunksPointIntoTheValues) {
  const ParameterLayout layout = MakeLayout({{"a", {10}}, {"b", {6}}});
  const std::vector<double> values = RandomValues<double>(16, 1);
  const absl::Status status =
      ForEachChunk<double>(layout, values, WireDType::kF64, 32, [&](const ChunkView& chunk) {
        const int64_t first = layout.offset(*layout.Find(chunk.tensor)) + chunk.offset;
        EXPECT_EQ(chunk.data.data(), reinterpret_cast<const char*>(values.data() + first));
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
}

TEST(TensorChunksTest, MixedDTypesAcrossChunksAreFine) {
  const ParameterLayout layout = MakeLayout({{"a", {3}}, {"b", {2}}});
  const float a[] = {1.5f, -2.0f, 0.25f};
  const uint16_t a_tail = FloatToF16(0.25f);
  const double b[] = {3.0, 1e300};
  ChunkAssembler<float> assembler(layout, 0);
  ASSERT_TRUE(assembler.Add({"a", 0, WireDType::kF32, {reinterpret_cast<const char*>(a), 8}}).ok());
  ASSERT_TRUE(assembler.Add({"a", 2, WireDType::kF16, {reinterpret_cast<const char*>(&a_tail), 2}}).ok());
  ASSERT_TRUE(assembler.Add({"b", 0, WireDType::kF64, {reinterpret_cast<const char*>(b), 16}}).ok());
  ASSERT_TRUE(assembler.Finish().ok());
  EXPECT_THAT(std::vector<float>(assembler.values().begin(), assembler.values().end()),
              ::testing::ElementsAre(1.5f, -2.0f, 0.25f, 3.0f, std::numeric_limits<float>::infinity()));
}

// --- Rejections ---

// Fixture: layout a[4], empty[0], b[3], c[2]; every buffer element of a first set is 7, so a
// rejected chunk that wrote anything would show.
class AssemblerRejectionTest : public ::testing::Test {
 protected:
  AssemblerRejectionTest()
      : layout_(MakeLayout({{"a", {4}}, {"empty", {0}}, {"b", {3}}, {"c", {2}}})), assembler_(layout_, 64) {
    const std::vector<float> sevens(9, 7.0f);
    const absl::Status status = ForEachChunk<float>(layout_, sevens, WireDType::kF32, 0,
                                                    [&](const ChunkView& c) { return assembler_.Add(c); });
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_TRUE(assembler_.complete());
    assembler_.Reset();
    EXPECT_FALSE(assembler_.complete());
  }

  static std::string Floats(std::initializer_list<float> values) {
    return std::string(reinterpret_cast<const char*>(values.begin()), values.size() * sizeof(float));
  }

  // Adds a chunk that must be rejected with `code` and a message containing `message`, and checks
  // that nothing changed: the values are as before and the assembler takes what it took before.
  void ExpectRejected(const ChunkView& chunk, absl::StatusCode code, const std::string& message) {
    const std::vector<float> before(assembler_.values().begin(), assembler_.values().end());
    const bool was_complete = assembler_.complete();
    const absl::Status status = assembler_.Add(chunk);
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(message));
    EXPECT_EQ(std::vector<float>(assembler_.values().begin(), assembler_.values().end()), before);
    EXPECT_EQ(assembler_.complete(), was_complete);
  }

  // Sends the rest of a valid set from where a test left off at "b" offset 1.
  void FinishFromB1() {
    const std::string b_rest = Floats({2, 3});
    const std::string c = Floats({4, 5});
    ASSERT_TRUE(assembler_.Add({"b", 1, WireDType::kF32, b_rest}).ok());
    ASSERT_TRUE(assembler_.Add({"c", 0, WireDType::kF32, c}).ok());
    ASSERT_TRUE(assembler_.Finish().ok());
  }

  // A valid start: all of "a" and the first element of "b".
  void StartToB1() {
    ASSERT_TRUE(assembler_.Add({"a", 0, WireDType::kF32, a_}).ok());
    ASSERT_TRUE(assembler_.Add({"b", 0, WireDType::kF32, b0_}).ok());
  }

  const std::string a_ = Floats({-1, -2, -3, -4});
  const std::string b0_ = Floats({1});
  ParameterLayout layout_;
  ChunkAssembler<float> assembler_;
};

TEST_F(AssemblerRejectionTest, ValidStreamAfterRejectionsOfEveryKind) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  // Before anything arrived.
  ExpectRejected({"nope", 0, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'nope' at offset 0: no tensor of that name");
  // A peer's name comes back escaped and cut short.
  const std::string long_name = absl::StrCat("\x01", std::string(1000, 'z'));
  ExpectRejected({long_name, 0, WireDType::kF32, b0_}, kInvalid,
                 absl::StrCat("chunk of tensor '\\x01", std::string(255, 'z'),
                              "...' at offset 0: no tensor of that name"));
  ExpectRejected({"b", 0, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'b' at offset 0 skips elements of an earlier tensor; "
                 "expected tensor 'a' at offset 0");
  ExpectRejected({"a", 1, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'a' at offset 1 leaves a gap; expected tensor 'a' at offset 0");
  ExpectRejected({"a", -1, WireDType::kF32, b0_}, kInvalid, "chunk of tensor 'a' at offset -1 has a negative offset");
  ExpectRejected({"a", 0, WireDType::kF32, std::string(6, 'x')}, kInvalid,
                 "chunk of tensor 'a' at offset 0 has 6 bytes of data, "
                 "not a whole number of f32 elements (4 bytes each)");
  ExpectRejected({"a", 0, WireDType::kBF16, std::string(3, 'x')}, kInvalid, "not a whole number of bf16 elements");
  ExpectRejected({"a", 0, WireDType::kF32, Floats({1, 2, 3, 4, 5})}, kInvalid,
                 "chunk of tensor 'a' at offset 0 has 5 elements, running past the tensor's end at 4");
  ExpectRejected({"a", 0, static_cast<WireDType>(0), a_}, kInvalid,
                 "chunk of tensor 'a' at offset 0 has unknown dtype 0");
  ExpectRejected({"a", 0, static_cast<WireDType>(5), a_}, kInvalid, "unknown dtype 5");
  ExpectRejected({"a", 0, static_cast<WireDType>(259), a_}, kInvalid, "unknown dtype 259");  // not 3 = bf16
  ExpectRejected({"a", 0, WireDType::kF32, std::string(68, 'x')}, absl::StatusCode::kResourceExhausted,
                 "chunk of tensor 'a' at offset 0 has 68 bytes of data; the limit is 64 bytes");

  StartToB1();
  // Mid-stream.
  ExpectRejected({"a", 0, WireDType::kF32, a_}, kInvalid,
                 "chunk of tensor 'a' at offset 0 is out of layout order; expected tensor 'b' at offset 1");
  ExpectRejected({"empty", 0, WireDType::kF32, ""}, kInvalid,
                 "chunk of tensor 'empty' at offset 0 is out of layout order; expected tensor 'b' at offset 1");
  ExpectRejected({"b", 0, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'b' at offset 0 overlaps elements already received; expected tensor 'b' at offset 1");
  ExpectRejected({"b", 2, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'b' at offset 2 leaves a gap; expected tensor 'b' at offset 1");
  ExpectRejected({"c", 0, WireDType::kF32, Floats({4, 5})}, kInvalid,
                 "chunk of tensor 'c' at offset 0 skips elements of an earlier tensor; "
                 "expected tensor 'b' at offset 1");
  // Would run from b into c, overwriting c's 7s if anything were written.
  ExpectRejected({"b", 1, WireDType::kF32, Floats({2, 3, 4})}, kInvalid,
                 "chunk of tensor 'b' at offset 1 has 3 elements, running past the tensor's end at 3");
  EXPECT_THAT(std::string(assembler_.Finish().message()),
              HasSubstr("tensor 'b' incomplete: its elements from offset 1 of 3 are missing"));

  FinishFromB1();
  EXPECT_THAT(std::vector<float>(assembler_.values().begin(), assembler_.values().end()),
              ::testing::ElementsAre(-1, -2, -3, -4, 1, 2, 3, 4, 5));
  // After the last element.
  ExpectRejected({"c", 2, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'c' at offset 2 has 1 elements after every element of the layout arrived");
  ExpectRejected({"c", 0, WireDType::kF32, b0_}, kInvalid,
                 "chunk of tensor 'c' at offset 0 overlaps elements already received; no further data: every element "
                 "has arrived");
  EXPECT_TRUE(assembler_.complete());
}

TEST_F(AssemblerRejectionTest, ZeroElementTensorsNeedNoChunkButMayHaveAnEmptyOne) {
  // Without a chunk for "empty".
  StartToB1();
  FinishFromB1();

  // With an empty one, and empty chunks where a chunk may start.
  assembler_.Reset();
  ASSERT_TRUE(assembler_.Add({"a", 0, WireDType::kF32, ""}).ok());
  ASSERT_TRUE(assembler_.Add({"a", 0, WireDType::kF32, a_}).ok());
  ASSERT_TRUE(assembler_.Add({"a", 4, WireDType::kBF16, ""}).ok());
  ASSERT_TRUE(assembler_.Add({"empty", 0, WireDType::kF16, ""}).ok());
  ExpectRejected({"b", 1, WireDType::kF32, b0_}, absl::StatusCode::kInvalidArgument,
                 "chunk of tensor 'b' at offset 1 leaves a gap; expected tensor 'b' at offset 0");
  // Nothing can be past an empty tensor's end.
  ExpectRejected({"empty", 0, WireDType::kF32, b0_}, absl::StatusCode::kInvalidArgument,
                 "chunk of tensor 'empty' at offset 0 has 1 elements, running past the tensor's end at 0");
  EXPECT_THAT(std::string(assembler_.Finish().message()),
              HasSubstr("tensor 'b' incomplete: its elements from offset 0 of 3 are missing"));
  ASSERT_TRUE(assembler_.Add({"b", 0, WireDType::kF32, b0_}).ok());
  FinishFromB1();
}

TEST_F(AssemblerRejectionTest, FinishNamesTheFirstMissingElement) {
  EXPECT_THAT(std::string(assembler_.Finish().message()),
              HasSubstr("chunks end with tensor 'a' incomplete: its elements from offset 0 of 4 are missing"));
  ASSERT_TRUE(assembler_.Add({"a", 0, WireDType::kF32, Floats({1, 2})}).ok());
  EXPECT_THAT(std::string(assembler_.Finish().message()),
              HasSubstr("tensor 'a' incomplete: its elements from offset 2"));
  ASSERT_TRUE(assembler_.Add({"a", 2, WireDType::kF32, Floats({3, 4})}).ok());
  // "a" is complete and "empty" needs nothing: "b" is next.
  const absl::Status status = assembler_.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("tensor 'b' incomplete: its elements from offset 0 of 3"));
}

TEST_F(AssemblerRejectionTest, ResetStartsOverAndOverwrites) {
  StartToB1();
  assembler_.Reset();
  ExpectRejected({"b", 1, WireDType::kF32, b0_}, absl::StatusCode::kInvalidArgument, "expected tensor 'a' at offset 0");
  StartToB1();
  FinishFromB1();
}

TEST(TensorChunksTest, DefaultLimitIsOneMebibyte) {
  const ParameterLayout layout = ParameterLayout::Flat(1 << 19);
  ChunkAssembler<double> assembler(layout, 0);
  EXPECT_EQ(assembler.max_chunk_bytes(), 1 << 20);
  const std::string mebibyte(1 << 20, '\0');
  EXPECT_TRUE(assembler.Add({"x", 0, WireDType::kF64, mebibyte}).ok());
  const std::string over((1 << 20) + 8, '\0');
  const absl::Status status = assembler.Add({"x", 131072, WireDType::kF64, over});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("has 1048584 bytes of data; the limit is 1048576 bytes"));
}

TEST(ForEachChunkTest, RejectsBadArgumentsBeforeEmitting) {
  const ParameterLayout layout = MakeLayout({{"a", {3}}});
  const std::vector<float> values = {1, 2, 3};
  int calls = 0;
  auto count = [&](const ChunkView&) {
    ++calls;
    return absl::OkStatus();
  };
  auto expect_invalid = [&](absl::Status status, const std::string& message) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(message));
  };
  expect_invalid(ForEachChunk<float>(layout, absl::MakeConstSpan(values).subspan(1), WireDType::kF32, 0, count),
                 "values have 2 elements; the layout has 3");
  expect_invalid(ForEachChunk<float>(layout, values, static_cast<WireDType>(0), 0, count), "unknown dtype 0");
  expect_invalid(ForEachChunk<float>(layout, values, WireDType::kF32, -1, count),
                 "max_chunk_bytes must be ≥ 0, got -1");
  expect_invalid(ForEachChunk<float>(layout, values, WireDType::kF32, 3, count),
                 "max_chunk_bytes 3 is smaller than one f32 element (4 bytes)");
  expect_invalid(ForEachChunk<float>(layout, values, WireDType::kF64, 7, count), "smaller than one f64 element");
  expect_invalid(ForEachChunk<float>(layout, values, WireDType::kBF16, 1, count), "smaller than one bf16 element");
  EXPECT_EQ(calls, 0);
}

TEST(ForEachChunkTest, StopsAtTheFirstEmitError) {
  const ParameterLayout layout = MakeLayout({{"a", {3}}, {"b", {3}}});
  const std::vector<double> values(6, 1.0);
  int calls = 0;
  const absl::Status status = ForEachChunk<double>(layout, values, WireDType::kF16, 2, [&](const ChunkView&) {
    return ++calls == 4 ? absl::CancelledError("stream closed") : absl::OkStatus();
  });
  EXPECT_EQ(status, absl::CancelledError("stream closed"));
  EXPECT_EQ(calls, 4);
}

}  // namespace
}  // namespace basin
