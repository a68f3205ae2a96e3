#include "core/noise.h"

#include <array>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "absl/types/span.h"
#include "core/philox.h"

namespace basin {
namespace {

// Element e of a draw lives in block e / 4, and the block is one 32-bit counter word, so a draw has
// 2^34 elements: the same bound as ParameterLayout::kMaxElements. Past it blocks would wrap and
// repeat earlier draws.
[[maybe_unused]] constexpr uint64_t kMaxElements = uint64_t{4} << 32;  // only asserted

// Everything about a (seed, tick, stream) draw except the block number, hoisted out of the loop.
struct DrawCoordinates {
  std::array<uint32_t, 2> key;
  uint32_t stream;
  uint32_t tick_low;
  uint32_t tick_high;
};

DrawCoordinates MakeDrawCoordinates(uint64_t seed, uint64_t tick, uint32_t stream) {
  return {.key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
          .stream = stream,
          .tick_low = static_cast<uint32_t>(tick),
          .tick_high = static_cast<uint32_t>(tick >> 32)};
}

// The four normals of one block: two Box–Muller transforms over the block's Philox output, as
// documented in noise.h. Computed in double whatever the output type, so f32 and f64 sessions see
// the same draws up to the final rounding.
std::array<double, 4> NormalsOfBlock(const DrawCoordinates& draw, uint32_t block) {
  const std::array<uint32_t, 4> bits =
      Philox4x32_10({block, draw.stream, draw.tick_low, draw.tick_high}, draw.key);
  constexpr double kTwoPi = 2.0 * std::numbers::pi;
  const double radius0 = std::sqrt(-2.0 * std::log(Uint32ToOpenUnitDouble(bits[0])));
  const double angle0 = kTwoPi * Uint32ToOpenUnitDouble(bits[1]);
  const double radius1 = std::sqrt(-2.0 * std::log(Uint32ToOpenUnitDouble(bits[2])));
  const double angle1 = kTwoPi * Uint32ToOpenUnitDouble(bits[3]);
  return {radius0 * std::cos(angle0), radius0 * std::sin(angle0), radius1 * std::cos(angle1),
          radius1 * std::sin(angle1)};
}

// Head (partial block), whole blocks, tail (partial block). Each element's value depends only on
// its own index, so any split of a range gives the same bits. The whole-block loop is the one to
// vectorize.
template <typename Real>
void FillPhiloxNormals(uint64_t seed, uint64_t tick, uint32_t stream, uint64_t first,
                       absl::Span<Real> out) {
  assert(out.size() <= kMaxElements && first <= kMaxElements - out.size());
  const DrawCoordinates draw = MakeDrawCoordinates(seed, tick, stream);
  const size_t size = out.size();
  size_t i = 0;

  if (const uint64_t head_lane = first % 4; head_lane != 0 && size > 0) {
    const std::array<double, 4> normals = NormalsOfBlock(draw, static_cast<uint32_t>(first / 4));
    for (uint64_t lane = head_lane; lane < 4 && i < size; ++lane) {
      out[i++] = static_cast<Real>(normals[lane]);
    }
  }

  // From here first + i is a multiple of 4 (or the range is used up).
  for (; size - i >= 4; i += 4) {
    const std::array<double, 4> normals =
        NormalsOfBlock(draw, static_cast<uint32_t>((first + i) / 4));
    for (int lane = 0; lane < 4; ++lane) out[i + lane] = static_cast<Real>(normals[lane]);
  }

  if (i < size) {
    const std::array<double, 4> normals =
        NormalsOfBlock(draw, static_cast<uint32_t>((first + i) / 4));
    for (int lane = 0; i < size; ++lane) out[i++] = static_cast<Real>(normals[lane]);
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
