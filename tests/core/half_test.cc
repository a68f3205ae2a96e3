#include "core/half.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

// --- Slow references, in double arithmetic, sharing no code with core/half.h ---

struct Format {
  const char* name;
  int mant_bits;
  int exp_bits;
  int bias() const { return (1 << (exp_bits - 1)) - 1; }
  int exp_field(uint16_t bits) const { return (bits >> mant_bits) & ((1 << exp_bits) - 1); }
  int mant_field(uint16_t bits) const { return bits & ((1 << mant_bits) - 1); }
  bool is_nan(uint16_t bits) const { return exp_field(bits) == (1 << exp_bits) - 1 && mant_field(bits) != 0; }
  bool is_quiet_nan(uint16_t bits) const { return is_nan(bits) && (bits >> (mant_bits - 1) & 1); }
  double max_finite() const { return std::ldexp(2.0 - std::ldexp(1.0, -mant_bits), bias()); }
};
constexpr Format kBf16{"bf16", 7, 8};
constexpr Format kF16{"f16", 10, 5};

double ReferenceDecode(uint16_t bits, const Format& f) {
  const int exp = f.exp_field(bits);
  const int mant = f.mant_field(bits);
  double magnitude;
  if (exp == (1 << f.exp_bits) - 1) {
    magnitude = mant == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (exp == 0) {
    magnitude = std::ldexp(mant, 1 - f.bias() - f.mant_bits);
  } else {
    magnitude = std::ldexp(mant + (1 << f.mant_bits), exp - f.bias() - f.mant_bits);
  }
  return (bits & 0x8000) ? -magnitude : magnitude;
}

// The value of format f nearest to x, ties to the even significand, overflowing to ±Inf; as
// IEEE 754 defines it (round as if the exponent were unbounded, then overflow).
double ReferenceRound(double x, const Format& f) {
  if (std::isnan(x) || std::isinf(x)) return x;
  const double magnitude = std::fabs(x);
  const int min_exp = 1 - f.bias();
  const int exp = magnitude == 0 ? min_exp : std::max(std::ilogb(magnitude), min_exp);
  const double ulp = std::ldexp(1.0, exp - f.mant_bits);
  const double scaled = magnitude / ulp;  // exact: a power-of-two scaling, < 2^(mant_bits + 1)
  double whole = std::floor(scaled);
  const double fraction = scaled - whole;
  if (fraction > 0.5 || (fraction == 0.5 && std::fmod(whole, 2.0) == 1.0)) whole += 1;
  double result = whole * ulp;
  if (result > f.max_finite()) result = std::numeric_limits<double>::infinity();
  return std::copysign(result, x);
}

uint16_t Encode(const Format& f, float x) { return &f == &kBf16 ? FloatToBf16(x) : FloatToF16(x); }
uint16_t Encode(const Format& f, double x) { return &f == &kBf16 ? DoubleToBf16(x) : DoubleToF16(x); }
float Decode(const Format& f, uint16_t bits) { return &f == &kBf16 ? Bf16ToFloat(bits) : F16ToFloat(bits); }

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t BitsOf(float x) { return std::bit_cast<uint32_t>(x); }
uint64_t BitsOf(double x) { return std::bit_cast<uint64_t>(x); }

// Checks that `got` (bits of f) is what rounding x should give.
template <typename Real>
void ExpectRoundsLikeReference(const Format& f, Real x, uint16_t got) {
  const double want = ReferenceRound(static_cast<double>(x), f);
  const double got_value = ReferenceDecode(got, f);
  if (std::isnan(want)) {
    EXPECT_TRUE(f.is_quiet_nan(got)) << f.name << " of NaN gave " << Hex(got);
    EXPECT_EQ(got >> 15, std::signbit(x) ? 1 : 0) << f.name << " NaN lost its sign";
    return;
  }
  EXPECT_TRUE(got_value == want && std::signbit(got_value) == std::signbit(want))
      << f.name << " of " << x << " (" << Hex(BitsOf(x)) << ") gave " << Hex(got) << " = " << got_value
      << ", want " << want;
}

const Format* const kFormats[] = {&kBf16, &kF16};

// --- Decoding ---

TEST(HalfTest, DecodingIsExactForEveryBitPattern) {
  for (const Format* f : kFormats) {
    for (uint32_t i = 0; i < 65536; ++i) {
      const uint16_t bits = static_cast<uint16_t>(i);
      const double want = ReferenceDecode(bits, *f);
      const float got = Decode(*f, bits);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(got)) << f->name << " " << Hex(bits);
        ASSERT_EQ(std::signbit(got), (bits & 0x8000) != 0) << f->name << " " << Hex(bits);
      } else {
        ASSERT_EQ(static_cast<double>(got), want) << f->name << " " << Hex(bits);
        ASSERT_EQ(std::signbit(got), std::signbit(want)) << f->name << " " << Hex(bits);
      }
    }
  }
}

