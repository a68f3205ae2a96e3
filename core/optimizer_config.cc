#include "core/optimizer_config.h"

#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace basin {
namespace {

// The fields shared by every rule built on torch SGD (SGD itself and SAM's base step).
template <typename Config>
void AppendSgdFields(std::vector<FieldDef<Config>>& f) {
  f.push_back(RealField("lr", &Config::lr, FieldRange::NonNegative(), "learning rate at step 0"));
  f.push_back(RealField("momentum", &Config::momentum, FieldRange::HalfOpen(0, 1), "heavy-ball momentum"));
  f.push_back(RealField("dampening", &Config::dampening, FieldRange::Closed(0, 1),
                        "momentum dampening (not applied on the first step, as torch)"));
  f.push_back(BoolField("nesterov", &Config::nesterov, "Nesterov momentum (needs momentum > 0, dampening 0)"));
  f.push_back(RealField("weight_decay", &Config::weight_decay, FieldRange::NonNegative(),
                        "L2 penalty added to the gradient"));
  AppendNested(f, "lr_schedule", &Config::lr_schedule, Schedule::Fields());
}

absl::Status CheckNesterov(absl::string_view scope, bool nesterov, double momentum, double dampening) {
  if (nesterov && (momentum <= 0 || dampening != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(scope, ".nesterov requires momentum > 0 and dampening = 0, got momentum ",
                                                   momentum, " and dampening ", dampening));
  }
  return absl::OkStatus();
}

template <typename Config>
absl::Status CheckConfig(const Config& c) {
  absl::Status s = CheckFields(Config::kName, Config::Fields(), c);
  if (!s.ok()) return s;
  return c.lr_schedule.Check(absl::StrCat(Config::kName, ".lr_schedule"));
}

}  // namespace

// --- SGD ---------------------------------------------------------------------------------------

const std::vector<FieldDef<SgdConfig>>& SgdConfig::Fields() {
  static const auto* fields = [] {
    auto* f = new std::vector<FieldDef<SgdConfig>>;
    AppendSgdFields(*f);
    return f;
  }();
  return *fields;
}

absl::Status SgdConfig::Check() const {
  absl::Status s = CheckConfig(*this);
  if (!s.ok()) return s;
  return CheckNesterov(kName, nesterov, momentum, dampening);
}

// --- SGLD --------------------------------------------------------------------------------------

const std::vector<FieldDef<SgldConfig>>& SgldConfig::Fields() {
  static const auto* fields = [] {
    auto* f = new std::vector<FieldDef<SgldConfig>>{
        RealField("lr", &SgldConfig::lr, FieldRange::NonNegative(), "step size at step 0 (see lr_convention)"),
        RealField("temperature", &SgldConfig::temperature, FieldRange::NonNegative(),
                  "T: the stationary law is exp(−U/T); 0 turns the noise off"),
        RealField("num_data", &SgldConfig::num_data, FieldRange::Positive(),
                  "N: training-set size; the noise variance is 2·α·T/N"),
        RealField("weight_decay", &SgldConfig::weight_decay, FieldRange::NonNegative(),
                  "Gaussian prior precision per datum (λ/N)"),
        EnumField("lr_convention", &SgldConfig::lr_convention, {"alpha", "welling_teh"},
                  "alpha: α = lr; welling_teh: lr is Welling–Teh's ε and α = ε/2"),
    };
    AppendNested(*f, "lr_schedule", &SgldConfig::lr_schedule, Schedule::Fields());
    return f;
  }();
  return *fields;
}

absl::Status SgldConfig::Check() const { return CheckConfig(*this); }

// --- SAM ---------------------------------------------------------------------------------------

const std::vector<FieldDef<SamConfig>>& SamConfig::Fields() {
  static const auto* fields = [] {
    auto* f = new std::vector<FieldDef<SamConfig>>;
    AppendSgdFields(*f);
    f->push_back(RealField("rho", &SamConfig::rho, FieldRange::NonNegative(), "radius of the ascent step"));
    f->push_back(BoolField("adaptive", &SamConfig::adaptive, "ASAM: scale the ascent by |w| (use ~10x rho)"));
    f->push_back(RealField("eps", &SamConfig::eps, FieldRange::Positive(),
                           "added to the gradient norm; raise it for low-precision gradients"));
    return f;
  }();
  return *fields;
}

