// The contract every optimizer keeps: bad input is rejected with a message naming the problem and
// changes nothing; state round-trips through StateCodec and continues bit for bit; samples are
// collected when the rule says.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/byte_io.h"
#include "core/optimizer_registry.h"
#include "core/state_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

// One config of each optimizer with every stateful feature on (momentum, noise, schedules).
std::vector<OptimizerConfig> NoisyConfigs() {
  SgdConfig sgd;
  sgd.lr = 0.05;
  sgd.momentum = 0.9;
  sgd.nesterov = true;
  sgd.weight_decay = 1e-3;
  SgldConfig sgld;
  sgld.lr = 0.01;
  sgld.temperature = 0.3;
  sgld.lr_schedule.kind = Schedule::Kind::kPolynomial;
  SamConfig sam;
  sam.lr = 0.05;
  sam.momentum = 0.5;
  sam.adaptive = true;
  sam.rho = 0.5;
  EntropySgdConfig lua = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  lua.L = 3;
  lua.noise = 0.05;
  lua.weight_decay = 1e-3;
  EntropySgdConfig paper = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPaper);
  paper.L = 2;
  paper.noise = 0.05;
  EntropySgdConfig pytorch = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPytorch);
  pytorch.L = 2;
  pytorch.noise = 0.05;
  EmcmcConfig emcmc;
  emcmc.num_data = 100;
  emcmc.temperature = 1;
  emcmc.momentum = 0.9;
  emcmc.lr = 0.01;
  emcmc.eta = 0.5;
  emcmc.lr_schedule.kind = Schedule::Kind::kCyclicalCosine;
  emcmc.lr_schedule.total = 40;
  emcmc.lr_schedule.cycles = 2;
  EmcmcConfig emcmc_paper = EmcmcConfig::PaperDefaults();
  return {sgd, sgld, sam, lua, paper, pytorch, emcmc, emcmc_paper};
}

// A gradient that depends on the point and the tick, like a minibatch gradient would.
template <typename Real>
std::vector<Real> Gradient(absl::Span<const Real> q, int64_t tick) {
  std::vector<Real> g(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) {
    g[i] = static_cast<Real>((1.0 + 0.01 * static_cast<double>(i % 7)) * q[i] + 0.1 * std::sin(0.3 * tick + i));
  }
  return g;
}

template <typename Real>
void Drive(Optimizer<Real>& o, int ticks) {
  for (int k = 0; k < ticks; ++k) {
    auto g = Gradient(o.Query(), o.tick());
    ASSERT_TRUE(o.Tell(g, 0.5 + o.tick()).ok());
  }
}

template <typename Real>
std::unique_ptr<Optimizer<Real>> Make(const OptimizerConfig& config, int64_t d, SampleCollection samples = {}) {
  OptimizerSpec spec;
  spec.config = config;
  spec.seed = 1234;
  spec.samples = samples;
  auto layout = ParameterLayout::Create({{"w", {d - 3}}, {"b", {3}}});
  EXPECT_TRUE(layout.ok());
  std::vector<Real> init(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < d; ++i) init[i] = static_cast<Real>(std::cos(0.1 * i));
  auto o = CreateOptimizer<Real>(spec, *layout, init);
  EXPECT_TRUE(o.ok()) << o.status();
  return std::move(*o);
}

template <typename Real>
class ContractTest : public ::testing::Test {};
using RealTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ContractTest, RealTypes);

