#ifndef BASIN_CORE_KERNELS_NORMAL_KERNEL_H_
#define BASIN_CORE_KERNELS_NORMAL_KERNEL_H_

#include <cstddef>
#include <cstdint>

namespace basin {

// Everything about one (seed, tick, stream) draw except the block number: the Philox key and the
// three counter words that stay fixed while the block number (counter word 0) runs.
struct PhiloxDraw {
  uint32_t key[2];
  uint32_t stream;
  uint32_t tick_low;
  uint32_t tick_high;
};

// Writes the 4 standard normals of each Philox block in [first_block, first_block + num_blocks)
// to out[0, 4 * num_blocks). Block b's Philox4x32-10 output (u0, u1, u2, u3) gives two Box–Muller
// pairs, (u0, u1) → elements 4b, 4b+1 and (u2, u3) → 4b+2, 4b+3, each computed in f32 by
// ScalarBoxMuller's exact sequence of IEEE operations (no fused multiply-add). That sequence is
// the definition: every SIMD target, and the scalar code, gives the same bits.
void FillNormalBlocks(const PhiloxDraw& draw, uint64_t first_block, size_t num_blocks, float* out);

// One Box–Muller pair from two Philox words, (r·cos θ, r·sin θ):
//   r = sqrt(-2 ln u), u = (float(radius_word >> 1) + 0.5) · 2^-31, so u ∈ [2^-32, 1] and r ≤ 6.67;
//   θ = (octant + (2f + 1) / 2^24) · π/4 from angle_word's top 3 bits (octant) and next 23 (f),
//   evaluated on [0, π/4] with the octant symmetries, so no argument reduction is ever rounded.
// ln, sin and cos are Cephes' single-precision polynomials (relative error ~1e-7). This is the
// reference the vector code is tested against.
void ScalarBoxMuller(uint32_t radius_word, uint32_t angle_word, float* cos_out, float* sin_out);

}  // namespace basin

#endif  // BASIN_CORE_KERNELS_NORMAL_KERNEL_H_
