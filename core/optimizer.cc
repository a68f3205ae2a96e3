#include "core/optimizer.h"

#include <cmath>
#include <cstring>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/kernels/reduction_kernels.h"

namespace basin {
namespace {

// "element 7 (tensor 'fc.bias', index 3)": where a bad value sits, in the client's terms.
std::string DescribeElement(const ParameterLayout& layout, int64_t i) {
  for (int64_t t = 0; t < layout.num_tensors(); ++t) {
    if (i < layout.offset(t) + layout.size(t)) {
      return absl::StrCat("element ", i, " (tensor '", layout.tensors()[t].name, "', index ", i - layout.offset(t),
                          ")");
    }
  }
  return absl::StrCat("element ", i);
}

// Checks the length and finiteness of `v` and returns Σ v² (in reduction.h's order). One
// vectorized pass: a finite sum of squares means every element is finite; only a sum that is not
// looks element by element, to name the bad one (or to find none: f64 squares can overflow).
template <typename Real>
absl::StatusOr<double> CheckedSumOfSquares(const ParameterLayout& layout, absl::string_view what,
                                          absl::Span<const Real> v) {
  if (static_cast<int64_t>(v.size()) != layout.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", v.size(), " elements; the layout has ",
                                                   layout.num_elements()));
  }
  const double sum = SumOfSquares(v);
  if (std::isfinite(sum)) return sum;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", DescribeElement(layout, static_cast<int64_t>(i)),
                                                     " is ", static_cast<double>(v[i])));
    }
  }
  return sum;
}

template <typename Real>
absl::Status CheckVector(const ParameterLayout& layout, absl::string_view what, absl::Span<const Real> v) {
  return CheckedSumOfSquares(layout, what, v).status();
}

}  // namespace

template <typename Real>
Optimizer<Real>::Optimizer(OptimizerSpec spec, ParameterLayout layout)
    : spec_(std::move(spec)),
      layout_(std::move(layout)),
      noise_(std::make_shared<PhiloxNormalNoise>(spec_.seed)) {}

template <typename Real>
double Optimizer<Real>::CurrentLr() const {
  return std::visit([&](const auto& c) { return c.lr_schedule.Value(c.lr, static_cast<double>(step_)); },
                    spec_.config);
}

template <typename Real>
void Optimizer<Real>::RegisterBuffer(std::string name, Buffer* buffer) {
  buffer->Resize(static_cast<std::size_t>(dimension()));
  buffers_.emplace_back(std::move(name), buffer);
}

template <typename Real>
absl::Status Optimizer<Real>::CheckGradient(absl::Span<const Real> gradient, double loss) const {
  if (!std::isfinite(loss)) return absl::InvalidArgumentError(absl::StrCat("loss is ", loss));
  return CheckVector<Real>(layout_, "gradient", gradient);
}

template <typename Real>
absl::Status Optimizer<Real>::Tell(absl::Span<const Real> gradient, double loss) {
  if (!std::isfinite(loss)) return absl::InvalidArgumentError(absl::StrCat("loss is ", loss));
  const absl::StatusOr<double> squares = CheckedSumOfSquares<Real>(layout_, "gradient", gradient);
  if (!squares.ok()) return squares.status();

  last_gradient_norm_ = std::sqrt(*squares);
  ApplyTick(gradient);

  last_loss_ = loss;
  step_loss_sum_ += loss;
  ++tick_;
  if (++phase_ == ticks_per_step()) {
    last_step_mean_loss_ = step_loss_sum_ / static_cast<double>(ticks_per_step());
    step_loss_sum_ = 0;
    phase_ = 0;
    ++step_;
    CollectSamples();
  }
  return absl::OkStatus();
}

