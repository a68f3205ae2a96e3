#ifndef BASIN_CORE_OPTIMIZER_CONFIG_H_
#define BASIN_CORE_OPTIMIZER_CONFIG_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/config_fields.h"
#include "core/schedule.h"

namespace basin {

// The configuration of each optimizer: hyper-parameters only, never per-run state. Field names
// follow ../shared/ALGORITHMS.md and the proto; each struct's Fields() table documents defaults and
// ranges, and Check() adds the cross-field rules. A gradient `g` below is always the gradient of
// the minibatch-mean loss ℓ that the client sends.

// torch.optim.SGD, exactly:  d = g + weight_decay·w;  buf = d (first step) or momentum·buf + (1 − dampening)·d;
// d = d + momentum·buf (nesterov) or buf;  w ← w − lr_t·d.
struct SgdConfig {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
  double weight_decay = 0;
  Schedule lr_schedule = {};

  static constexpr absl::string_view kName = "sgd";
  static const std::vector<FieldDef<SgdConfig>>& Fields();
  absl::Status Check() const;
};

// SGLD in temperature form:  θ ← θ − α_t·(g + weight_decay·θ) + √(2·α_t·T / N)·ξ,
// with α_t = lr_t, or lr_t / 2 when lr_convention = welling_teh (lr is then Welling–Teh's ε_t and
// T = 1, N = 1 give their update). N = num_data rescales a mean-loss gradient to the posterior.
struct SgldConfig {
  enum class LrConvention { kAlpha = 0, kWellingTeh = 1 };

  double lr = 0.01;
  double temperature = 1;
  double num_data = 1;
  double weight_decay = 0;
  LrConvention lr_convention = LrConvention::kAlpha;
  Schedule lr_schedule = {};

  static constexpr absl::string_view kName = "sgld";
  static const std::vector<FieldDef<SgldConfig>>& Fields();
  absl::Status Check() const;
};

// SAM (Foret et al. 2021, davda54/sam): two ticks per step. Tick 1 at w gives g; then
// ε = rho·s⊙g / (‖s⊙g‖₂ + eps) with s = 1 (SAM) or |w| (adaptive: ε = rho·w²⊙g / (‖|w|⊙g‖ + eps));
// tick 2 at w + ε gives g', and the SGD rule of the base fields is applied at w with g'.
struct SamConfig {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
  double weight_decay = 0;
  Schedule lr_schedule = {};
  double rho = 0.05;
  bool adaptive = false;
  double eps = 1e-12;

  static constexpr absl::string_view kName = "sam";
  static const std::vector<FieldDef<SamConfig>>& Fields();
  absl::Status Check() const;
};

// Entropy-SGD (Chaudhari et al. 2017). One outer step is L inner SGLD ticks at x' (plus, when
// extra_tick_at_x, a first tick at x whose gradient is used only by the pytorch variant and whose
// loss is the loss of the model). See ALGORITHMS.md §1.3 for the three variants:
//   lua:     the code the paper's experiments used. Inner Nesterov momentum, weight decay after
//            momentum, noise √(2η')·ε in the gradient, μ ← (1−ema)μ + ema·x', x ← x − lr·(x − μ),
//            scoping counter t starting at 1.
//   paper:   Algorithm 1. Noise √η'·ε added to x', ema 0.75, x ← x − lr·γ·(x − μ), t from 0.
//   pytorch: ucla-vision python/optim.py with its frozen scoping counter fixed (t from 0, +1 per
//            step): weight decay before momentum, outer Nesterov SGD on (x − μ) + wd·x whose buffer
//            starts at the gradient at x of the first step.
// γ_t = gamma·(1 + scoping)^t. Defaults differ per variant: use Defaults(variant).
struct EntropySgdConfig {
  enum class Variant { kLua = 0, kPaper = 1, kPytorch = 2 };
  enum class NoiseScaling { kCode = 0, kPaper = 1 };  // √(2η')·ε or √η'·ε

  Variant variant = Variant::kLua;
  int64_t L = 20;
  double gamma = 0.03;
  double scoping = 1e-3;
  double inner_lr = 0.1;
  double noise = 1e-4;
  NoiseScaling noise_scaling = NoiseScaling::kCode;
  double ema = 0.25;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 0;
  double lr = 1;
  Schedule lr_schedule = {};
  bool extra_tick_at_x = true;

