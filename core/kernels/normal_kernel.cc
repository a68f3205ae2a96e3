// Philox4x32-10 and the f32 Box–Muller transform in SIMD lanes, compiled once per target and
// picked at run time (Highway's dynamic dispatch). Only exact IEEE operations appear (add, sub,
// mul, sqrt, int→float conversion, bit operations): no fused multiply-add, and the build turns off
// -ffp-contract, so every target computes the bits ScalarBoxMuller does.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/normal_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/kernels/normal_kernel.h"
#include "core/philox.h"

#ifndef BASIN_CORE_KERNELS_NORMAL_KERNEL_CONSTANTS_
#define BASIN_CORE_KERNELS_NORMAL_KERNEL_CONSTANTS_
namespace basin::normal_kernel_internal {

inline constexpr int kRounds = 10;
inline constexpr float kUniformScale = 0x1p-31f;
inline constexpr float kSqrtHalf = 0.707106781186547524f;
// Cephes logf: ln(1 + x) ≈ x − x²/2 + x³·P(x) on [√½ − 1, √2 − 1], and ln 2 split in two parts so
// e·ln 2 adds without rounding error.
inline constexpr float kLogP[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                                   -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                                   2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
inline constexpr float kLn2Low = -2.12194440E-4f;
inline constexpr float kLn2High = 0.693359375f;
// Cephes sinf/cosf on [0, π/4].
inline constexpr float kSinP[3] = {-1.9515295891E-4f, 8.3321608736E-3f, -1.6666654611E-1f};
inline constexpr float kCosP[3] = {2.443315711809948E-5f, -1.388731625493765E-3f,
                                   4.166664568298827E-2f};
// π/4 · 2^-24: the angle of one step of 2f + 1 within an octant (a power-of-two scaling, exact).
inline constexpr float kOctantStep = static_cast<float>(0.78539816339744830962 / 16777216.0);
inline constexpr uint32_t kFractionMask = 0x7FFFFF;
inline constexpr uint32_t kOddOctant = 1u << 29;
inline constexpr uint32_t kSignBit = 1u << 31;

}  // namespace basin::normal_kernel_internal
#endif

HWY_BEFORE_NAMESPACE();
namespace basin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace normal_kernel_internal;  // NOLINT: the constants above, in every target

#if HWY_TARGET != HWY_SCALAR
// -2·ln(u) for u = (float(word >> 1) + 0.5) · 2^-31.
template <class DF, class VU>
HWY_INLINE hn::Vec<DF> MinusTwoLogUniform(DF df, VU word) {
  const hn::RebindToSigned<DF> di;
  const hn::RebindToUnsigned<DF> du;
  const auto u = hn::Mul(hn::Add(hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<1>(word))), hn::Set(df, 0.5f)),
                         hn::Set(df, kUniformScale));
  // u = m · 2^e with m ∈ [0.5, 1); u ≥ 2^-32 is normal, so the exponent field is the exponent.
  const auto bits = hn::BitCast(du, u);
  auto e = hn::Sub(hn::BitCast(di, hn::ShiftRight<23>(bits)), hn::Set(di, 126));
  const auto m = hn::BitCast(df, hn::Or(hn::And(bits, hn::Set(du, 0x807FFFFFu)), hn::Set(du, 0x3F000000u)));
  const auto small = hn::Lt(m, hn::Set(df, kSqrtHalf));
  const auto one = hn::Set(df, 1.0f);
  e = hn::IfThenElse(hn::RebindMask(di, small), hn::Sub(e, hn::Set(di, 1)), e);
  const auto x = hn::IfThenElse(small, hn::Sub(hn::Add(m, m), one), hn::Sub(m, one));
  const auto z = hn::Mul(x, x);
  auto y = hn::Set(df, kLogP[0]);
  for (int k = 1; k < 9; ++k) y = hn::Add(hn::Mul(y, x), hn::Set(df, kLogP[k]));
  y = hn::Mul(hn::Mul(y, x), z);
  const auto fe = hn::ConvertTo(df, e);
  y = hn::Add(y, hn::Mul(fe, hn::Set(df, kLn2Low)));
  y = hn::Sub(y, hn::Mul(hn::Set(df, 0.5f), z));
  const auto ln = hn::Add(hn::Add(x, y), hn::Mul(fe, hn::Set(df, kLn2High)));
  return hn::Mul(hn::Set(df, -2.0f), ln);
}