template <typename Real>
absl::Status Optimizer<Real>::SetModel(absl::Span<const Real> values) {
  if (phase_ != 0) {
    return absl::FailedPreconditionError(absl::StrCat("the model can only be set between outer steps; step ",
                                                      step_, " is at tick ", phase_, " of ", ticks_per_step()));
  }
  absl::Status s = CheckVector<Real>(layout_, "model", values);
  if (!s.ok()) return s;
  Buffer& model = MutableModel();
  std::memcpy(model.data(), values.data(), values.size() * sizeof(Real));
  return absl::OkStatus();
}

template <typename Real>
absl::Status Optimizer<Real>::SetAnchor(absl::Span<const Real> values) {
  Buffer* anchor = MutableAnchor();
  if (anchor == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(OptimizerName(spec_.config), " has no anchor"));
  }
  absl::Status s = CheckVector<Real>(layout_, "anchor", values);
  if (!s.ok()) return s;
  std::memcpy(anchor->data(), values.data(), values.size() * sizeof(Real));
  return absl::OkStatus();
}

template <typename Real>
absl::StatusOr<absl::Span<const Real>> Optimizer<Real>::StateVariable(absl::string_view name) const {
  for (const auto& [buffer_name, buffer] : buffers_) {
    if (buffer_name == name) return buffer->span();
  }
  return absl::NotFoundError(absl::StrCat(OptimizerName(spec_.config), " has no state variable '", name,
                                          "'; it has ", absl::StrJoin(StateVariableNames(), ", ")));
}

template <typename Real>
std::vector<std::string> Optimizer<Real>::StateVariableNames() const {
  std::vector<std::string> names;
  for (const auto& entry : buffers_) names.push_back(entry.first);
  return names;
}

template <typename Real>
absl::Status Optimizer<Real>::SetStartingPoint(absl::Span<const Real> values) {
  absl::Status s = SetModel(values);
  if (!s.ok() || MutableAnchor() == nullptr) return s;
  return SetAnchor(values);
}

template <typename Real>
void Optimizer<Real>::CollectSamples() {
  const SampleCollection& rule = spec_.samples;
  if (!rule.CollectsAfterStep(step_)) return;
  auto keep = [&](typename Sample::Variable variable, absl::Span<const Real> values) {
    int64_t same = 0;
    for (const Sample& s : samples_) same += s.variable == variable ? 1 : 0;
    if (same >= rule.max_samples) {
      for (auto it = samples_.begin(); it != samples_.end(); ++it) {
        if (it->variable == variable) {
          samples_.erase(it);
          ++samples_dropped_;
          break;
        }
      }
    }
    Sample sample{step_, variable, Buffer(values.size())};
    std::memcpy(sample.values.data(), values.data(), values.size() * sizeof(Real));
    samples_.push_back(std::move(sample));
  };
  using W = SampleCollection::Which;
  if (rule.which == W::kModel || rule.which == W::kBoth) keep(Sample::Variable::kModel, Model());
  if (rule.which == W::kAnchor || rule.which == W::kBoth) keep(Sample::Variable::kAnchor, Anchor());
}

template <typename Real>
OptimizerStats Optimizer<Real>::Stats() const {
  OptimizerStats s;
  s.tick = tick_;
  s.step = step_;
  s.phase = phase_;
  s.ticks_per_step = ticks_per_step();
  s.lr = CurrentLr();
  s.gamma = CurrentGamma();
  s.last_loss = last_loss_;
  s.last_step_mean_loss = last_step_mean_loss_;
  s.last_gradient_norm = last_gradient_norm_;
  s.distance_to_anchor = DistanceToAnchor();
  s.samples_kept = static_cast<int64_t>(samples_.size());
  s.samples_dropped = samples_dropped_;
  return s;
}

template <typename Real>
double DistanceL2(absl::Span<const Real> a, absl::Span<const Real> b) {
  return std::sqrt(SumOfSquaredDifferences(a, b));
}

template class Optimizer<float>;
template class Optimizer<double>;
template double DistanceL2<float>(absl::Span<const float>, absl::Span<const float>);
template double DistanceL2<double>(absl::Span<const double>, absl::Span<const double>);

}  // namespace basin
