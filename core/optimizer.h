#ifndef BASIN_CORE_OPTIMIZER_H_
#define BASIN_CORE_OPTIMIZER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/aligned_buffer.h"
#include "core/dtype.h"
#include "core/layout.h"
#include "core/noise.h"
#include "core/optimizer_config.h"

namespace basin {

// What a session reports about its optimizer. NaN where a value does not apply.
struct OptimizerStats {
  int64_t tick = 0;
  int64_t step = 0;
  int64_t phase = 0;
  int64_t ticks_per_step = 1;
  double lr = 0;
  double gamma = 0;                 // Entropy-SGD's scope at the current step
  double last_loss = 0;             // loss told with the last gradient
  double last_step_mean_loss = 0;   // mean loss over the ticks of the last complete outer step
  double last_gradient_norm = 0;    // ‖g‖₂ of the last gradient
  double distance_to_anchor = 0;    // ‖θ − θa‖₂ (EMCMC) or ‖x − x'‖₂ (Entropy-SGD)
  int64_t samples_kept = 0;
  int64_t samples_dropped = 0;
};

template <typename Real>
struct ParameterSample {
  enum class Variable : uint8_t { kModel = 0, kAnchor = 1 };
  int64_t step = 0;  // the outer step after which it was taken (counting from 1)
  Variable variable = Variable::kModel;
  AlignedBuffer<Real> values;
};

template <typename Real>
class StateCodec;

// An optimizer as an ask/tell state machine over ticks. A tick is one gradient evaluation:
// Query() is the point where the next gradient is wanted; Tell() gives the gradient of the
// minibatch-mean loss there and advances the state. ticks_per_step() ticks make one outer step.
//
// Every step is a pure function of (state, gradient, tick): the noise is keyed by (seed, tick,
// stream, element), so a state restored from StateCodec and fed the same gradients continues
// bit for bit as the uninterrupted run.
//
// A rejected Tell or Set* returns InvalidArgument / FailedPrecondition and changes nothing.
// Not thread-safe: one caller at a time (the server serializes ticks per session).
template <typename Real>
class Optimizer {
 public:
  using Buffer = AlignedBuffer<Real>;
  using Sample = ParameterSample<Real>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const OptimizerSpec& spec() const { return spec_; }
  const ParameterLayout& layout() const { return layout_; }
  int64_t dimension() const { return layout_.num_elements(); }
  static constexpr DType dtype() { return DTypeOf<Real>(); }

  int64_t tick() const { return tick_; }
  int64_t step() const { return step_; }
  int64_t phase() const { return phase_; }
  virtual int64_t ticks_per_step() const = 0;
  // Whether every tick of an outer step must see the same minibatch (SAM's ascent and descent
  // gradients do); otherwise each tick takes a fresh one.
  virtual bool ticks_share_minibatch() const { return false; }

  virtual absl::Span<const Real> Query() const = 0;
  absl::Status Tell(absl::Span<const Real> gradient, double loss);
  // The checks Tell makes before it changes anything: the length, and no NaN or Inf in the
  // gradient or the loss. For callers that hold a gradient back (a sync quorum) and want to refuse
  // it at once.
  absl::Status CheckGradient(absl::Span<const Real> gradient, double loss) const;

  // The point to evaluate or deploy: θ (SGD, SGLD, EMCMC), w (SAM), x (Entropy-SGD).
  virtual absl::Span<const Real> Model() const = 0;
  // θa for EMCMC; empty for the others.
  virtual absl::Span<const Real> Anchor() const { return {}; }

  // Overwrites the model. Only between outer steps (phase 0): mid-step the query point was derived
  // from the old model.
  absl::Status SetModel(absl::Span<const Real> values);
  absl::Status SetAnchor(absl::Span<const Real> values);
  // Where a run starts: the model, and the anchor too where there is one (EMCMC's θa starts as a
  // copy of θ).
  absl::Status SetStartingPoint(absl::Span<const Real> values);

  // Every state variable by the name it is serialized under ("theta", "mu", "x_inner", ...), for
  // inspection. NotFound lists the names this optimizer has.
  absl::StatusOr<absl::Span<const Real>> StateVariable(absl::string_view name) const;
  std::vector<std::string> StateVariableNames() const;

  const std::deque<Sample>& samples() const { return samples_; }
  OptimizerStats Stats() const;

  // Replaces the Philox source keyed by spec().seed, e.g. with PrescribedNoise in tests.
  void SetNoiseSource(std::shared_ptr<const NoiseSource> noise) { noise_ = std::move(noise); }

 protected:
  Optimizer(OptimizerSpec spec, ParameterLayout layout);

  // Declares a state variable; all are serialized by name. Call from the constructor only.
  void RegisterBuffer(std::string name, Buffer* buffer);

  // Advances the state with a validated gradient at Query(); phase() is this tick's phase and
  // step() the outer step it belongs to. Must not fail.
  virtual void ApplyTick(absl::Span<const Real> gradient) = 0;
  virtual Buffer* MutableAnchor() { return nullptr; }
  virtual Buffer& MutableModel() = 0;
  // The learning rate (step size) of the current outer step: every config's lr under its schedule.
  double CurrentLr() const;
  virtual double CurrentGamma() const { return 0; }
  // ‖θ − θa‖ or the like; 0 where no second point exists.
  virtual double DistanceToAnchor() const { return 0; }

  const NoiseSource& noise() const { return *noise_; }

  // Fills `out` with the draws for elements [first, first + out.size()) of this tick and stream.
  void Draw(uint32_t stream, int64_t first, absl::Span<Real> out) const {
    noise_->Fill(static_cast<uint64_t>(tick_), stream, static_cast<uint64_t>(first), out);
  }

 private:
  friend class StateCodec<Real>;

  void CollectSamples();

  OptimizerSpec spec_;
  ParameterLayout layout_;
  std::shared_ptr<const NoiseSource> noise_;
  std::vector<std::pair<std::string, Buffer*>> buffers_;

  int64_t tick_ = 0;
  int64_t step_ = 0;
  int64_t phase_ = 0;
  double last_loss_ = 0;
  double step_loss_sum_ = 0;
  double last_step_mean_loss_ = 0;
  double last_gradient_norm_ = 0;
  std::deque<Sample> samples_;
  int64_t samples_dropped_ = 0;
};

// Norm of a - b in double, reproducible (see reduction.h).
template <typename Real>
double DistanceL2(absl::Span<const Real> a, absl::Span<const Real> b);

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZER_H_
