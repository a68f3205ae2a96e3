// One tick of each optimizer at d = 10^6 (f32 state), next to the references a tick is judged
// against in the same run: a STREAM triad (memory bandwidth) and the noise generator alone.
// Reported bytes are nominal: the gradient read once plus every state variable read and written
// once, which is what a fused tick must move at the least.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/aligned_buffer.h"
#include "core/noise.h"
#include "core/optimizer_registry.h"
#include "core/parallel_for.h"

namespace basin {
namespace {

constexpr int64_t kDefaultDimension = 1'000'000;
constexpr int64_t kLargeDimension = 16'000'000;

// Ranges of (d, threads): d = 10^6 (cache-resident here) and 1.6·10^7 (DRAM), on one thread and on
// every core. Passes split across threads only above 2·kMinElementsPerThread.
void Dimensions(benchmark::internal::Benchmark* b) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int64_t d : {kDefaultDimension, kLargeDimension}) {
    b->Args({d, 1});
    if (cores > 1) b->Args({d, cores});
  }
  b->ArgNames({"", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

// The memory-bandwidth reference: a[i] = b[i] + s·c[i] over three arrays of d floats, split across
// the same threads as the ticks. Its bytes are the 3 arrays (STREAM's convention).
void BM_StreamTriad(benchmark::State& state) {
  const int64_t n = state.range(0);
  SetKernelThreads(static_cast<int>(state.range(1)));
  AlignedBuffer<float> a(n), b(n), c(n);
  b.Fill(1.0f);
  c.Fill(2.0f);
  const float s = 0.5f;
  for (auto _ : state) {
    ParallelFor(n, 1024, [&](int64_t begin, int64_t end) {
      float* __restrict pa = a.data();
      const float* __restrict pb = b.data();
      const float* __restrict pc = c.data();
      for (int64_t i = begin; i < end; ++i) pa[i] = pb[i] + s * pc[i];
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_StreamTriad)->Apply(Dimensions);

template <typename Real>
void BM_NormalNoise(benchmark::State& state) {
  const int64_t n = state.range(0);
  PhiloxNormalNoise noise(42);
  AlignedBuffer<Real> out(n);
  uint64_t tick = 0;
  for (auto _ : state) {
    noise.Fill(tick++, 0, 0, out.span());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_NormalNoise<float>)->Name("BM_NormalNoise")->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NormalNoise<double>)->Name("BM_NormalNoise64")->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);

// Counts the normals an optimizer draws, to split a tick's time between the generator and the rest.
class CountingNoise final : public NoiseSource {
 public:
  explicit CountingNoise(uint64_t seed) : philox_(seed) {}
  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<float> out) const override {
    drawn_ += static_cast<int64_t>(out.size());
    philox_.Fill(tick, stream, first, out);
  }
  void Fill(uint64_t tick, uint32_t stream, uint64_t first, absl::Span<double> out) const override {
    drawn_ += static_cast<int64_t>(out.size());
    philox_.Fill(tick, stream, first, out);
  }
  int64_t drawn() const { return drawn_; }

 private:
  PhiloxNormalNoise philox_;
  mutable std::atomic<int64_t> drawn_{0};
};

// Seconds per f32 normal on the kernel threads, measured here so the share comes from this run.
double SecondsPerNormal() {
  constexpr int64_t kDraws = 1 << 22;
  PhiloxNormalNoise noise(7);
  AlignedBuffer<float> out(kDraws);
  double best = 1e9;
  for (int repeat = 0; repeat < 5; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    ParallelFor(kDraws, 1024, [&](int64_t begin, int64_t end) {
      noise.Fill(static_cast<uint64_t>(repeat), 0, static_cast<uint64_t>(begin), out.span().subspan(begin, end - begin));
    });
    benchmark::DoNotOptimize(out.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best / kDraws;
}

// One Tell per iteration on a pre-made gradient (the service's decode pass is measured end to end
// by the wire benchmark). Bytes are nominal: the gradient read once plus every state variable read
// and written once.
void RunTicks(benchmark::State& state, OptimizerConfig config) {
  const int64_t d = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  SetKernelThreads(threads);
  OptimizerSpec spec;
  spec.config = std::move(config);
  spec.seed = 1;
  auto made = CreateOptimizer<float>(spec, ParameterLayout::Flat(d));
  if (!made.ok()) {
    state.SkipWithError(std::string(made.status().message()).c_str());
    return;
  }
  Optimizer<float>& o = **made;
  auto noise = std::make_shared<CountingNoise>(spec.seed);
  o.SetNoiseSource(noise);
  AlignedBuffer<float> g(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < d; ++i) g.data()[i] = 1e-3f * std::sin(static_cast<float>(i));
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    absl::Status s = o.Tell(g.span(), 1.0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(o.Query().data());
  }
  const double seconds_per_tick = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                                  static_cast<double>(state.iterations());
  const int64_t variables = static_cast<int64_t>(o.StateVariableNames().size());
  state.SetBytesProcessed(state.iterations() * d * static_cast<int64_t>(sizeof(float)) * (1 + 2 * variables));
  state.counters["state_variables"] = static_cast<double>(variables);
  state.counters["ticks_per_step"] = static_cast<double>(o.ticks_per_step());
  const double normals_per_tick = static_cast<double>(noise->drawn()) / static_cast<double>(state.iterations());
  state.counters["normals_per_tick"] = normals_per_tick;
  if (normals_per_tick > 0) {
    // Generator time per tick (measured alone, same threads) over the tick's time.
    state.counters["noise_share"] = normals_per_tick * SecondsPerNormal() / seconds_per_tick;
  }
}

SgdConfig SgdMomentum() {
  SgdConfig c;
  c.momentum = 0.9;
  c.nesterov = true;
  c.weight_decay = 5e-4;
  return c;
}
SgldConfig SgldNoiseOff() {
  SgldConfig c;
  c.temperature = 0;
  return c;
}
SamConfig SamMomentum() {
  SamConfig c;
  c.momentum = 0.9;
  return c;
}
EmcmcConfig EmcmcNoiseOff() {
  EmcmcConfig c;
  c.temperature = 0;
  return c;
}

BENCHMARK_CAPTURE(RunTicks, sgd, OptimizerConfig(SgdConfig{}))->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, sgd_nesterov, OptimizerConfig(SgdMomentum()))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, sgld, OptimizerConfig(SgldConfig{}))->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, sgld_noise_off, OptimizerConfig(SgldNoiseOff()))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, sam_momentum, OptimizerConfig(SamMomentum()))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_lua,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua)))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_paper,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPaper)))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_pytorch,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPytorch)))
    ->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, emcmc, OptimizerConfig(EmcmcConfig{}))->Apply(Dimensions);
BENCHMARK_CAPTURE(RunTicks, emcmc_noise_off, OptimizerConfig(EmcmcNoiseOff()))
    ->Apply(Dimensions);

}  // namespace
}  // namespace basin
