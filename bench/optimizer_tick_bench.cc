// One tick of each optimizer at d = 10^6 (f32 state), next to the references a tick is judged
// against in the same run: a STREAM triad (memory bandwidth) and the noise generator alone.
// Reported bytes are nominal: the gradient read once plus every state variable read and written
// once, which is what a fused tick must move at the least.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/aligned_buffer.h"
#include "core/noise.h"
#include "core/optimizer_registry.h"

namespace basin {
namespace {

constexpr int64_t kDefaultDimension = 1'000'000;

void BM_StreamTriad(benchmark::State& state) {
  const int64_t n = state.range(0);
  AlignedBuffer<float> a(n), b(n), c(n);
  b.Fill(1.0f);
  c.Fill(2.0f);
  const float s = 0.5f;
  for (auto _ : state) {
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_StreamTriad)->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);

void BM_NormalNoise(benchmark::State& state) {
  const int64_t n = state.range(0);
  PhiloxNormalNoise noise(42);
  AlignedBuffer<float> out(n);
  uint64_t tick = 0;
  for (auto _ : state) {
    noise.Fill(tick++, 0, 0, out.span());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_NormalNoise)->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);

void RunTicks(benchmark::State& state, OptimizerConfig config) {
  const int64_t d = state.range(0);
  OptimizerSpec spec;
  spec.config = std::move(config);
  spec.seed = 1;
  auto made = CreateOptimizer<float>(spec, ParameterLayout::Flat(d));
  if (!made.ok()) {
    state.SkipWithError(std::string(made.status().message()).c_str());
    return;
  }
  Optimizer<float>& o = **made;
  std::vector<float> g(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < d; ++i) g[i] = 1e-3f * std::sin(static_cast<float>(i));
  for (auto _ : state) {
    absl::Status s = o.Tell(g, 1.0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(o.Query().data());
  }
  const int64_t variables = static_cast<int64_t>(o.StateVariableNames().size());
  state.SetBytesProcessed(state.iterations() * d * static_cast<int64_t>(sizeof(float)) * (1 + 2 * variables));
  state.counters["state_variables"] = static_cast<double>(variables);
  state.counters["ticks_per_step"] = static_cast<double>(o.ticks_per_step());
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

BENCHMARK_CAPTURE(RunTicks, sgd, OptimizerConfig(SgdConfig{}))->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, sgd_nesterov, OptimizerConfig(SgdMomentum()))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, sgld, OptimizerConfig(SgldConfig{}))->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, sgld_noise_off, OptimizerConfig(SgldNoiseOff()))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, sam_momentum, OptimizerConfig(SamMomentum()))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_lua,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua)))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_paper,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPaper)))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, entropy_sgd_pytorch,
                  OptimizerConfig(EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPytorch)))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, emcmc, OptimizerConfig(EmcmcConfig{}))->Arg(kDefaultDimension)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RunTicks, emcmc_noise_off, OptimizerConfig(EmcmcNoiseOff()))
    ->Arg(kDefaultDimension)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace basin