// --- Round trips ---

TEST(HalfTest, EveryBitPatternRoundTripsThroughFloatAndDouble) {
  for (const Format* f : kFormats) {
    for (uint32_t i = 0; i < 65536; ++i) {
      const uint16_t bits = static_cast<uint16_t>(i);
      const float as_float = Decode(*f, bits);
      const uint16_t via_float = Encode(*f, as_float);
      const uint16_t via_double = Encode(*f, static_cast<double>(as_float));
      if (f->is_nan(bits)) {
        // NaN stays NaN of the same sign, made quiet; a quiet NaN keeps its payload.
        for (uint16_t back : {via_float, via_double}) {
          ASSERT_TRUE(f->is_quiet_nan(back)) << f->name << " " << Hex(bits) << " -> " << Hex(back);
          ASSERT_EQ(back >> 15, bits >> 15) << f->name << " " << Hex(bits);
          if (f->is_quiet_nan(bits)) {
            ASSERT_EQ(back, bits) << f->name;
          }
        }
      } else {
        ASSERT_EQ(via_float, bits) << f->name << " via f32, " << Hex(bits) << " -> " << Hex(via_float);
        ASSERT_EQ(via_double, bits) << f->name << " via f64, " << Hex(bits) << " -> " << Hex(via_double);
      }
    }
  }
}

TEST(HalfTest, BulkConversionsAgreeWithScalarOnesForEveryBitPattern) {
  std::vector<char> wire(2 * 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t bits = static_cast<uint16_t>(i);
    std::memcpy(wire.data() + 2 * i, &bits, 2);
  }
  for (WireDType dtype : {WireDType::kBF16, WireDType::kF16}) {
    const Format& f = dtype == WireDType::kBF16 ? kBf16 : kF16;
    std::vector<float> floats(65536);
    std::vector<double> doubles(65536);
    DecodeToState(dtype, wire.data(), 65536, floats.data());
    DecodeToState(dtype, wire.data(), 65536, doubles.data());
    std::vector<char> from_floats(wire.size()), from_doubles(wire.size()), want(wire.size());
    EncodeFromState(dtype, floats.data(), 65536, from_floats.data());
    EncodeFromState(dtype, doubles.data(), 65536, from_doubles.data());
    for (uint32_t i = 0; i < 65536; ++i) {
      const float scalar = Decode(f, static_cast<uint16_t>(i));
      ASSERT_EQ(std::bit_cast<uint32_t>(floats[i]), std::bit_cast<uint32_t>(scalar)) << f.name << " " << Hex(i);
      ASSERT_EQ(std::bit_cast<uint64_t>(doubles[i]), std::bit_cast<uint64_t>(static_cast<double>(scalar)))
          << f.name << " " << Hex(i);
      const uint16_t encoded = Encode(f, scalar);
      std::memcpy(want.data() + 2 * i, &encoded, 2);
    }
    EXPECT_EQ(from_floats, want) << f.name;
    EXPECT_EQ(from_doubles, want) << f.name;
  }
}