TYPED_TEST(ContractTest, RestoreMidRunContinuesBitwise) {
  using Real = TypeParam;
  const int64_t d = 2500;  // spans several kernel chunks and reduction blocks
  for (const OptimizerConfig& config : NoisyConfigs()) {
    SCOPED_TRACE(std::string(OptimizerName(config)));
    SampleCollection samples;
    samples.which = std::holds_alternative<EmcmcConfig>(config) ? SampleCollection::Which::kBoth
                                                               : SampleCollection::Which::kModel;
    samples.thin = 2;
    samples.max_samples = 3;
    auto reference = Make<Real>(config, d, samples);
    auto interrupted = Make<Real>(config, d, samples);
    // Stop at a tick that is mid-step for every multi-tick optimizer.
    const int first = 2 * static_cast<int>(reference->ticks_per_step()) + 1;
    Drive(*reference, 40);
    Drive(*interrupted, first);

    const std::string bytes = StateCodec<Real>::Encode(*interrupted);
    interrupted.reset();
    auto restored = StateCodec<Real>::Decode(bytes);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(StateCodec<Real>::Encode(**restored), bytes);  // encoding is canonical
    Drive(**restored, 40 - first);

    const Optimizer<Real>& r = **restored;
    EXPECT_EQ(r.tick(), reference->tick());
    EXPECT_EQ(r.step(), reference->step());
    for (const std::string& name : reference->StateVariableNames()) {
      auto a = reference->StateVariable(name);
      auto b = r.StateVariable(name);
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(std::memcmp(a->data(), b->data(), a->size() * sizeof(Real)), 0) << name << " differs";
    }
    ASSERT_EQ(r.samples().size(), reference->samples().size());
    for (std::size_t i = 0; i < r.samples().size(); ++i) {
      EXPECT_EQ(r.samples()[i].step, reference->samples()[i].step);
      EXPECT_EQ(std::memcmp(r.samples()[i].values.data(), reference->samples()[i].values.data(), d * sizeof(Real)), 0);
    }
    EXPECT_EQ(r.Stats().last_gradient_norm, reference->Stats().last_gradient_norm);
    EXPECT_EQ(r.Stats().last_step_mean_loss, reference->Stats().last_step_mean_loss);
  }
}

TYPED_TEST(ContractTest, NoiseIsOnAndSeedMatters) {
  using Real = TypeParam;
  for (const OptimizerConfig& config : NoisyConfigs()) {
    if (std::holds_alternative<SgdConfig>(config) || std::holds_alternative<SamConfig>(config)) continue;
    SCOPED_TRACE(std::string(OptimizerName(config)));
    auto a = Make<Real>(config, 64);
    OptimizerSpec spec = a->spec();
    spec.seed = 99;
    std::vector<Real> init(a->Model().begin(), a->Model().end());
    auto b = *CreateOptimizer<Real>(spec, a->layout(), init);
    Drive(*a, 8);
    Drive(*b, 8);
    EXPECT_NE(std::memcmp(a->Model().data(), b->Model().data(), 64 * sizeof(Real)), 0);
  }
}

TYPED_TEST(ContractTest, BadTellChangesNothing) {
  using Real = TypeParam;
  for (const OptimizerConfig& config : NoisyConfigs()) {
    SCOPED_TRACE(std::string(OptimizerName(config)));
    auto o = Make<Real>(config, 10);
    Drive(*o, 3);
    const std::string before = StateCodec<Real>::Encode(*o);
    std::vector<Real> g = Gradient(o->Query(), o->tick());

    absl::Status s = o->Tell(absl::MakeSpan(g).subspan(0, 9), 1.0);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("gradient has 9 elements; the layout has 10"));

    std::vector<Real> nan_g = g;
    nan_g[8] = std::numeric_limits<Real>::quiet_NaN();
    s = o->Tell(nan_g, 1.0);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("element 8 (tensor 'b', index 1) is nan"));

    std::vector<Real> inf_g = g;
    inf_g[0] = -std::numeric_limits<Real>::infinity();
    s = o->Tell(inf_g, 1.0);
    EXPECT_THAT(std::string(s.message()), HasSubstr("element 0 (tensor 'w', index 0) is -inf"));

    s = o->Tell(g, std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("loss is nan"));

    EXPECT_EQ(StateCodec<Real>::Encode(*o), before) << "a rejected tell changed the state";
  }
}

