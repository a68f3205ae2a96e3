#include "core/noise.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "core/kernels/normal_kernel.h"
#include "core/philox.h"
#include "hwy/targets.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

template <typename Real>
std::vector<Real> Draw(const NoiseSource& noise, uint64_t tick, uint32_t stream, uint64_t first,
                       size_t size) {
  std::vector<Real> out(size);
  noise.Fill(tick, stream, first, absl::MakeSpan(out));
  return out;
}

template <typename Real>
bool BitwiseEqual(const std::vector<Real>& a, const std::vector<Real>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Real)) == 0;
}

struct Moments {
  double mean;
  double variance;
  double skewness;
  double excess_kurtosis;
};

template <typename Real>
Moments ComputeMoments(const std::vector<Real>& x) {
  const double n = static_cast<double>(x.size());
  double sum = 0;
  for (Real v : x) sum += v;
  const double mean = sum / n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (Real v : x) {
    const double d = v - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return {mean, m2, m3 / std::pow(m2, 1.5), m4 / (m2 * m2) - 3.0};
}

double StandardNormalCdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

// Kolmogorov–Smirnov statistic of the sample against N(0, 1).
template <typename Real>
double KolmogorovSmirnov(std::vector<Real> x) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double cdf = StandardNormalCdf(x[i]);
    d = std::max({d, (i + 1) / n - cdf, cdf - i / n});
  }
  return d;
}

template <typename Real>
double Correlation(const std::vector<Real>& a, const std::vector<Real>& b) {
  const double n = static_cast<double>(a.size());
  double sa = 0, sb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sb += b[i];
  }
  const double ma = sa / n, mb = sb / n;
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) * (a[i] - ma);
    vb += (b[i] - mb) * (b[i] - mb);
  }
  return cov / std::sqrt(va * vb);
}

struct TickStream {
  uint64_t tick;
  uint32_t stream;
};

// Several (tick, stream) draws concatenated, 2^20 normals in all.
template <typename Real>
std::vector<Real> ManyNormals(uint64_t seed) {
  const PhiloxNormalNoise noise(seed);
  constexpr size_t kPerDraw = size_t{1} << 18;
  std::vector<Real> all;
  for (TickStream d : {TickStream{0, 0}, TickStream{1, 0}, TickStream{1, 1},
                       TickStream{(uint64_t{1} << 32) + 3, 7}}) {
    const std::vector<Real> draw = Draw<Real>(noise, d.tick, d.stream, 0, kPerDraw);
    all.insert(all.end(), draw.begin(), draw.end());
  }
  return all;
}

template <typename Real>
void ExpectStandardNormal(const std::vector<Real>& x) {
  const double n = static_cast<double>(x.size());
  ASSERT_GE(n, 1e6);
  for (Real v : x) {
    // Box–Muller over uniforms no smaller than 2^-32 cannot exceed sqrt(2 ln 2^32) ≈ 6.66;
    // a uniform that reached 0 would show up as infinity here.
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_LT(std::abs(v), 6.8);
  }
  const Moments m = ComputeMoments(x);
  EXPECT_LT(std::abs(m.mean), 5.0 / std::sqrt(n));
  EXPECT_NEAR(m.variance, 1.0, 0.01);
  // Standard errors are sqrt(6 / n) ≈ 0.0024 and sqrt(24 / n) ≈ 0.0049: these are ~8 sigma.
  EXPECT_LT(std::abs(m.skewness), 0.02);
  EXPECT_LT(std::abs(m.excess_kurtosis), 0.04);
  // The critical value at alpha ≈ 0.001.
  EXPECT_LT(KolmogorovSmirnov(x), 1.95 / std::sqrt(n));
}

TEST(PhiloxNormalNoiseTest, DoublesAreStandardNormal) {
  ExpectStandardNormal(ManyNormals<double>(0x5eed));
}

TEST(PhiloxNormalNoiseTest, FloatsAreStandardNormal) {
  ExpectStandardNormal(ManyNormals<float>(0xf10a7));
}

