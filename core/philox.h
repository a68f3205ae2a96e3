#ifndef BASIN_CORE_PHILOX_H_
#define BASIN_CORE_PHILOX_H_

// Philox4x32, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel Random
// Numbers: As Easy as 1, 2, 3" (SC'11), bit-compatible with Random123's philox4x32. A counter-based
// generator is a keyed bijection of the counter: there is no state to carry, split or snapshot,
// which is what lets NoiseSource draws be a pure function of (seed, tick, stream, element).

#include <array>
#include <cstdint>

namespace basin {

namespace philox_internal {

// Multipliers and Weyl key increments from the paper (Random123's PHILOX_M4x32_* and
// PHILOX_W32_*). The increments are the fractional parts of the golden ratio and sqrt(3).
inline constexpr uint32_t kMultiplier0 = 0xD2511F53;
inline constexpr uint32_t kMultiplier1 = 0xCD9E8D57;
inline constexpr uint32_t kKeyIncrement0 = 0x9E3779B9;
inline constexpr uint32_t kKeyIncrement1 = 0xBB67AE85;

constexpr std::array<uint32_t, 4> Round(const std::array<uint32_t, 4>& x,
                                        const std::array<uint32_t, 2>& key) {
  const uint64_t product0 = uint64_t{kMultiplier0} * x[0];
  const uint64_t product1 = uint64_t{kMultiplier1} * x[2];
  const auto high = [](uint64_t p) { return static_cast<uint32_t>(p >> 32); };
  const auto low = [](uint64_t p) { return static_cast<uint32_t>(p); };
  return {high(product1) ^ x[1] ^ key[0], low(product1), high(product0) ^ x[3] ^ key[1],
          low(product0)};
}

}  // namespace philox_internal

// Philox4x32 with `kRounds` rounds. Only 10 rounds is used in production (the paper's recommended
// safety margin); other round counts exist so the tests can check Random123's 7-round vectors too.
template <int kRounds>
constexpr std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter,
                                             std::array<uint32_t, 2> key) {
  static_assert(kRounds >= 1);
  counter = philox_internal::Round(counter, key);
  for (int round = 1; round < kRounds; ++round) {
    key[0] += philox_internal::kKeyIncrement0;
    key[1] += philox_internal::kKeyIncrement1;
    counter = philox_internal::Round(counter, key);
  }
  return counter;
}

constexpr std::array<uint32_t, 4> Philox4x32_10(std::array<uint32_t, 4> counter,
                                                std::array<uint32_t, 2> key) {
  return Philox4x32<10>(counter, key);
}

// Maps a uniform uint32 to a uniform double in the open interval (0, 1): the midpoint of the x-th
// of 2^32 equal cells. Never 0, so log() is finite, and never 1, so -log() is positive. Exact in
// double (x + 0.5 needs 33 significant bits), so the result is the same on every IEEE machine.
constexpr double Uint32ToOpenUnitDouble(uint32_t x) {
  return (static_cast<double>(x) + 0.5) * 0x1p-32;
}

}  // namespace basin

#endif  // BASIN_CORE_PHILOX_H_
