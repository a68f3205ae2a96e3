#include "core/noise.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/types/span.h"
#include "core/kernels/normal_kernel.h"

namespace basin {
namespace {

// Element e of a draw lives in block e / 4, and the block is one 32-bit counter word, so a draw has
// 2^34 elements: the same bound as ParameterLayout::kMaxElements. Past it blocks would wrap and
// repeat earlier draws.
[[maybe_unused]] constexpr uint64_t kMaxElements = uint64_t{4} << 32;  // only asserted

PhiloxDraw MakePhiloxDraw(uint64_t seed, uint64_t tick, uint32_t stream) {
  return {.key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
          .stream = stream,
          .tick_low = static_cast<uint32_t>(tick),
          .tick_high = static_cast<uint32_t>(tick >> 32)};
}

// Whole blocks go straight into `out` (f32) or through a stack buffer that stays in L1 (f64, and
// the partial blocks at either end). Each element's value depends only on its own index, so any
// split of a range gives the same bits; f64 draws are the f32 draws widened, so f32 and f64
// sessions with the same seed get the same noise.
template <typename Real>
void FillPhiloxNormals(uint64_t seed, uint64_t tick, uint32_t stream, uint64_t first,
                       absl::Span<Real> out) {
  assert(out.size() <= kMaxElements && first <= kMaxElements - out.size());
  const PhiloxDraw draw = MakePhiloxDraw(seed, tick, stream);
  constexpr size_t kStagingBlocks = 256;
  alignas(64) float staging[4 * kStagingBlocks];
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t element = first + i;
    const uint64_t lane = element % 4;
    const size_t wanted = out.size() - i;
    if constexpr (std::is_same_v<Real, float>) {
      if (lane == 0 && wanted >= 4) {
        const size_t blocks = wanted / 4;
        FillNormalBlocks(draw, element / 4, blocks, out.data() + i);
        i += 4 * blocks;
        continue;
      }
    }
    const size_t blocks = std::min(kStagingBlocks, (lane + wanted + 3) / 4);
    FillNormalBlocks(draw, element / 4, blocks, staging);
    const size_t take = std::min(wanted, 4 * blocks - lane);
    for (size_t k = 0; k < take; ++k) out[i + k] = static_cast<Real>(staging[lane + k]);
    i += take;
  }
}

}  // namespace

void PhiloxNormalNoise::Fill(uint64_t tick, uint32_t stream, uint64_t first,
                             absl::Span<float> out) const {
  FillPhiloxNormals(seed_, tick, stream, first, out);
}

void PhiloxNormalNoise::Fill(uint64_t tick, uint32_t stream, uint64_t first,
                             absl::Span<double> out) const {
  FillPhiloxNormals(seed_, tick, stream, first, out);
}

// Elements past the end of the prescribed values are NaN for the same reason an unset (tick,
// stream) is: a test that prescribed too few draws must not pass on whatever happened to be there.
template <typename Real>
void PrescribedNoise::FillImpl(uint64_t tick, uint32_t stream, uint64_t first,
                               absl::Span<Real> out) const {
  const auto it = draws_.find({tick, stream});
  const std::vector<double>* values = it == draws_.end() ? nullptr : &it->second;
  for (size_t i = 0; i < out.size(); ++i) {
    const uint64_t element = first + i;
    out[i] = values != nullptr && element < values->size() ? static_cast<Real>((*values)[element])
                                                           : std::numeric_limits<Real>::quiet_NaN();
  }
}

void PrescribedNoise::Fill(uint64_t tick, uint32_t stream, uint64_t first,
                           absl::Span<float> out) const {
  FillImpl(tick, stream, first, out);
}

void PrescribedNoise::Fill(uint64_t tick, uint32_t stream, uint64_t first,
                           absl::Span<double> out) const {
  FillImpl(tick, stream, first, out);
}

}  // namespace basin