TEST(SetModelTest, OnlyBetweenStepsAndValidated) {
  EntropySgdConfig c = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  c.L = 2;
  auto o = Make<double>(c, 5);
  Drive(*o, 1);
  absl::Status s = o->SetModel(std::vector<double>(5, 1.0));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("step 0 is at tick 1 of 3"));
  Drive(*o, 2);
  EXPECT_EQ(o->SetModel(std::vector<double>(4, 1.0)).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(o->SetModel(std::vector<double>(5, 1.0)).ok());
  EXPECT_EQ(o->Query()[0], 1.0);  // the next step starts from the new model
  EXPECT_EQ(o->SetAnchor(std::vector<double>(5, 1.0)).code(), absl::StatusCode::kFailedPrecondition);
}

// --- Invalid hyper-parameters ------------------------------------------------------------------

absl::Status CreateStatus(OptimizerConfig config, SampleCollection samples = {}) {
  OptimizerSpec spec;
  spec.config = std::move(config);
  spec.samples = samples;
  return CreateOptimizer<float>(spec, ParameterLayout::Flat(4)).status();
}

void ExpectInvalid(absl::Status s, const std::string& message) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(message));
}

TEST(ConfigValidationTest, NamesTheFieldAndTheValue) {
  SgdConfig sgd;
  sgd.lr = -0.1;
  ExpectInvalid(CreateStatus(sgd), "sgd.lr must be >= 0, got -0.1");
  sgd = {};
  sgd.momentum = std::nan("");
  ExpectInvalid(CreateStatus(sgd), "sgd.momentum must be a finite number, got nan");
  sgd = {};
  sgd.nesterov = true;
  ExpectInvalid(CreateStatus(sgd), "sgd.nesterov requires momentum > 0 and dampening = 0, got momentum 0");
  sgd = {};
  sgd.lr_schedule.kind = Schedule::Kind::kStep;
  sgd.lr_schedule.step_size = 0;
  ExpectInvalid(CreateStatus(sgd), "sgd.lr_schedule.step_size must be >= 1, got 0");

  EntropySgdConfig esgd;
  esgd.L = 0;
  ExpectInvalid(CreateStatus(esgd), "entropy_sgd.L must be in [1, 1e+06], got 0");
  esgd = {};
  esgd.gamma = 0;
  ExpectInvalid(CreateStatus(esgd), "entropy_sgd.gamma must be > 0, got 0");
  esgd = {};
  esgd.gamma = -1;
  ExpectInvalid(CreateStatus(esgd), "entropy_sgd.gamma must be > 0, got -1");
  esgd = {};
  esgd.ema = 0;
  ExpectInvalid(CreateStatus(esgd), "entropy_sgd.ema must be in (0, 1], got 0");
  esgd = {};
  esgd.variant = static_cast<EntropySgdConfig::Variant>(7);
  ExpectInvalid(CreateStatus(esgd), "entropy_sgd.variant must be one of {lua, paper, pytorch}, got value 7");

  EmcmcConfig emcmc;
  emcmc.eta = 0;
  ExpectInvalid(CreateStatus(emcmc), "emcmc.eta must be > 0, got 0");
  emcmc = EmcmcConfig::PaperDefaults();
  emcmc.num_data = 10;
  ExpectInvalid(CreateStatus(emcmc), "emcmc.form = paper takes no num_data");
  emcmc = {};
  emcmc.lr_schedule.kind = Schedule::Kind::kCyclicalCosine;
  emcmc.lr_schedule.total = 3;
  emcmc.lr_schedule.cycles = 4;
  ExpectInvalid(CreateStatus(emcmc), "emcmc.lr_schedule.total (3) must be at least emcmc.lr_schedule.cycles (4)");

  SgldConfig sgld;
  sgld.temperature = -1;
  ExpectInvalid(CreateStatus(sgld), "sgld.temperature must be >= 0, got -1");
  sgld = {};
  sgld.num_data = 0;
  ExpectInvalid(CreateStatus(sgld), "sgld.num_data must be > 0, got 0");

  SamConfig sam;
  sam.rho = -0.05;
  ExpectInvalid(CreateStatus(sam), "sam.rho must be >= 0, got -0.05");

  SampleCollection samples;
  samples.which = SampleCollection::Which::kAnchor;
  ExpectInvalid(CreateStatus(SgdConfig{}, samples), "sgd has none (only emcmc does)");
  samples = {};
  samples.thin = 0;
  ExpectInvalid(CreateStatus(SgdConfig{}, samples), "samples.thin must be >= 1, got 0");
}