// Each lane of a block is its own normal and the lanes are independent: pooled statistics would
// not notice, say, lane 1 repeating lane 0's angle with cos in place of sin.
TEST(PhiloxNormalNoiseTest, LanesOfABlockAreIndependentNormals) {
  const std::vector<double> x = Draw<double>(PhiloxNormalNoise(99), 3, 0, 0, size_t{1} << 20);
  std::array<std::vector<double>, 4> lanes;
  for (size_t i = 0; i < x.size(); ++i) lanes[i % 4].push_back(x[i]);
  const double n = static_cast<double>(lanes[0].size());
  for (int lane = 0; lane < 4; ++lane) {
    const Moments m = ComputeMoments(lanes[lane]);
    EXPECT_LT(std::abs(m.mean), 5.0 / std::sqrt(n)) << "lane " << lane;
    EXPECT_NEAR(m.variance, 1.0, 0.02) << "lane " << lane;
    EXPECT_LT(KolmogorovSmirnov(lanes[lane]), 1.95 / std::sqrt(n)) << "lane " << lane;
    for (int other = lane + 1; other < 4; ++other) {
      // Standard error 1 / sqrt(n) ≈ 0.002.
      EXPECT_LT(std::abs(Correlation(lanes[lane], lanes[other])), 0.01)
          << "lanes " << lane << ", " << other;
    }
  }
  // Box–Muller pairs share a radius, so their squares are dependent unless both transforms are
  // right: for independent normals corr(x0², x1²) = 0.
  std::array<std::vector<double>, 2> squares;
  for (size_t b = 0; b < lanes[0].size(); ++b) {
    squares[0].push_back(lanes[0][b] * lanes[0][b]);
    squares[1].push_back(lanes[1][b] * lanes[1][b]);
  }
  EXPECT_LT(std::abs(Correlation(squares[0], squares[1])), 0.01);
}

// Recomputes draws straight from the mapping documented in noise.h: key (seed low, seed high),
// counter (element / 4, stream, tick low, tick high), lane element % 4 of two Box–Muller pairs,
// each pair by the scalar definition of the transform.
float DocumentedNormal(uint64_t seed, uint64_t tick, uint32_t stream, uint64_t element) {
  const std::array<uint32_t, 4> u =
      Philox4x32_10({static_cast<uint32_t>(element / 4), stream, static_cast<uint32_t>(tick),
                     static_cast<uint32_t>(tick >> 32)},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  const int lane = static_cast<int>(element % 4);
  float c, s;
  ScalarBoxMuller(lane < 2 ? u[0] : u[2], lane < 2 ? u[1] : u[3], &c, &s);
  return lane % 2 == 0 ? c : s;
}

TEST(PhiloxNormalNoiseTest, FollowsTheDocumentedCounterMapping) {
  const uint64_t seed = 0x0123456789abcdef;
  const uint64_t tick = (uint64_t{1} << 32) + 7;
  const uint32_t stream = 3;
  const uint64_t first = 4000001;
  const std::vector<float> got = Draw<float>(PhiloxNormalNoise(seed), tick, stream, first, 4099);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], DocumentedNormal(seed, tick, stream, first + i)) << "element " << first + i;
  }
}

// Every SIMD target this binary carries (SSE4, AVX2, AVX-512, ... and the portable fallback),
// forced in turn, gives the bits of the scalar definition: a session's noise does not depend on
// the machine it runs on.
TEST(PhiloxNormalNoiseTest, EveryCompiledTargetGivesTheSameBits) {
  const uint64_t seed = 0xfeedface, tick = 3;
  const uint32_t stream = 1;
  const uint64_t first = 6;
  std::vector<float> expected(70001);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = DocumentedNormal(seed, tick, stream, first + i);
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets;
    const std::vector<float> got = Draw<float>(PhiloxNormalNoise(seed), tick, stream, first, expected.size());
    EXPECT_TRUE(BitwiseEqual(expected, got)) << hwy::TargetName(target);
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(targets, 1);
}