absl::Status SamConfig::Check() const {
  absl::Status s = CheckConfig(*this);
  if (!s.ok()) return s;
  return CheckNesterov(kName, nesterov, momentum, dampening);
}

// --- Entropy-SGD -------------------------------------------------------------------------------

EntropySgdConfig EntropySgdConfig::Defaults(Variant variant) {
  EntropySgdConfig c;  // the member initialisers are the lua defaults
  c.variant = variant;
  switch (variant) {
    case Variant::kLua:
      break;
    case Variant::kPaper:
      c.noise_scaling = NoiseScaling::kPaper;
      c.ema = 0.75;
      c.momentum = 0;
      c.nesterov = false;
      c.lr = 1;
      c.extra_tick_at_x = false;
      break;
    case Variant::kPytorch:
      c.lr = 0.1;  // python/train.py
      break;
  }
  return c;
}

const std::vector<FieldDef<EntropySgdConfig>>& EntropySgdConfig::Fields() {
  using C = EntropySgdConfig;
  static const auto* fields = [] {
    auto* f = new std::vector<FieldDef<C>>{
        EnumField("variant", &C::variant, {"lua", "paper", "pytorch"},
                  "which reference semantics (ALGORITHMS.md §1.3); set it first, Defaults(variant) differ"),
        IntField("L", &C::L, FieldRange::Closed(1, 1e6), "Langevin (inner) ticks per outer step"),
        RealField("gamma", &C::gamma, FieldRange::Positive(), "scope γ0"),
        RealField("scoping", &C::scoping, FieldRange::NonNegative(), "γ_t = γ0·(1 + scoping)^t"),
        RealField("inner_lr", &C::inner_lr, FieldRange::Positive(), "η', the inner SGLD step"),
        RealField("noise", &C::noise, FieldRange::NonNegative(), "thermal noise ε of the inner SGLD"),
        EnumField("noise_scaling", &C::noise_scaling, {"code", "paper"},
                  "code: √(2η')·ε per inner step (both reference codes); paper: √η'·ε (Algorithm 1)"),
        RealField("ema", &C::ema, FieldRange::LeftOpen(0, 1), "μ ← (1 − ema)·μ + ema·x' (weight on the new x')"),
        RealField("momentum", &C::momentum, FieldRange::HalfOpen(0, 1),
                  "inner momentum (and outer, in the pytorch variant)"),
        BoolField("nesterov", &C::nesterov, "Nesterov momentum"),
        RealField("weight_decay", &C::weight_decay, FieldRange::NonNegative(), "L2 penalty"),
        RealField("lr", &C::lr, FieldRange::NonNegative(), "outer learning rate at step 0"),
        BoolField("extra_tick_at_x", &C::extra_tick_at_x,
                  "ask for a gradient at x before the inner loop (reference codes do; its loss is the model's)"),
    };
    AppendNested(*f, "lr_schedule", &C::lr_schedule, Schedule::Fields());
    return f;
  }();
  return *fields;
}

absl::Status EntropySgdConfig::Check() const {
  absl::Status s = CheckConfig(*this);
  if (!s.ok()) return s;
  if (nesterov && momentum <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("entropy_sgd.nesterov requires momentum > 0, got momentum ", momentum));
  }
  return absl::OkStatus();
}

double EntropySgdConfig::GammaAt(int64_t step) const {
  const double t = static_cast<double>(variant == Variant::kLua ? step + 1 : step);
  return gamma * std::pow(1 + scoping, t);
}

// --- EMCMC -------------------------------------------------------------------------------------

EmcmcConfig EmcmcConfig::PaperDefaults() {
  EmcmcConfig c;
  c.form = Form::kPaper;
  c.lr = 0.01;
  c.eta = 1;
  c.temperature = 1;
  c.num_data = 1;
  c.weight_decay = 0;
  c.anchor_weight_decay = false;
  c.momentum = 0;
  return c;
}