// (r·cos θ, r·sin θ) for the words of one Box–Muller pair per lane, as ScalarBoxMuller defines.
template <class DF, class VU>
HWY_INLINE void BoxMuller(DF df, VU radius_word, VU angle_word, hn::Vec<DF>& cos_out, hn::Vec<DF>& sin_out) {
  const hn::RebindToSigned<DF> di;
  const hn::RebindToUnsigned<DF> du;
  const auto r = hn::Sqrt(MinusTwoLogUniform(df, radius_word));

  const auto odd_octant = hn::TestBit(angle_word, hn::Set(du, kOddOctant));
  auto f = hn::And(hn::ShiftRight<6>(angle_word), hn::Set(du, kFractionMask));
  f = hn::IfThenElse(odd_octant, hn::Sub(hn::Set(du, kFractionMask), f), f);
  const auto phi = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, hn::Add(hn::Add(f, f), hn::Set(du, 1u)))),
                           hn::Set(df, kOctantStep));
  const auto z = hn::Mul(phi, phi);
  auto s = hn::Add(hn::Mul(hn::Set(df, kSinP[0]), z), hn::Set(df, kSinP[1]));
  s = hn::Add(hn::Mul(s, z), hn::Set(df, kSinP[2]));
  s = hn::Add(hn::Mul(hn::Mul(s, z), phi), phi);
  auto c = hn::Add(hn::Mul(hn::Set(df, kCosP[0]), z), hn::Set(df, kCosP[1]));
  c = hn::Add(hn::Mul(c, z), hn::Set(df, kCosP[2]));
  c = hn::Mul(hn::Mul(c, z), z);
  c = hn::Sub(c, hn::Mul(hn::Set(df, 0.5f), z));
  c = hn::Add(c, hn::Set(df, 1.0f));

  // Bit 29 is the odd octant, bit 30 the odd quadrant: each swaps cos and sin. The quadrant
  // (bits 31, 30) gives the signs: cos < 0 in quadrants 1 and 2, sin < 0 in quadrants 2 and 3.
  const auto flips = hn::Xor(angle_word, hn::ShiftLeft<1>(angle_word));
  const auto swap = hn::RebindMask(df, hn::TestBit(flips, hn::Set(du, kOddOctant << 1)));
  const auto cos_sign = hn::BitCast(df, hn::And(flips, hn::Set(du, kSignBit)));
  const auto sin_sign = hn::BitCast(df, hn::And(angle_word, hn::Set(du, kSignBit)));
  cos_out = hn::Mul(r, hn::Xor(hn::IfThenElse(swap, s, c), cos_sign));
  sin_out = hn::Mul(r, hn::Xor(hn::IfThenElse(swap, c, s), sin_sign));
}

// Round keys as vectors, made once per fill rather than once per block group.
template <class D64>
struct PhiloxKeys {
  hn::Vec<D64> k0[kRounds];
  hn::Vec<D64> k1[kRounds];
};

template <class D64>
HWY_INLINE PhiloxKeys<D64> MakePhiloxKeys(D64 d64, const PhiloxDraw& draw) {
  PhiloxKeys<D64> keys;
  uint32_t k0 = draw.key[0], k1 = draw.key[1];
  for (int round = 0; round < kRounds; ++round) {
    keys.k0[round] = hn::Set(d64, uint64_t{k0});
    keys.k1[round] = hn::Set(d64, uint64_t{k1});
    k0 += philox_internal::kKeyIncrement0;
    k1 += philox_internal::kKeyIncrement1;
  }
  return keys;
}