// f64 sessions get the f32 draws widened, so the two dtypes see the same noise.
TEST(PhiloxNormalNoiseTest, DoublesAreTheFloatsWidened) {
  const PhiloxNormalNoise noise(12);
  const std::vector<float> f = Draw<float>(noise, 4, 0, 3, 1001);
  const std::vector<double> d = Draw<double>(noise, 4, 0, 3, 1001);
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(static_cast<double>(f[i]), d[i]) << "element " << i;
}

// Pinned draws. Changing any of these changes every session's noise, so snapshots and recorded
// runs taken before the change no longer replay (the transform changed once, from double-precision
// libm Box–Muller to the f32 polynomial one; docs/benchmarks.md says why). Values from an
// independent Python model (Philox in Python integers, the transform in numpy float32 steps).
TEST(PhiloxNormalNoiseTest, PinnedValuesNeverChange) {
  struct Pinned {
    uint64_t seed, tick;
    uint32_t stream;
    uint64_t element;
    float value;
  };
  const Pinned pinned[] = {
      {0, 0, 0, 0, 0.991137683391571f},
      {0, 0, 0, 1, -0.9246625304222107f},
      {0, 0, 0, 2, -0.6176089644432068f},
      {0, 0, 0, 3, -0.48206859827041626f},
      {0x0123456789abcdef, (uint64_t{1} << 32) + 7, 3, 4 * 1000003 + 2, -1.2424522638320923f},
      {42, 5, 1, 17, 0.26391616463661194f},
      {7, 1, 0, 4 * ((uint64_t{1} << 32) - 1) + 3, -2.5189807415008545f},
  };
  for (const Pinned& p : pinned) {
    const std::vector<float> got = Draw<float>(PhiloxNormalNoise(p.seed), p.tick, p.stream, p.element, 1);
    EXPECT_EQ(got[0], p.value) << "seed " << p.seed << " tick " << p.tick << " stream " << p.stream
                               << " element " << p.element;
  }
}

template <typename Real>
std::vector<Real> FillInChunks(const NoiseSource& noise, uint64_t tick, uint32_t stream,
                               uint64_t first, size_t size, size_t chunk) {
  std::vector<Real> out(size);
  for (size_t begin = 0; begin < size; begin += chunk) {
    const size_t length = std::min(chunk, size - begin);
    noise.Fill(tick, stream, first + begin, absl::MakeSpan(out).subspan(begin, length));
  }
  return out;
}

template <typename Real>
void ExpectSplitInvariant() {
  const PhiloxNormalNoise noise(77);
  const uint64_t tick = 12, first = 5;
  const uint32_t stream = 1;
  const size_t size = 10007;
  const std::vector<Real> whole = Draw<Real>(noise, tick, stream, first, size);

  for (size_t chunk : {1, 2, 3, 4, 5, 7, 1000}) {
    EXPECT_TRUE(BitwiseEqual(whole, FillInChunks<Real>(noise, tick, stream, first, size, chunk)))
        << "chunk " << chunk;
  }

  // Sub-ranges starting at every lane and ending at every lane.
  for (size_t offset : {1, 2, 3, 4, 6, 9, 333, 4097}) {
    for (size_t length : {1, 2, 3, 4, 5, 8, 11, 1001}) {
      const std::vector<Real> part = Draw<Real>(noise, tick, stream, first + offset, length);
      const std::vector<Real> expected(whole.begin() + offset, whole.begin() + offset + length);
      EXPECT_TRUE(BitwiseEqual(expected, part)) << "offset " << offset << " length " << length;
    }
  }

  // Four threads on disjoint, deliberately unaligned sub-ranges of one buffer.
  std::vector<Real> threaded(size);
  const std::array<size_t, 5> bounds = {0, 1001, 2502, 7777, size};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      noise.Fill(tick, stream, first + bounds[t],
                 absl::MakeSpan(threaded).subspan(bounds[t], bounds[t + 1] - bounds[t]));
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(BitwiseEqual(whole, threaded));
}