const std::vector<FieldDef<EmcmcConfig>>& EmcmcConfig::Fields() {
  using C = EmcmcConfig;
  static const auto* fields = [] {
    auto* f = new std::vector<FieldDef<C>>{
        EnumField("form", &C::form, {"code", "paper"},
                  "code: lblaoke/EMCMC units (N, weight decay, momentum); paper: step α on ∇U"),
        RealField("lr", &C::lr, FieldRange::NonNegative(), "step size at step 0 (α in the paper form)"),
        RealField("eta", &C::eta, FieldRange::Positive(), "η: coupling variance between θ and θa"),
        RealField("temperature", &C::temperature, FieldRange::NonNegative(), "T; 0 turns the noise off"),
        RealField("num_data", &C::num_data, FieldRange::Positive(), "N: training-set size (code form)"),
        RealField("weight_decay", &C::weight_decay, FieldRange::NonNegative(), "L2 penalty (code form)"),
        BoolField("anchor_weight_decay", &C::anchor_weight_decay,
                  "apply weight_decay to θa too, as the reference code does"),
        RealField("momentum", &C::momentum, FieldRange::HalfOpen(0, 1),
                  "torch SGD momentum on θ and θa (code form); the noise rides in the gradient"),
    };
    AppendNested(*f, "lr_schedule", &C::lr_schedule, Schedule::Fields());
    return f;
  }();
  return *fields;
}

absl::Status EmcmcConfig::Check() const {
  absl::Status s = CheckConfig(*this);
  if (!s.ok()) return s;
  if (form == Form::kPaper) {
    if (num_data != 1 || weight_decay != 0 || momentum != 0 || anchor_weight_decay) {
      return absl::InvalidArgumentError(absl::StrCat(
          "emcmc.form = paper takes no num_data, weight_decay, anchor_weight_decay or momentum (they belong to "
          "form = code), got num_data ",
          num_data, ", weight_decay ", weight_decay, ", anchor_weight_decay ", anchor_weight_decay,
          ", momentum ", momentum));
    }
  }
  return absl::OkStatus();
}

// --- Sample collection -------------------------------------------------------------------------

bool SampleCollection::CollectsAfterStep(int64_t s) const {
  if (which == Which::kNone || s <= burn_in || (s - burn_in) % thin != 0) return false;
  if (cycle_length > 0 && (s - 1) % cycle_length < cycle_length - cycle_window) return false;
  return true;
}

const std::vector<FieldDef<SampleCollection>>& SampleCollection::Fields() {
  using C = SampleCollection;
  static const auto* fields = new std::vector<FieldDef<C>>{
      EnumField("which", &C::which, {"none", "model", "anchor", "both"}, "which variables to keep"),
      IntField("burn_in", &C::burn_in, FieldRange::NonNegative(), "outer steps before the first sample"),
      IntField("thin", &C::thin, FieldRange::AtLeast(1), "keep every thin-th step after burn_in"),
      IntField("cycle_length", &C::cycle_length, FieldRange::NonNegative(),
               "if > 0, only the last cycle_window steps of each cycle of this many steps"),
      IntField("cycle_window", &C::cycle_window, FieldRange::NonNegative(), "see cycle_length"),
      IntField("max_samples", &C::max_samples, FieldRange::Closed(1, 1e6),
               "most samples kept per variable; the oldest go first"),
  };
  return *fields;
}

absl::Status SampleCollection::Check() const {
  absl::Status s = CheckFields("samples", Fields(), *this);
  if (!s.ok()) return s;
  if (cycle_length > 0 && (cycle_window < 1 || cycle_window > cycle_length)) {
    return absl::InvalidArgumentError(absl::StrCat("samples.cycle_window must be in [1, cycle_length = ",
                                                   cycle_length, "], got ", cycle_window));
  }
  return absl::OkStatus();
}

// --- Spec-level helpers ------------------------------------------------------------------------

absl::string_view OptimizerName(const OptimizerConfig& config) {
  return std::visit([](const auto& c) { return std::decay_t<decltype(c)>::kName; }, config);
}