TEST(HalfTest, BulkWideConversionsAreCopiesOrHardwareCasts) {
  const std::vector<double> values = {0.0, -0.0, 1.0, 1.0 + 0x1p-30, 1e300, -1e300, 0x1p-149, 0x1p-151,
                                      std::numeric_limits<double>::infinity()};
  const int64_t n = static_cast<int64_t>(values.size());
  std::vector<char> wire(8 * values.size());
  std::memcpy(wire.data(), values.data(), wire.size());
  // Odd offset: wire bytes need no alignment.
  std::vector<char> unaligned(wire.size() + 1);
  std::memcpy(unaligned.data() + 1, wire.data(), wire.size());
  std::vector<float> floats(values.size());
  std::vector<double> doubles(values.size());
  DecodeToState(WireDType::kF64, unaligned.data() + 1, n, floats.data());
  DecodeToState(WireDType::kF64, unaligned.data() + 1, n, doubles.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(floats[i]), std::bit_cast<uint32_t>(static_cast<float>(values[i]))) << i;
    EXPECT_EQ(std::bit_cast<uint64_t>(doubles[i]), std::bit_cast<uint64_t>(values[i])) << i;
  }
  EXPECT_EQ(floats[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(floats[7], 0.0f);  // 2^-151 is below half the smallest f32 subnormal

  std::vector<char> out(8 * values.size());
  EncodeFromState(WireDType::kF64, doubles.data(), n, out.data());
  EXPECT_EQ(out, wire);
  std::vector<char> out32(4 * values.size());
  EncodeFromState(WireDType::kF32, doubles.data(), n, out32.data());
  std::vector<float> back(values.size());
  DecodeToState(WireDType::kF32, out32.data(), n, back.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(back[i]), std::bit_cast<uint32_t>(floats[i])) << i;
  }
}

// --- Rounding against the reference ---

TEST(HalfTest, RandomFloatsRoundLikeTheReference) {
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 1'000'000; ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    // Half of the draws land where f16 is finite (|x| < 2^17) so its rounding is exercised too.
    if (i % 2 == 1) bits = (bits & 0x807fffffu) | ((100 + (bits >> 23) % 45) << 23);
    const float x = std::bit_cast<float>(bits);
    ExpectRoundsLikeReference(kBf16, x, FloatToBf16(x));
    ExpectRoundsLikeReference(kF16, x, FloatToF16(x));
    if (HasFailure()) return;
  }
}

TEST(HalfTest, RandomDoublesRoundLikeTheReference) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1'000'000; ++i) {
    uint64_t bits = rng();
    if (i % 2 == 1) bits = (bits & 0x800fffffffffffffull) | ((uint64_t{1023 - 30} + (bits >> 52) % 50) << 52);
    const double x = std::bit_cast<double>(bits);
    ExpectRoundsLikeReference(kBf16, x, DoubleToBf16(x));
    ExpectRoundsLikeReference(kF16, x, DoubleToF16(x));
    if (HasFailure()) return;
  }
}

// Every midpoint between two adjacent finite values of the format (both signs), and the points
// one f32/f64 ulp either side of it. Midpoints fit in f32 (the formats have ≤ 11 significant bits).
TEST(HalfTest, EveryMidpointRoundsToEvenAndNeighboursRoundToNearest) {
  for (const Format* f : kFormats) {
    const uint16_t max_finite = static_cast<uint16_t>(((1 << f->exp_bits) - 1) << f->mant_bits) - 1;
    for (uint16_t sign : {uint16_t{0}, uint16_t{0x8000}}) {
      for (uint16_t low = 0; low <= max_finite; ++low) {
        const uint16_t lo_bits = sign | low;
        const double lo = ReferenceDecode(lo_bits, *f);
        // Above max finite the next value is where overflow starts: 2^(bias + 1), all ones → Inf.
        const double hi = low == max_finite ? std::copysign(std::ldexp(1.0, f->bias() + 1), lo)
                                            : ReferenceDecode(static_cast<uint16_t>(lo_bits + 1), *f);
        const uint16_t hi_bits = static_cast<uint16_t>(lo_bits + 1);  // max finite + 1 is Inf
        const uint16_t even_bits = (low & 1) ? hi_bits : lo_bits;
        const double mid = (lo + hi) / 2;  // exact in double
        const float mid_f = static_cast<float>(mid);
        ASSERT_EQ(static_cast<double>(mid_f), mid) << "midpoint not exact in f32";
        ASSERT_EQ(Encode(*f, mid_f), even_bits) << f->name << " tie above " << Hex(lo_bits);
        ASSERT_EQ(Encode(*f, mid), even_bits) << f->name << " tie above " << Hex(lo_bits) << " from f64";
        // One ulp of f32/f64 toward zero stays above lo; one away from zero stays below hi.
        const float toward_lo_f = std::nextafter(mid_f, 0.0f);
        const float toward_hi_f = std::nextafter(mid_f, std::copysign(std::numeric_limits<float>::infinity(), mid_f));
        ASSERT_EQ(Encode(*f, toward_lo_f), lo_bits) << f->name << " just below tie above " << Hex(lo_bits);
        ASSERT_EQ(Encode(*f, toward_hi_f), hi_bits) << f->name << " just above tie above " << Hex(lo_bits);
        ASSERT_EQ(Encode(*f, std::nextafter(mid, 0.0)), lo_bits) << f->name << " f64 below tie " << Hex(lo_bits);
        ASSERT_EQ(Encode(*f, std::nextafter(mid, std::copysign(std::numeric_limits<double>::infinity(), mid))),
                  hi_bits)
            << f->name << " f64 above tie " << Hex(lo_bits);
      }
    }
  }
}

