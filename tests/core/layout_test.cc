#include "core/layout.h"

#include <cstdint>

#include "core/aligned_buffer.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

TEST(ParameterLayoutTest, OffsetsAreCumulative) {
  auto layout = ParameterLayout::Create({{"w", {3, 4}}, {"b", {4}}, {"s", {}}});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->num_tensors(), 3);
  EXPECT_EQ(layout->num_elements(), 17);
  EXPECT_EQ(layout->offset(0), 0);
  EXPECT_EQ(layout->offset(1), 12);
  EXPECT_EQ(layout->offset(2), 16);
  EXPECT_EQ(layout->size(2), 1);  // a scalar
  EXPECT_EQ(*layout->Find("b"), 1);
  EXPECT_EQ(layout->Find("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(ParameterLayoutTest, RejectsBadSpecsNamingTheProblem) {
  auto expect_invalid = [](std::vector<TensorSpec> t, const std::string& what) {
    auto layout = ParameterLayout::Create(std::move(t));
    ASSERT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(std::string(layout.status().message()), HasSubstr(what));
  };
  expect_invalid({}, "no tensors");
  expect_invalid({{"", {2}}}, "empty name");
  expect_invalid({{"a", {2}}, {"a", {3}}}, "'a' appears twice");
  expect_invalid({{"a", {2, -1}}}, "negative dimension in shape [2, -1]");
  expect_invalid({{"a", {1 << 20, 1 << 20, 1 << 20}}}, "more than 17179869184 elements");
  expect_invalid({{"a", {0}}}, "zero elements");
  expect_invalid({{"bad name", {1}}}, "not printable ASCII");
  expect_invalid({{std::string(300, 'x'), {1}}}, "300 bytes long");
}

TEST(ParameterLayoutTest, TotalOverflowAcrossTensorsIsRejected) {
  const int64_t half = ParameterLayout::kMaxElements / 2 + 1;
  auto layout = ParameterLayout::Create({{"a", {half}}, {"b", {half}}});
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace basin

namespace basin {
namespace {

TEST(AlignedBufferTest, SixtyFourByteAlignedZeroedAndDeepCopied) {
  for (std::size_t n : {1u, 3u, 17u, 1000u}) {
    AlignedBuffer<float> f(n);
    AlignedBuffer<double> d(n);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(d.data()) % 64, 0u);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(f[i], 0.0f);
    f.Fill(2.5f);
    AlignedBuffer<float> copy = f;
    EXPECT_NE(copy.data(), f.data());
    copy[0] = 1;
    EXPECT_EQ(f[0], 2.5f);
    AlignedBuffer<float> moved = std::move(copy);
    EXPECT_EQ(moved.size(), n);
    EXPECT_EQ(moved[0], 1.0f);
    EXPECT_TRUE(copy.empty());
  }
}

}  // namespace
}  // namespace basin