std::vector<std::string> OptimizerNames() {
  return {std::string(SgdConfig::kName), std::string(SgldConfig::kName), std::string(SamConfig::kName),
          std::string(EntropySgdConfig::kName), std::string(EmcmcConfig::kName)};
}

namespace {

// The index of `flavor` among the names of the config's flavor field, or InvalidArgument.
template <typename Config>
absl::StatusOr<int> FlavorIndex(absl::string_view field, absl::string_view flavor) {
  for (const auto& f : Config::Fields()) {
    if (f.name != field) continue;
    for (std::size_t i = 0; i < f.enum_names.size(); ++i) {
      if (f.enum_names[i] == flavor) return static_cast<int>(i);
    }
    return absl::InvalidArgumentError(absl::StrCat(Config::kName, ".", field, " must be one of {",
                                                   absl::StrJoin(f.enum_names, ", "), "}, got '", flavor, "'"));
  }
  return absl::InternalError(absl::StrCat(Config::kName, " has no field ", field));
}

}  // namespace

absl::string_view FlavorField(absl::string_view name) {
  if (name == EntropySgdConfig::kName) return "variant";
  if (name == EmcmcConfig::kName) return "form";
  return "";
}

absl::StatusOr<OptimizerConfig> DefaultConfig(absl::string_view name, absl::string_view flavor) {
  if (!flavor.empty() && FlavorField(name).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has no variants, got '", flavor, "'"));
  }
  if (name == SgdConfig::kName) return SgdConfig{};
  if (name == SgldConfig::kName) return SgldConfig{};
  if (name == SamConfig::kName) return SamConfig{};
  if (name == EntropySgdConfig::kName) {
    if (flavor.empty()) return EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
    auto index = FlavorIndex<EntropySgdConfig>("variant", flavor);
    if (!index.ok()) return index.status();
    return EntropySgdConfig::Defaults(static_cast<EntropySgdConfig::Variant>(*index));
  }
  if (name == EmcmcConfig::kName) {
    if (flavor.empty()) return EmcmcConfig{};
    auto index = FlavorIndex<EmcmcConfig>("form", flavor);
    if (!index.ok()) return index.status();
    return static_cast<EmcmcConfig::Form>(*index) == EmcmcConfig::Form::kPaper ? EmcmcConfig::PaperDefaults()
                                                                                : EmcmcConfig{};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimizer '", name, "'; known: ", absl::StrJoin(OptimizerNames(), ", ")));
}

absl::Status CheckSpec(const OptimizerSpec& spec) {
  absl::Status s = std::visit([](const auto& c) { return c.Check(); }, spec.config);
  if (!s.ok()) return s;
  s = spec.samples.Check();
  if (!s.ok()) return s;
  const bool wants_anchor = spec.samples.which == SampleCollection::Which::kAnchor ||
                            spec.samples.which == SampleCollection::Which::kBoth;
  if (wants_anchor && !std::holds_alternative<EmcmcConfig>(spec.config)) {
    return absl::InvalidArgumentError(absl::StrCat("samples.which asks for the anchor, but ", OptimizerName(spec.config),
                                                   " has none (only emcmc does)"));
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, double>> ConfigFieldValues(const OptimizerConfig& config) {
  return std::visit(
      [](const auto& c) {
        std::vector<std::pair<std::string, double>> out;
        for (const auto& f : std::decay_t<decltype(c)>::Fields()) out.emplace_back(f.name, f.get(c));
        return out;
      },
      config);
}

absl::Status SetConfigField(OptimizerConfig& config, absl::string_view name, double value) {
  return std::visit(
      [&](auto& c) {
        using C = std::decay_t<decltype(c)>;
        return SetField(C::kName, C::Fields(), name, value, c);
      },
      config);
}

std::string DescribeConfig(const OptimizerConfig& config) {
  return std::visit(
      [](const auto& c) {
        std::string out;
        for (const auto& f : std::decay_t<decltype(c)>::Fields()) {
          absl::StrAppend(&out, "  ", f.name, " = ", FormatFieldValue(f, c), "\n");
        }
        return out;
      },
      config);
}

}  // namespace basin