// --- Named edge cases ---

TEST(HalfTest, OverflowGoesToInfinity) {
  constexpr float kFloatMax = std::numeric_limits<float>::max();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(FloatToF16(65504.0f), 0x7bff);     // f16 max
  EXPECT_EQ(FloatToF16(65519.996f), 0x7bff);   // below the midpoint to 2^16
  EXPECT_EQ(FloatToF16(65520.0f), 0x7c00);     // the midpoint: ties away from the odd max, to Inf
  EXPECT_EQ(FloatToF16(1e6f), 0x7c00);
  EXPECT_EQ(FloatToF16(-kFloatMax), 0xfc00);
  EXPECT_EQ(FloatToF16(kInf), 0x7c00);
  EXPECT_EQ(FloatToF16(-kInf), 0xfc00);
  EXPECT_EQ(DoubleToF16(1e300), 0x7c00);
  EXPECT_EQ(DoubleToF16(-std::numeric_limits<double>::max()), 0xfc00);
  EXPECT_EQ(DoubleToF16(65519.99999), 0x7bff);

  EXPECT_EQ(FloatToBf16(kFloatMax), 0x7f80);                          // rounds past bf16 max
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x7f7f7fffu)), 0x7f7f);  // stays below the midpoint
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x7f7f8000u)), 0x7f80);  // the midpoint: to even = Inf
  EXPECT_EQ(FloatToBf16(-kInf), 0xff80);
  EXPECT_EQ(DoubleToBf16(1e39), 0x7f80);  // beyond f32 too
  EXPECT_EQ(DoubleToBf16(-1e300), 0xff80);
  EXPECT_EQ(DoubleToBf16(std::numeric_limits<double>::infinity()), 0x7f80);
}

TEST(HalfTest, F16SubnormalBoundary) {
  EXPECT_EQ(FloatToF16(0x1p-24f), 0x0001);                 // smallest subnormal
  EXPECT_EQ(FloatToF16(0x1p-25f), 0x0000);                 // half of it: tie to even 0
  EXPECT_EQ(FloatToF16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToF16(0x1.8p-24f), 0x0002);               // 1.5 units: tie to even 2
  EXPECT_EQ(FloatToF16(0x1p-26f), 0x0000);
  EXPECT_EQ(FloatToF16(-0x1p-26f), 0x8000);                // underflow keeps the sign
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToF16(1023 * 0x1p-24f), 0x03ff);          // largest subnormal
  EXPECT_EQ(FloatToF16(1023.5f * 0x1p-24f), 0x0400);       // tie to even: the smallest normal
  EXPECT_EQ(FloatToF16(0x1p-14f), 0x0400);                 // smallest normal
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(F16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x83ff), -1023 * 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x0400), 0x1p-14f);
  EXPECT_EQ(DoubleToF16(0x1p-25), 0x0000);
  EXPECT_EQ(DoubleToF16(0x1p-25 + 0x1p-70), 0x0001);
  EXPECT_EQ(DoubleToF16(std::numeric_limits<double>::denorm_min()), 0x0000);
  EXPECT_EQ(DoubleToBf16(0x1p-133), 0x0001);               // bf16's smallest subnormal
  EXPECT_EQ(DoubleToBf16(0x1p-134), 0x0000);               // tie to even 0
  EXPECT_EQ(DoubleToBf16(0x1p-134 + 0x1p-180), 0x0001);
}

