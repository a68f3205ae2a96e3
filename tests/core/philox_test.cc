#include "core/philox.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"

namespace basin {
namespace {

using Counter = std::array<uint32_t, 4>;
using Key = std::array<uint32_t, 2>;

struct KnownAnswer {
  Counter counter;
  Key key;
  Counter expected;
};

// Known-answer vectors of Random123's tests/kat_vectors (D. E. Shaw Research), as cut-and-pasted
// into DEShawResearch/Random123-Boost, libs/random/test/test_philox.cpp, test_kat_philox4x32
// (commit 916db91ae4c6fd8324ef054a518851321ab41f91). Columns: counter[4] key[2] -> output[4].
constexpr std::array<KnownAnswer, 3> kPhilox4x32_10 = {{
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
}};

// Same source, the 7-round lines. A second round count catches a key schedule that is off by one
// bump, which a single round count could hide only by luck, but cheaply.
constexpr std::array<KnownAnswer, 3> kPhilox4x32_7 = {{
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
}};

// The noise loop relies on Philox being usable in constant expressions (and so fully inlinable).
static_assert(Philox4x32_10(kPhilox4x32_10[2].counter, kPhilox4x32_10[2].key) ==
              kPhilox4x32_10[2].expected);

TEST(PhiloxTest, MatchesRandom123KnownAnswers10Rounds) {
  for (const KnownAnswer& kat : kPhilox4x32_10) {
    const Counter got = Philox4x32_10(kat.counter, kat.key);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(got[i], kat.expected[i])
          << "word " << i << " for counter " << std::hex << kat.counter[0] << " key " << kat.key[0];
    }
  }
}

TEST(PhiloxTest, MatchesRandom123KnownAnswers7Rounds) {
  for (const KnownAnswer& kat : kPhilox4x32_7) {
    const Counter got = Philox4x32<7>(kat.counter, kat.key);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(got[i], kat.expected[i])
          << "word " << i << " for counter " << std::hex << kat.counter[0] << " key " << kat.key[0];
    }
  }
}

int DifferingBits(const Counter& a, const Counter& b) {
  int bits = 0;
  for (int i = 0; i < 4; ++i) bits += std::popcount(a[i] ^ b[i]);
  return bits;
}

// Every input bit must reach the whole output: a word dropped from the round function (or a key
// word never mixed in) would leave some flips with tiny or zero output changes.
TEST(PhiloxTest, EveryInputBitFlipsAboutHalfTheOutput) {
  const Counter counter = kPhilox4x32_10[2].counter;
  const Key key = kPhilox4x32_10[2].key;
  const Counter base = Philox4x32_10(counter, key);
  int total = 0;
  int flips = 0;
  for (int word = 0; word < 6; ++word) {
    for (int bit = 0; bit < 32; ++bit) {
      Counter c = counter;
      Key k = key;
      if (word < 4) {
        c[word] ^= uint32_t{1} << bit;
      } else {
        k[word - 4] ^= uint32_t{1} << bit;
      }
      const int differing = DifferingBits(base, Philox4x32_10(c, k));
      // Binomial(128, 1/2) is below 30 or above 98 with probability ~1e-11.
      EXPECT_GT(differing, 30) << "input word " << word << " bit " << bit;
      EXPECT_LT(differing, 98) << "input word " << word << " bit " << bit;
      total += differing;
      ++flips;
    }
  }
  const double mean = static_cast<double>(total) / flips;
  EXPECT_NEAR(mean, 64.0, 2.0);  // The mean of 192 flips has a standard deviation of ~0.4.
}

TEST(UniformConversionTest, StaysStrictlyInsideTheUnitInterval) {
  const double lowest = Uint32ToOpenUnitDouble(0);
  const double highest = Uint32ToOpenUnitDouble(0xffffffff);
  EXPECT_EQ(lowest, 0x1p-33);
  EXPECT_GT(lowest, 0.0);
  EXPECT_LT(highest, 1.0);
  EXPECT_EQ(highest, 1.0 - 0x1p-33);
  EXPECT_TRUE(std::isfinite(std::log(lowest)));
  EXPECT_LT(std::log(highest), 0.0);  // So -2 log U > 0 and the Box–Muller radius is never 0.
  EXPECT_EQ(Uint32ToOpenUnitDouble(0x80000000), 0.5 + 0x1p-33);
}

TEST(UniformConversionTest, IsExactAndStrictlyIncreasing) {
  // Consecutive inputs map to values exactly 2^-32 apart, everywhere in the range, so no two
  // inputs collide and none is rounded.
  for (uint32_t x : {0u, 1u, 12345u, 0x7fffffffu, 0x80000000u, 0xfffffff0u, 0xfffffffeu}) {
    EXPECT_EQ(Uint32ToOpenUnitDouble(x + 1) - Uint32ToOpenUnitDouble(x), 0x1p-32) << x;
  }
}

}  // namespace
}  // namespace basin
