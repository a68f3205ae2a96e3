// Reading untrusted bytes (core/byte_io.h).
#include "core/byte_io.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace basin {
namespace {

// A field of zero elements reads into an empty vector, whose data() is null: nothing is copied
// (memcpy with a null pointer is undefined even for no bytes; UBSan, in the asan preset, says so).
TEST(ByteReaderTest, ZeroBytesIntoAnEmptyVector) {
  std::string bytes;
  ByteWriter w(&bytes);
  w.Put<uint64_t>(0);
  ByteReader r(bytes);
  auto count = r.Get<uint64_t>("count");
  ASSERT_TRUE(count.ok());
  std::vector<double> values(*count);
  EXPECT_TRUE(r.GetBytes("values", values.data(), 0).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.GetBytes("more", values.data(), 1).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace basin