TEST(HalfTest, NanStaysNanQuietWithItsSign) {
  const float quiet = std::numeric_limits<float>::quiet_NaN();
  const float signaling = std::bit_cast<float>(0x7f800001u);  // payload only in bits f16/bf16 drop
  for (float nan : {quiet, -quiet, signaling, -signaling}) {
    const uint16_t sign = std::signbit(nan) ? 0x8000 : 0;
    EXPECT_EQ(FloatToBf16(nan) & 0x8000, sign);
    EXPECT_TRUE(kBf16.is_quiet_nan(FloatToBf16(nan))) << Hex(FloatToBf16(nan));
    EXPECT_EQ(FloatToF16(nan) & 0x8000, sign);
    EXPECT_TRUE(kF16.is_quiet_nan(FloatToF16(nan))) << Hex(FloatToF16(nan));
    const double wide = std::bit_cast<double>((uint64_t{std::bit_cast<uint32_t>(nan) >> 31} << 63) |
                                              0x7ff0000000000001ull);  // signaling, low payload
    EXPECT_TRUE(kBf16.is_quiet_nan(DoubleToBf16(wide)));
    EXPECT_TRUE(kF16.is_quiet_nan(DoubleToF16(wide)));
    EXPECT_EQ(DoubleToF16(wide) & 0x8000, sign);
  }
}

// f64 → narrow must round once. These values sit just past a narrow midpoint by less than half an
// f32 ulp, so f32 rounds them onto the midpoint and a second rounding goes to even, the wrong way.
TEST(HalfTest, DoubleRoundsDirectlyNotThroughFloat) {
  struct Case {
    const Format* format;
    double x;
    uint16_t want;
  };
  const Case cases[] = {
      {&kBf16, 1 + 0x1p-8 + 0x1p-30, 0x3f81},                    // above the 1 | 1+2^-7 midpoint
      {&kBf16, -(1 + 0x1p-8 + 0x1p-30), 0xbf81},
      {&kBf16, 1 + 3 * 0x1p-8 - 0x1p-30, 0x3f81},                // below the 1+2^-7 | 1+2^-6 midpoint
      {&kBf16, (2 - 0x1p-8 - 0x1p-40) * 0x1p127, 0x7f7f},        // just below overflow's midpoint
      {&kF16, 1 + 0x1p-11 + 0x1p-40, 0x3c01},
      {&kF16, 1 + 3 * 0x1p-11 - 0x1p-40, 0x3c01},
      {&kF16, 65520 - 0x1p-20, 0x7bff},                          // f32 would round to 65520 → Inf
      {&kF16, (0.5 + 0x1p-30) * 0x1p-24, 0x0001},                // subnormal: f32 gives 2^-25 → 0
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Encode(*c.format, c.x), c.want) << c.format->name << " " << c.x;
    ExpectRoundsLikeReference(*c.format, c.x, Encode(*c.format, c.x));
    // The trap the direct rounding avoids.
    EXPECT_NE(Encode(*c.format, static_cast<float>(c.x)), c.want) << c.format->name << " " << c.x;
  }
  // The same through the bulk path.
  for (const Case& c : cases) {
    char out[2];
    EncodeFromState(c.format == &kBf16 ? WireDType::kBF16 : WireDType::kF16, &c.x, 1, out);
    uint16_t got;
    std::memcpy(&got, out, 2);
    EXPECT_EQ(got, c.want);
  }
}

TEST(HalfTest, WireDTypeProperties) {
  EXPECT_EQ(WireDTypeSize(WireDType::kF32), 4);
  EXPECT_EQ(WireDTypeSize(WireDType::kF64), 8);
  EXPECT_EQ(WireDTypeSize(WireDType::kBF16), 2);
  EXPECT_EQ(WireDTypeSize(WireDType::kF16), 2);
  EXPECT_EQ(WireDTypeSize(static_cast<WireDType>(0)), 0);
  EXPECT_EQ(WireDTypeSize(static_cast<WireDType>(9)), 0);
  EXPECT_TRUE(IsValidWireDType(WireDType::kF16));
  EXPECT_FALSE(IsValidWireDType(static_cast<WireDType>(0)));
  EXPECT_FALSE(IsValidWireDType(static_cast<WireDType>(5)));
  EXPECT_EQ(WireDTypeName(WireDType::kBF16), "bf16");
  EXPECT_EQ(WireDTypeName(static_cast<WireDType>(7)), "unknown");
  EXPECT_EQ(WireDTypeOf(DType::kF32), WireDType::kF32);
  EXPECT_EQ(WireDTypeOf(DType::kF64), WireDType::kF64);
  EXPECT_EQ(WireDTypeSize(WireDTypeOf(DType::kF64)), DTypeSize(DType::kF64));
}

}  // namespace
}  // namespace basin
