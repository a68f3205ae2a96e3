#ifndef BASIN_CORE_HALF_H_
#define BASIN_CORE_HALF_H_

#include <algorithm>
#include <bit>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/dtype.h"

// Conversions between a session's state dtype (f32 or f64) and the element types tensors travel
// in: f32, f64, bfloat16 and IEEE binary16. Decoding is exact. Encoding rounds to nearest, ties to
// even, as IEEE 754 does: overflow goes to ±Inf, ±Inf stays ±Inf, NaN stays NaN (made quiet, sign
// and top payload bits kept), and subnormals of the narrow type are produced exactly. f64 is
// rounded straight to bf16/f16: going through f32 would round twice and can land on the wrong
// neighbour (1 + 2^-8 + 2^-30 would become bf16 1.0 instead of 1 + 2^-7).

namespace basin {

static_assert(std::endian::native == std::endian::little,
              "tensor bytes on the wire are little-endian and read with memcpy");

// Element type of tensor bytes on the wire. The numbers are those of basin.v1.DType (which core
// cannot include), so the service may cast the proto value; anything else is not a WireDType, and
// IsValidWireDType says so. 0 (DTYPE_UNSPECIFIED) is deliberately not one: where the protocol
// allows a default, the service picks it. The underlying type is int32_t, a proto enum's, so that
// an unknown value (proto3 keeps them) cannot wrap onto a valid one when cast.
enum class WireDType : int32_t { kF32 = 1, kF64 = 2, kBF16 = 3, kF16 = 4 };

constexpr bool IsValidWireDType(WireDType d) {
  return d == WireDType::kF32 || d == WireDType::kF64 || d == WireDType::kBF16 || d == WireDType::kF16;
}
// Bytes per element; 0 for a value that is not a WireDType.
constexpr int WireDTypeSize(WireDType d) {
  switch (d) {
    case WireDType::kF32: return 4;
    case WireDType::kF64: return 8;
    case WireDType::kBF16:
    case WireDType::kF16: return 2;
  }
  return 0;
}
// "f32", "f64", "bf16", "f16", or "unknown".
absl::string_view WireDTypeName(WireDType d);
// The wire dtype whose bytes are exactly the state's in memory.
constexpr WireDType WireDTypeOf(DType state) { return state == DType::kF32 ? WireDType::kF32 : WireDType::kF64; }

namespace half_internal {

// v >> s rounded to nearest, ties to even; 1 ≤ s < bit width.
template <typename UInt>
constexpr UInt RoundingShiftRight(UInt v, int s) {
  const UInt quotient = v >> s;
  const UInt remainder = v & ((UInt{1} << s) - 1);
  const UInt half = UInt{1} << (s - 1);
  return quotient + static_cast<UInt>((remainder > half) | ((remainder == half) & (quotient & 1)));
}

// Rounds the IEEE binary value with bits `bits` (kSrcMant mantissa and kSrcExp exponent bits) to
// the 16-bit format with kDstMant/kDstExp bits, in integer arithmetic so that no intermediate
// rounding (and no floating-point environment) is involved. Written as selects, not branches.
template <typename UInt, int kSrcMant, int kSrcExp, int kDstMant, int kDstExp>
constexpr uint16_t NarrowTo16(UInt bits) {
  static_assert(sizeof(UInt) * 8 == 1 + kSrcExp + kSrcMant && 1 + kDstExp + kDstMant == 16);
  static_assert(kSrcMant > kDstMant && kSrcExp >= kDstExp);
  constexpr int kSrcBias = (1 << (kSrcExp - 1)) - 1;
  constexpr int kDstBias = (1 << (kDstExp - 1)) - 1;
  constexpr int kDroppedBits = kSrcMant - kDstMant;  // mantissa bits a normal result loses
  constexpr UInt kSignBit = UInt{1} << (kSrcExp + kSrcMant);
  constexpr UInt kMantMask = (UInt{1} << kSrcMant) - 1;
  constexpr UInt kSrcInf = ((UInt{1} << kSrcExp) - 1) << kSrcMant;
  constexpr UInt kDstInf = UInt{(1u << kDstExp) - 1} << kDstMant;
  constexpr UInt kDstQuietBit = UInt{1} << (kDstMant - 1);
  constexpr UInt kDstMantMask = (UInt{1} << kDstMant) - 1;
  // Biased source exponent of the destination's smallest normal, 2^(1 - kDstBias).
  constexpr int kDstMinNormalExp = kSrcBias + 1 - kDstBias;
  // A subnormal result shifted right further than this is below half the smallest subnormal: 0.
  constexpr int kMaxShift = kSrcMant + 2;

  const uint16_t sign = static_cast<uint16_t>((bits & kSignBit) >> (kSrcExp + kSrcMant - 15));
  const UInt magnitude = bits & ~kSignBit;
  const int exp = static_cast<int>(magnitude >> kSrcMant);  // biased; 0 for zero and subnormals

  // Normal result: move the exponent to the destination's bias and round the mantissa; a carry
  // out of the mantissa correctly bumps the exponent, up to Inf (clamped below, as is every
  // larger exponent).
  // (Wraps harmlessly when the result is subnormal: it is not selected then.)
  const UInt rebiased = magnitude - (UInt{kSrcBias - kDstBias} << kSrcMant);
  // Subnormal result: the full significand, shifted to units of the smallest subnormal.
  const UInt significand = (magnitude & kMantMask) | (static_cast<UInt>(exp != 0) << kSrcMant);
  const int subnormal_shift = std::min(kDroppedBits + kDstMinNormalExp - std::max(exp, 1), kMaxShift);

  const bool to_subnormal = exp < kDstMinNormalExp;
  const UInt rounded = to_subnormal ? RoundingShiftRight(significand, subnormal_shift)
                                    : RoundingShiftRight(rebiased, kDroppedBits);
  const UInt finite = std::min(rounded, kDstInf);
  const UInt nan = kDstInf | kDstQuietBit | ((magnitude >> kDroppedBits) & kDstMantMask);
  return static_cast<uint16_t>(sign | (magnitude > kSrcInf ? nan : finite));
}

}  // namespace half_internal

// --- Decoding (exact) ---

inline float Bf16ToFloat(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

inline float F16ToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  const uint32_t normal = ((exp + (127 - 15)) << 23) | (mant << 13);
  const uint32_t inf_or_nan = 0x7f800000u | (mant << 13);
  // mant · 2^-24 is exact in f32 (10 significant bits, exponent well in range).
  const uint32_t subnormal = std::bit_cast<uint32_t>(static_cast<float>(mant) * 0x1p-24f);
  return std::bit_cast<float>(sign | (exp == 0 ? subnormal : exp == 0x1f ? inf_or_nan : normal));
}

// --- Encoding (round to nearest, ties to even) ---

// The classic bias trick: adding 0x7fff plus the lowest kept bit rounds the dropped 16 bits to
// nearest-even, a carry propagates into the exponent (up to Inf), and Inf is unchanged.
inline uint16_t FloatToBf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t nan = (bits >> 16) | 0x0040u;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

inline uint16_t FloatToF16(float value) {
  return half_internal::NarrowTo16<uint32_t, 23, 8, 10, 5>(std::bit_cast<uint32_t>(value));
}
inline uint16_t DoubleToBf16(double value) {
  return half_internal::NarrowTo16<uint64_t, 52, 11, 7, 8>(std::bit_cast<uint64_t>(value));
}
inline uint16_t DoubleToF16(double value) {
  return half_internal::NarrowTo16<uint64_t, 52, 11, 10, 5>(std::bit_cast<uint64_t>(value));
}

// --- Bulk conversion between wire bytes and state ---
//
// `bytes` holds n little-endian elements of `wire` (n · WireDTypeSize(wire) bytes, any alignment);
// the state side holds n elements. f64 → f32 is the hardware's conversion (round to nearest even
// in the default rounding mode, which basin never changes; overflow gives ±Inf). `wire` must be
// valid (IsValidWireDType); callers validate untrusted input first.

void DecodeToState(WireDType wire, const char* bytes, int64_t n, float* out);
void DecodeToState(WireDType wire, const char* bytes, int64_t n, double* out);
void EncodeFromState(WireDType wire, const float* in, int64_t n, char* out);
void EncodeFromState(WireDType wire, const double* in, int64_t n, char* out);

}  // namespace basin

#endif  // BASIN_CORE_HALF_H_