// Philox4x32-10 over kGroups·Lanes(d64) consecutive blocks, one block per u64 lane holding a
// 32-bit word in its low half: MulEven then gives each block's full 64-bit products. Upper halves
// collect garbage that MulEven ignores; only low halves are read at the end. A round is a chain of
// dependent multiplies, so several groups go through each round together to keep the multipliers
// busy.
template <int kGroups, class D64>
HWY_INLINE void PhiloxBlocks(D64 d64, const PhiloxDraw& draw, const PhiloxKeys<D64>& keys, uint64_t first_block,
                             hn::Vec<D64> (&x)[kGroups][4]) {
  const hn::Repartition<uint32_t, D64> d32;
  const uint64_t lanes = hn::Lanes(d64);
  for (int g = 0; g < kGroups; ++g) {
    x[g][0] = hn::Iota(d64, first_block + g * lanes);
    x[g][1] = hn::Set(d64, uint64_t{draw.stream});
    x[g][2] = hn::Set(d64, uint64_t{draw.tick_low});
    x[g][3] = hn::Set(d64, uint64_t{draw.tick_high});
  }
  const auto m0 = hn::BitCast(d32, hn::Set(d64, uint64_t{philox_internal::kMultiplier0}));
  const auto m1 = hn::BitCast(d32, hn::Set(d64, uint64_t{philox_internal::kMultiplier1}));
  for (int round = 0; round < kRounds; ++round) {
    for (int g = 0; g < kGroups; ++g) {
      const auto p0 = hn::MulEven(hn::BitCast(d32, x[g][0]), m0);
      const auto p1 = hn::MulEven(hn::BitCast(d32, x[g][2]), m1);
      x[g][0] = hn::Xor(hn::Xor(hn::ShiftRight<32>(p1), x[g][1]), keys.k0[round]);
      x[g][1] = p1;
      x[g][2] = hn::Xor(hn::Xor(hn::ShiftRight<32>(p0), x[g][3]), keys.k1[round]);
      x[g][3] = p0;
    }
  }
}

// The normals of kGroups·Lanes(d64) consecutive blocks, in element order, to out.
template <int kGroups, class D64>
HWY_INLINE void NormalsOfBlocks(D64 d64, const PhiloxDraw& draw, const PhiloxKeys<D64>& keys, uint64_t first_block,
                                float* HWY_RESTRICT out) {
  const hn::Repartition<uint32_t, D64> d32;
  const hn::Repartition<float, D64> df;
  hn::Vec<D64> words[kGroups][4];
  PhiloxBlocks<kGroups>(d64, draw, keys, first_block, words);
  for (int g = 0; g < kGroups; ++g) {
    // u32 lane 2k holds block k's (u0, u1) pair and lane 2k+1 its (u2, u3) pair, so interleaving
    // the cosines and sines gives the element order 4k, 4k+1, 4k+2, 4k+3.
    const auto radius_words =
        hn::OddEven(hn::BitCast(d32, hn::ShiftLeft<32>(words[g][2])), hn::BitCast(d32, words[g][0]));
    const auto angle_words =
        hn::OddEven(hn::BitCast(d32, hn::ShiftLeft<32>(words[g][3])), hn::BitCast(d32, words[g][1]));
    hn::Vec<decltype(df)> c, s;
    BoxMuller(df, radius_words, angle_words, c, s);
    hn::StoreInterleaved2(c, s, df, out + 4 * g * hn::Lanes(d64));
  }
}

#endif  // HWY_TARGET != HWY_SCALAR

