#include "bench/soak/soak_mix.h"

#include "absl/strings/str_cat.h"

namespace basin::soak {
namespace {

enum class Optimizer { kSgd, kSgld, kSam, kEntropySgd, kEntropySgdPaper, kEmcmcPaper, kEmcmcCode };

struct Kind {
  Optimizer optimizer;
  v1::DType state_dtype;
  int workers;
  bool async;
  int quorum;         // sync
  int max_staleness;  // async
  v1::Durability::Mode durability;
  double snapshot_interval_seconds;
  bool skip_nonfinite;
  std::vector<std::vector<int64_t>> shapes;
  int64_t chunk_bytes;
  WireDType query_dtype;
  WireDType gradient_dtype;
};

constexpr auto kF32 = v1::DTYPE_F32;
constexpr auto kF64 = v1::DTYPE_F64;
constexpr auto kNone = v1::Durability::MODE_NONE;
constexpr auto kPeriodic = v1::Durability::MODE_PERIODIC;
constexpr auto kEveryTick = v1::Durability::MODE_EVERY_TICK;

// The cycle of session kinds. Hyper-parameters keep every run stable on the soak's quadratic for
// as long as it lasts (a diverging run would end in a refused Inf, an unexpected error). Chunk
// sizes make most gradients several chunks, so a cancel can land inside one.
const std::vector<Kind>& Kinds() {
  using enum Optimizer;
  constexpr WireDType kW32 = WireDType::kF32, kW64 = WireDType::kF64, kWB16 = WireDType::kBF16,
                      kWF16 = WireDType::kF16;
  // clang-format off
  static const auto* kinds = new std::vector<Kind>{
    // optimizer      state workers async quorum τ durability interval skip  shapes            chunk query  gradient
    {kSgd,             kF32, 1, false, 1, 0, kNone,      0,   false, {{48, 32}, {32}}, 1024, kW32,  kW32},
    {kSam,             kF64, 2, false, 2, 0, kPeriodic,  1,   false, {{40, 40}},       2048, kW64,  kW32},
    {kSgld,            kF32, 3, true,  0, 4, kEveryTick, 1,   false, {{1024}},         0,    kW32,  kWB16},
    {kEmcmcPaper,      kF32, 1, false, 1, 0, kPeriodic,  0.5, true,  {{30, 30}, {30}}, 512,  kWB16, kW32},
    {kEntropySgd,      kF64, 1, false, 1, 0, kEveryTick, 2,   false, {{512}},          256,  kW32,  kW64},
    {kEmcmcCode,       kF64, 3, false, 2, 0, kEveryTick, 1,   false, {{2000}},         4096, kW32,  kW32},
    {kSgd,             kF64, 2, true,  0, 1, kNone,      0,   false, {{64, 16}},       1024, kWF16, kW32},
    {kSgld,            kF64, 1, false, 1, 0, kPeriodic,  2,   true,  {{700}},          1024, kW32,  kWF16},
    {kSam,             kF32, 1, false, 1, 0, kEveryTick, 1,   false, {{4096}},         8192, kW32,  kW32},
    {kEntropySgdPaper, kF32, 4, false, 4, 0, kNone,      0,   true,  {{256}},          256,  kW32,  kW32},
    {kSgd,             kF32, 4, false, 3, 0, kPeriodic,  1,   false, {{3000}},         4096, kW32,  kW32},
    {kEmcmcCode,       kF32, 4, true,  0, 8, kPeriodic,  0.5, false, {{1000}},         2048, kW32,  kW32},
  };
  // clang-format on
  return *kinds;
}

const char* OptimizerLabel(Optimizer o) {
  switch (o) {
    case Optimizer::kSgd:
      return "sgd";
    case Optimizer::kSgld:
      return "sgld";
    case Optimizer::kSam:
      return "sam";
    case Optimizer::kEntropySgd:
      return "entropy_sgd";
    case Optimizer::kEntropySgdPaper:
      return "entropy_sgd(paper)";
    case Optimizer::kEmcmcPaper:
      return "emcmc(paper)";
    case Optimizer::kEmcmcCode:
      return "emcmc";
  }
  return "?";
}

const char* DurabilityLabel(v1::Durability::Mode mode) {
  switch (mode) {
    case v1::Durability::MODE_NONE:
      return "none";
    case v1::Durability::MODE_EVERY_TICK:
      return "every_tick";
    default:
      return "periodic";
  }
}

void SetOptimizer(Optimizer o, v1::OptimizerConfig& config) {
  switch (o) {
    case Optimizer::kSgd: {
      v1::SgdConfig& sgd = *config.mutable_sgd();
      sgd.set_lr(0.05);
      sgd.set_momentum(0.9);
      break;
    }
    case Optimizer::kSgld: {
      v1::SgldConfig& sgld = *config.mutable_sgld();
      sgld.set_lr(0.01);
      sgld.set_temperature(1e-3);
      break;
    }
    case Optimizer::kSam: {
      v1::SamConfig& sam = *config.mutable_sam();
      sam.set_lr(0.05);
      sam.set_rho(0.05);
      break;
    }
    case Optimizer::kEntropySgd:
      config.mutable_entropy_sgd()->set_l(4);
      break;
    case Optimizer::kEntropySgdPaper:
      config.mutable_entropy_sgd()->set_variant(v1::EntropySgdConfig::VARIANT_PAPER);
      config.mutable_entropy_sgd()->set_l(3);
      break;
    case Optimizer::kEmcmcPaper: {
      v1::EmcmcConfig& emcmc = *config.mutable_emcmc();
      emcmc.set_form(v1::EmcmcConfig::FORM_PAPER);
      emcmc.set_temperature(1e-2);
      break;
    }
    case Optimizer::kEmcmcCode:
      // θ and θa couple with 1/(η·N) = 2.5: lr·(1 + 2·2.5) stays well below 2.
      config.mutable_emcmc()->set_num_data(1000);
      config.mutable_emcmc()->set_lr(0.1);
      break;
  }
}

std::string WorkersLabel(const Kind& k) {
  if (k.workers == 1) return "1 worker";
  if (k.async) return absl::StrCat("async ", k.workers, " τ=", k.max_staleness);
  return absl::StrCat("sync ", k.quorum, "/", k.workers);
}

SessionPlan PlanOf(Kind kind, int index, const std::string& run) {
  SessionPlan plan;
  plan.workers = kind.workers;
  plan.async = kind.async;
  plan.quorum = kind.async ? 0 : kind.quorum;
  plan.sends_nan = kind.skip_nonfinite;
  plan.chunk_bytes = kind.chunk_bytes;
  plan.query_dtype = kind.query_dtype;
  plan.gradient_dtype = kind.gradient_dtype;
  plan.label =
      absl::StrCat(OptimizerLabel(kind.optimizer), " ", kind.state_dtype == kF64 ? "f64" : "f32", " ",
                   WorkersLabel(kind), " ", DurabilityLabel(kind.durability), kind.skip_nonfinite ? " skip" : "");

  v1::CreateSessionRequest& request = plan.request;
  request.set_request_id(absl::StrCat("soak-", run, "-", index));
  v1::SessionSpec& spec = *request.mutable_spec();
  for (std::size_t t = 0; t < kind.shapes.size(); ++t) {
    v1::TensorSpec& tensor = *spec.add_tensors();
    tensor.set_name(absl::StrCat("t", t));
    for (int64_t d : kind.shapes[t]) tensor.add_shape(d);
  }
  spec.set_state_dtype(kind.state_dtype);
  SetOptimizer(kind.optimizer, *spec.mutable_optimizer());
  if (kind.optimizer == Optimizer::kEmcmcCode) {
    // Samples grow the state until max_samples are kept, then stay: part of the warm-up.
    spec.mutable_samples()->set_which(v1::SampleCollection::WHICH_BOTH);
    spec.mutable_samples()->set_thin(200);
    spec.mutable_samples()->set_max_samples(4);
  }
  spec.set_seed(1000 + static_cast<uint64_t>(index));
  v1::WorkerPolicy& workers = *spec.mutable_workers();
  workers.set_num_workers(kind.workers);
  if (kind.async) {
    workers.set_mode(v1::WorkerPolicy::MODE_ASYNC);
    workers.set_max_staleness(kind.max_staleness);
  } else {
    workers.set_mode(v1::WorkerPolicy::MODE_SYNC);
    workers.set_quorum(kind.quorum);
  }
  spec.mutable_durability()->set_mode(kind.durability);
  spec.mutable_durability()->set_snapshot_interval_seconds(kind.snapshot_interval_seconds);
  if (kind.skip_nonfinite) spec.set_nonfinite_policy(v1::NONFINITE_POLICY_SKIP);
  return plan;
}

}  // namespace

std::vector<SessionPlan> PlanSessions(int streams, const std::string& run) {
  std::vector<SessionPlan> plans;
  const std::vector<Kind>& kinds = Kinds();
  int left = streams;
  for (int i = 0; left > 0; ++i) {
    Kind kind = kinds[static_cast<std::size_t>(i) % kinds.size()];
    if (kind.workers > left) {
      kind.workers = 1;
      kind.async = false;
      kind.quorum = 1;
    }
    left -= kind.workers;
    plans.push_back(PlanOf(kind, i, run));
  }
  return plans;
}

}  // namespace basin::soak
