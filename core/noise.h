#ifndef BASIN_CORE_NOISE_H_
#define BASIN_CORE_NOISE_H_

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace basin {

// Where an optimizer's Gaussian noise comes from. A draw is a pure function of
// (tick, stream, element index): no generator state exists, so the same draws come back whatever
// the thread count, the chunking of a tensor, or a restart from a snapshot. That is what makes a
// replay after a crash bitwise exact.
//
// `stream` separates variables that draw at the same tick (θ and θa in EMCMC get streams 0 and 1).
class NoiseSource {
 public:
  virtual ~NoiseSource() = default;

  // Writes standard normals N(0, 1) for elements [first, first + out.size()) of (tick, stream).
  // Element e gets the same value however the range is split across calls or threads.
  virtual void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<float> out) const = 0;
  virtual void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<double> out) const = 0;
};

// The production source: Philox4x32-10 (Salmon et al., SC'11) keyed by the session seed, with the
// counter (element block, stream, tick low, tick high); each 128-bit output gives four normals by
// two Box–Muller transforms, so element e reads block e / 4, lane e % 4.
class PhiloxNormalNoise final : public NoiseSource {
 public:
  explicit PhiloxNormalNoise(uint64_t seed) : seed_(seed) {}
  uint64_t seed() const { return seed_; }

  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<float> out) const override;
  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<double> out) const override;

 private:
  uint64_t seed_;
};

// Draws given up front per (tick, stream): element e of that tick gets values[e]. For tests that
// check update rules against hand-computed draws, and for experiments with common random numbers.
// A (tick, stream) nobody set yields NaN, so a test that forgot a draw cannot pass by accident.
class PrescribedNoise final : public NoiseSource {
 public:
  void Set(uint64_t tick, uint32_t stream, std::vector<double> values) {
    draws_[{tick, stream}] = std::move(values);
  }

  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<float> out) const override;
  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<double> out) const override;

 private:
  template <typename Real>
  void FillImpl(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<Real> out) const;

  std::map<std::pair<uint64_t, uint32_t>, std::vector<double>> draws_;
};

}  // namespace basin

#endif  // BASIN_CORE_NOISE_H_