TEST(PhiloxNormalNoiseTest, DoubleValuesDoNotDependOnTheSplit) { ExpectSplitInvariant<double>(); }

TEST(PhiloxNormalNoiseTest, FloatValuesDoNotDependOnTheSplit) { ExpectSplitInvariant<float>(); }

TEST(PhiloxNormalNoiseTest, EmptyFillWritesNothing) {
  const PhiloxNormalNoise noise(1);
  std::vector<double> untouched = {42.0};
  noise.Fill(0, 0, 3, absl::MakeSpan(untouched).subspan(0, 0));
  EXPECT_EQ(untouched[0], 42.0);
}

TEST(PhiloxNormalNoiseTest, FloatIsTheRoundedDouble) {
  const PhiloxNormalNoise noise(0xabcdef0123456789);
  for (TickStream d : {TickStream{0, 0}, TickStream{9, 2}, TickStream{uint64_t{1} << 40, 5}}) {
    const uint64_t first = 3;
    const std::vector<double> doubles = Draw<double>(noise, d.tick, d.stream, first, 100003);
    const std::vector<float> floats = Draw<float>(noise, d.tick, d.stream, first, 100003);
    std::vector<float> rounded(doubles.size());
    std::transform(doubles.begin(), doubles.end(), rounded.begin(),
                   [](double v) { return static_cast<float>(v); });
    EXPECT_TRUE(BitwiseEqual(rounded, floats)) << "tick " << d.tick << " stream " << d.stream;
  }
}

// Two draws that should be unrelated: uncorrelated over 10^5 elements (standard error ≈ 0.003)
// and sharing no values at all.
void ExpectUnrelated(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_LT(std::abs(Correlation(a, b)), 0.01);
  size_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  EXPECT_EQ(equal, 0u);
}

constexpr size_t kCorrelationSize = 100000;

TEST(PhiloxNormalNoiseTest, TicksGiveUnrelatedDraws) {
  const PhiloxNormalNoise noise(5);
  const auto draw = [&](uint64_t tick) {
    return Draw<double>(noise, tick, 0, 0, kCorrelationSize);
  };
  ExpectUnrelated(draw(0), draw(1));
  ExpectUnrelated(draw(1), draw(2));
  // The tick's high word is part of the counter: ticks past 2^32 do not wrap onto earlier ones.
  const uint64_t two_to_32 = uint64_t{1} << 32;
  ExpectUnrelated(draw(5), draw(two_to_32 + 5));
  ExpectUnrelated(draw(0), draw(two_to_32));
  ExpectUnrelated(draw(two_to_32), draw(two_to_32 + 1));
  ExpectUnrelated(draw(two_to_32 + 5), draw(2 * two_to_32 + 5));
}

TEST(PhiloxNormalNoiseTest, StreamsGiveUnrelatedDraws) {
  const PhiloxNormalNoise noise(5);
  const auto draw = [&](uint32_t stream) {
    return Draw<double>(noise, 3, stream, 0, kCorrelationSize);
  };
  ExpectUnrelated(draw(0), draw(1));
  ExpectUnrelated(draw(1), draw(2));
  ExpectUnrelated(draw(0), draw(0xffffffff));
}

TEST(PhiloxNormalNoiseTest, SeedsGiveUnrelatedDraws) {
  const auto draw = [](uint64_t seed) {
    return Draw<double>(PhiloxNormalNoise(seed), 3, 0, 0, kCorrelationSize);
  };
  ExpectUnrelated(draw(0), draw(1));
  // Both halves of the seed are part of the key.
  ExpectUnrelated(draw(1), draw((uint64_t{1} << 32) | 1));
  ExpectUnrelated(draw(uint64_t{1} << 32), draw(uint64_t{2} << 32));
}

TEST(PhiloxNormalNoiseTest, SameArgumentsGiveTheSameDraws) {
  const std::vector<double> a = Draw<double>(PhiloxNormalNoise(8), 4, 2, 10, 1000);
  const std::vector<double> b = Draw<double>(PhiloxNormalNoise(8), 4, 2, 10, 1000);
  EXPECT_TRUE(BitwiseEqual(a, b));
}