TEST(ConfigValidationTest, SetFieldByNameIsChecked) {
  auto config = DefaultConfig("entropy_sgd");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(SetConfigField(*config, "L", 5).ok());
  EXPECT_EQ(std::get<EntropySgdConfig>(*config).L, 5);
  ExpectInvalid(SetConfigField(*config, "L", 2.5), "entropy_sgd.L must be an integer, got 2.5");
  ExpectInvalid(SetConfigField(*config, "nope", 1), "entropy_sgd has no field 'nope'");
  ExpectInvalid(SetConfigField(*config, "lr_schedule.kind", 9), "must be one of {constant, step, cosine");
  ExpectInvalid(DefaultConfig("adam").status(), "unknown optimizer 'adam'; known: sgd, sgld, sam, entropy_sgd, emcmc");
}

TEST(ConfigValidationTest, DefaultsFollowTheSpec) {
  const auto lua = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  EXPECT_EQ(lua.inner_lr, 0.1);
  EXPECT_EQ(lua.ema, 0.25);  // μ ← 0.75μ + 0.25x'
  EXPECT_EQ(lua.momentum, 0.9);
  EXPECT_TRUE(lua.nesterov);
  EXPECT_EQ(lua.noise, 1e-4);
  EXPECT_EQ(lua.scoping, 1e-3);
  EXPECT_EQ(lua.GammaAt(0), lua.gamma * 1.001);  // Lua's t starts at 1
  const auto paper = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPaper);
  EXPECT_EQ(paper.ema, 0.75);
  EXPECT_EQ(paper.GammaAt(0), paper.gamma);
  EXPECT_EQ(SamConfig{}.rho, 0.05);
  EXPECT_EQ(EmcmcConfig{}.eta, 4e-4);
  EXPECT_EQ(EmcmcConfig{}.temperature, 1e-4);
  EXPECT_EQ(EmcmcConfig{}.weight_decay, 5e-4);
}

// --- State codec on hostile bytes --------------------------------------------------------------

TEST(StateCodecTest, RejectsCorruptionWithoutCrashing) {
  auto o = Make<float>(EmcmcConfig{}, 16);
  Drive(*o, 5);
  const std::string good = StateCodec<float>::Encode(*o);
  ASSERT_TRUE(StateCodec<float>::Decode(good).ok());

  // Every single-byte flip is caught by the checksum.
  for (std::size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] ^= 0x20;
    auto r = StateCodec<float>::Decode(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "flip at " << i;
  }
  // Every truncation is caught.
  for (std::size_t n = 0; n < good.size(); n += 5) {
    EXPECT_FALSE(StateCodec<float>::Decode(good.substr(0, n)).ok()) << "truncated to " << n;
  }
  EXPECT_THAT(std::string(StateCodec<float>::Decode("hello").status().message()), HasSubstr("bad magic"));
  {
    // A huge sample count with a valid checksum: refused before any sample is read.
    const std::size_t count_at = good.size() - 4 - 4;  // no samples: the count is the last field
    std::string forged = good.substr(0, count_at);
    const uint32_t huge = 0xffffffffu;
    forged.append(reinterpret_cast<const char*>(&huge), 4);
    const uint32_t crc = Crc32c(forged);
    forged.append(reinterpret_cast<const char*>(&crc), 4);
    auto r = StateCodec<float>::Decode(forged);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("sample count 4294967295 exceeds the bytes present"));
  }
  auto wrong_dtype = StateCodec<double>::Decode(good);
  EXPECT_THAT(std::string(wrong_dtype.status().message()), HasSubstr("optimizer state is f32, not f64"));
  auto any = DecodeState(good);
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(std::holds_alternative<std::unique_ptr<Optimizer<float>>>(*any));
  EXPECT_EQ(EncodeState(*any), good);
}