#if HWY_TARGET == HWY_SCALAR
// One-lane vectors cannot hold a u64 block as two u32 words; the fallback for CPUs without any
// SIMD target runs the scalar definition itself.
void FillNormalBlocks(const PhiloxDraw& draw, uint64_t first_block, size_t num_blocks, float* HWY_RESTRICT out) {
  for (size_t b = 0; b < num_blocks; ++b) {
    const std::array<uint32_t, 4> u = Philox4x32_10(
        {static_cast<uint32_t>(first_block + b), draw.stream, draw.tick_low, draw.tick_high}, {draw.key[0], draw.key[1]});
    ScalarBoxMuller(u[0], u[1], &out[4 * b], &out[4 * b + 1]);
    ScalarBoxMuller(u[2], u[3], &out[4 * b + 2], &out[4 * b + 3]);
  }
}
#else
void FillNormalBlocks(const PhiloxDraw& draw, uint64_t first_block, size_t num_blocks, float* HWY_RESTRICT out) {
  constexpr int kGroups = 4;
  using D64 = hn::ScalableTag<uint64_t>;
  const D64 d64;
  const PhiloxKeys<D64> keys = MakePhiloxKeys(d64, draw);
  const size_t lanes = hn::Lanes(d64);
  size_t b = 0;
  for (; b + kGroups * lanes <= num_blocks; b += kGroups * lanes) {
    NormalsOfBlocks<kGroups>(d64, draw, keys, first_block + b, out + 4 * b);
  }
  for (; b < num_blocks; b += lanes) {
    HWY_ALIGN float group[4 * HWY_MAX_BYTES / sizeof(uint64_t)];
    NormalsOfBlocks<1>(d64, draw, keys, first_block + b, group);
    std::memcpy(out + 4 * b, group, 4 * std::min(lanes, num_blocks - b) * sizeof(float));
  }
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace basin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace basin {

HWY_EXPORT(FillNormalBlocks);

void FillNormalBlocks(const PhiloxDraw& draw, uint64_t first_block, size_t num_blocks, float* out) {
  HWY_DYNAMIC_DISPATCH(FillNormalBlocks)(draw, first_block, num_blocks, out);
}

void ScalarBoxMuller(uint32_t radius_word, uint32_t angle_word, float* cos_out, float* sin_out) {
  using namespace normal_kernel_internal;  // NOLINT
  const float u = (static_cast<float>(static_cast<int32_t>(radius_word >> 1)) + 0.5f) * kUniformScale;
  uint32_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  int32_t e = static_cast<int32_t>(bits >> 23) - 126;
  const uint32_t m_bits = (bits & 0x807FFFFFu) | 0x3F000000u;
  float m;
  std::memcpy(&m, &m_bits, sizeof m);
  float x;
  if (m < kSqrtHalf) {
    e -= 1;
    x = (m + m) - 1.0f;
  } else {
    x = m - 1.0f;
  }
  const float z = x * x;
  float y = kLogP[0];
  for (int k = 1; k < 9; ++k) y = y * x + kLogP[k];
  y = (y * x) * z;
  const float fe = static_cast<float>(e);
  y = y + fe * kLn2Low;
  y = y - 0.5f * z;
  const float ln = (x + y) + fe * kLn2High;
  const float r = std::sqrt(-2.0f * ln);

  const bool odd_octant = (angle_word & kOddOctant) != 0;
  uint32_t f = (angle_word >> 6) & kFractionMask;
  if (odd_octant) f = kFractionMask - f;
  const float phi = static_cast<float>(static_cast<int32_t>(f + f + 1u)) * kOctantStep;
  const float phi2 = phi * phi;
  float s = kSinP[0] * phi2 + kSinP[1];
  s = s * phi2 + kSinP[2];
  s = (s * phi2) * phi + phi;
  float c = kCosP[0] * phi2 + kCosP[1];
  c = c * phi2 + kCosP[2];
  c = (c * phi2) * phi2;
  c = c - 0.5f * phi2;
  c = c + 1.0f;

  const uint32_t flips = angle_word ^ (angle_word << 1);
  const bool swap = (flips & (kOddOctant << 1)) != 0;
  const auto with_sign = [](float v, uint32_t sign) {
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    b ^= sign;
    std::memcpy(&v, &b, sizeof v);
    return v;
  };
  *cos_out = r * with_sign(swap ? s : c, flips & kSignBit);
  *sin_out = r * with_sign(swap ? c : s, angle_word & kSignBit);
}

}  // namespace basin
#endif