// The counter's block word covers elements up to 2^34, ParameterLayout's limit.
TEST(PhiloxNormalNoiseTest, LastElementsOfTheLargestTensorAreFreshDraws) {
  const PhiloxNormalNoise noise(11);
  const uint64_t max_elements = uint64_t{1} << 34;
  const std::vector<double> last = Draw<double>(noise, 1, 0, max_elements - 9, 9);
  const std::vector<double> start = Draw<double>(noise, 1, 0, 0, 16);
  for (size_t i = 0; i < last.size(); ++i) {
    EXPECT_TRUE(std::isfinite(last[i]));
    EXPECT_DOUBLE_EQ(last[i], DocumentedNormal(11, 1, 0, max_elements - 9 + i));
    for (double s : start) EXPECT_NE(last[i], s);
  }
}

TEST(PrescribedNoiseTest, ReturnsTheSetValuesAtTheirElements) {
  PrescribedNoise noise;
  noise.Set(3, 1, {0.5, -1.0, 2.0, 0.25, -3.5});
  noise.Set(4, 1, {7.0, 8.0});

  EXPECT_EQ(Draw<double>(noise, 3, 1, 0, 5), (std::vector<double>{0.5, -1.0, 2.0, 0.25, -3.5}));
  EXPECT_EQ(Draw<double>(noise, 3, 1, 2, 3), (std::vector<double>{2.0, 0.25, -3.5}));
  EXPECT_EQ(Draw<float>(noise, 3, 1, 1, 2), (std::vector<float>{-1.0f, 2.0f}));
  EXPECT_EQ(Draw<double>(noise, 4, 1, 1, 1), (std::vector<double>{8.0}));
}

TEST(PrescribedNoiseTest, FloatIsTheRoundedDouble) {
  PrescribedNoise noise;
  noise.Set(0, 0, {0.1, 1.0 / 3.0, 1e-40});
  const std::vector<float> got = Draw<float>(noise, 0, 0, 0, 3);
  EXPECT_EQ(got, (std::vector<float>{static_cast<float>(0.1), static_cast<float>(1.0 / 3.0),
                                     static_cast<float>(1e-40)}));
}

TEST(PrescribedNoiseTest, SetReplacesEarlierValues) {
  PrescribedNoise noise;
  noise.Set(2, 0, {1.0, 2.0});
  noise.Set(2, 0, {3.0});
  const std::vector<double> got = Draw<double>(noise, 2, 0, 0, 2);
  EXPECT_EQ(got[0], 3.0);
  EXPECT_TRUE(std::isnan(got[1]));
}

TEST(PrescribedNoiseTest, UnsetDrawsAreNaN) {
  PrescribedNoise noise;
  noise.Set(3, 1, {0.5, -1.0});
  const auto all_nan = [](const auto& values) {
    return std::all_of(values.begin(), values.end(), [](auto v) { return std::isnan(v); });
  };
  EXPECT_TRUE(all_nan(Draw<double>(noise, 3, 0, 0, 4)));  // Other stream.
  EXPECT_TRUE(all_nan(Draw<double>(noise, 2, 1, 0, 4)));  // Other tick.
  EXPECT_TRUE(all_nan(Draw<float>(noise, 3, 0, 0, 4)));
  EXPECT_TRUE(all_nan(Draw<double>(PrescribedNoise(), 0, 0, 0, 4)));

  // Past the end of the set values.
  const std::vector<double> straddling = Draw<double>(noise, 3, 1, 1, 3);
  EXPECT_EQ(straddling[0], -1.0);
  EXPECT_TRUE(std::isnan(straddling[1]));
  EXPECT_TRUE(std::isnan(straddling[2]));
  EXPECT_TRUE(all_nan(Draw<float>(noise, 3, 1, 2, 2)));
  EXPECT_TRUE(all_nan(Draw<double>(noise, 3, 1, uint64_t{1} << 40, 2)));
}

}  // namespace
}  // namespace basin