// Found by state_codec_fuzz: a field name damaged into another field's ("noise" into "gamma", with
// the checksum made right) decoded, setting gamma twice and leaving noise at its default; and an
// integer or bool field stored as -0 decoded as 0. Such bytes are no state the encoder wrote.
TEST(StateCodecTest, RefusesFieldsTheEncoderWouldNotWrite) {
  auto with_crc = [](std::string bytes) {
    bytes.resize(bytes.size() - 4);
    const uint32_t crc = Crc32c(bytes);
    bytes.append(reinterpret_cast<const char*>(&crc), 4);
    return bytes;
  };
  // The offset of field `name` (its length prefix) in a state.
  auto field = [](const std::string& state, const std::string& name) {
    const uint32_t size = static_cast<uint32_t>(name.size());
    const std::size_t at = state.find(std::string(reinterpret_cast<const char*>(&size), 4) + name);
    EXPECT_NE(at, std::string::npos) << name;
    return at;
  };

  auto entropy = Make<float>(EntropySgdConfig{}, 4);
  std::string renamed = StateCodec<float>::Encode(*entropy);
  renamed.replace(field(renamed, "noise") + 4, 5, "gamma");
  auto r = StateCodec<float>::Decode(with_crc(renamed));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("entropy_sgd field 5 is 'gamma'; the format has 'noise' there"));

  auto sgd = Make<double>(SgdConfig{}, 4);
  std::string negative_zero = StateCodec<double>::Encode(*sgd);
  negative_zero[field(negative_zero, "nesterov") + 4 + 8 + 7] = static_cast<char>(0x80);  // the value's sign bit
  auto r64 = StateCodec<double>::Decode(with_crc(negative_zero));
  EXPECT_EQ(r64.status().code(), absl::StatusCode::kDataLoss) << r64.status();
  EXPECT_THAT(std::string(r64.status().message()),
              HasSubstr("sgd field 'nesterov' is stored as -0, which reads back as 0"));
}

// --- Samples -----------------------------------------------------------------------------------

TEST(SampleCollectionTest, CyclicWindowsLikeTheEmcmcReference) {
  // CIFAR: 391 batches an epoch, samples at the ends of the last 2 epochs of each 50-epoch cycle.
  SampleCollection rule;
  rule.which = SampleCollection::Which::kBoth;
  rule.thin = 391;
  rule.cycle_length = 50 * 391;
  rule.cycle_window = 2 * 391;
  std::vector<int64_t> epochs;
  for (int64_t s = 1; s <= 200 * 391; ++s) {
    if (rule.CollectsAfterStep(s)) epochs.push_back(s / 391 - 1);
  }
  EXPECT_EQ(epochs, (std::vector<int64_t>{48, 49, 98, 99, 148, 149, 198, 199}));
}

TEST(SampleCollectionTest, KeepsTheNewestUpToTheCap) {
  SampleCollection rule;
  rule.which = SampleCollection::Which::kBoth;
  rule.burn_in = 2;
  rule.thin = 2;
  rule.max_samples = 2;
  auto o = Make<double>(EmcmcConfig{}, 8, rule);
  Drive(*o, 10);  // steps 4, 6, 8, 10 qualify; the cap keeps 8 and 10 of each variable
  ASSERT_EQ(o->samples().size(), 4u);
  std::vector<int64_t> steps;
  for (const auto& s : o->samples()) steps.push_back(s.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{8, 8, 10, 10}));
  EXPECT_EQ(o->Stats().samples_dropped, 4);
  // The newest model sample is the current model, the newest anchor sample the current anchor.
  EXPECT_EQ(std::memcmp(o->samples()[2].values.data(), o->Model().data(), 8 * sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(o->samples()[3].values.data(), o->Anchor().data(), 8 * sizeof(double)), 0);
}

}  // namespace
}  // namespace basin