  static EntropySgdConfig Defaults(Variant variant);
  static constexpr absl::string_view kName = "entropy_sgd";
  static const std::vector<FieldDef<EntropySgdConfig>>& Fields();
  absl::Status Check() const;
  // γ at outer step `step` (0-based), with this variant's scoping counter.
  double GammaAt(int64_t step) const;
};

// Entropy-MCMC (Li & Zhang 2024): SGLD on the joint (θ, θa) with coupling ‖θ − θa‖²/(2η).
//   code form (lblaoke/EMCMC, default):
//     θ  ← θ  − lr_t·[g + (θ − θa)/(η·N) + wd·θ ] + √(2·lr_t·T/N)·ξ
//     θa ← θa − lr_t·[(θa − θ)/(η·N) + wd_a·θa] + √(2·lr_t·T/N)·ξa     (wd_a = wd if anchor_weight_decay)
//     with momentum > 0 both run torch SGD momentum and the noise rides in the gradient.
//   paper form: the same with N = 1, no weight decay, no momentum; lr is the step α and g is ∇U.
struct EmcmcConfig {
  enum class Form { kCode = 0, kPaper = 1 };

  Form form = Form::kCode;
  double lr = 0.5;
  double eta = 4e-4;
  double temperature = 1e-4;
  double num_data = 50000;
  double weight_decay = 5e-4;
  bool anchor_weight_decay = true;
  double momentum = 0;
  Schedule lr_schedule = {};

  static EmcmcConfig PaperDefaults();
  static constexpr absl::string_view kName = "emcmc";
  static const std::vector<FieldDef<EmcmcConfig>>& Fields();
  absl::Status Check() const;
};

using OptimizerConfig = std::variant<SgdConfig, SgldConfig, SamConfig, EntropySgdConfig, EmcmcConfig>;

// Which steps keep a copy of the model and/or the anchor, for Bayesian model averages.
// After outer step s (counting from 1) completes, a sample is kept when
//   s > burn_in, (s − burn_in) mod thin == 0, and, if cycle_length > 0, (s − 1) mod cycle_length
//   >= cycle_length − cycle_window (the last cycle_window steps of each cycle).
// At most max_samples per variable are kept; older ones are dropped first.
struct SampleCollection {
  enum class Which { kNone = 0, kModel = 1, kAnchor = 2, kBoth = 3 };

  Which which = Which::kNone;
  int64_t burn_in = 0;
  int64_t thin = 1;
  int64_t cycle_length = 0;
  int64_t cycle_window = 0;
  int64_t max_samples = 16;

  bool CollectsAfterStep(int64_t s) const;
  static const std::vector<FieldDef<SampleCollection>>& Fields();
  absl::Status Check() const;
};

// Everything that defines an optimizer run except the layout and the initial values.
struct OptimizerSpec {
  OptimizerConfig config = SgdConfig{};
  SampleCollection samples = {};
  uint64_t seed = 0;
};

// "sgd", "sgld", "sam", "entropy_sgd", "emcmc".
absl::string_view OptimizerName(const OptimizerConfig& config);
std::vector<std::string> OptimizerNames();
// The defaults of the named optimizer, or InvalidArgument listing the known names. `flavor` names
// the Entropy-SGD variant or the EMCMC form whose defaults apply ("" is the default flavor).
absl::StatusOr<OptimizerConfig> DefaultConfig(absl::string_view name, absl::string_view flavor = "");
// The field whose value selects the defaults ("variant", "form"), or "" for optimizers without one.
absl::string_view FlavorField(absl::string_view name);
// Field checks plus cross-field rules; the message names the field and value.
absl::Status CheckSpec(const OptimizerSpec& spec);

// Reading and writing a config as (name, value) pairs: the serialized form, and how the wire maps in.
std::vector<std::pair<std::string, double>> ConfigFieldValues(const OptimizerConfig& config);
absl::Status SetConfigField(OptimizerConfig& config, absl::string_view name, double value);
// One line per field: "name = value   (range; meaning)".
std::string DescribeConfig(const OptimizerConfig& config);

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZER_CONFIG_H_
