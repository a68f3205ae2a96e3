#include "core/objectives/sigmoid_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <utility>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "core/noise.h"
#include "core/objectives/logistic_regression.h"

namespace basin {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Philox streams, in the objectives' range (see quadratic.cc).
constexpr uint32_t kInputStream = 0x53454900;       // "SEI\0"
constexpr uint32_t kTeacherStream = 0x53455400;     // "SET\0"
constexpr uint32_t kLabelNoiseStream = 0x53454E00;  // "SEN\0"
constexpr uint32_t kInitStream = 0x53455700;        // "SEW\0", keyed by init_seed

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

absl::Status CheckSizes(int64_t num_examples, int64_t num_inputs, int64_t num_outputs) {
  if (num_examples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_examples must be >= 1, got ", num_examples));
  }
  if (num_inputs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_inputs must be >= 1, got ", num_inputs));
  }
  if (num_outputs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_outputs must be >= 1, got ", num_outputs));
  }
  const int64_t widest = std::max(num_inputs, num_outputs);
  if (num_examples > ParameterLayout::kMaxElements / widest ||
      num_outputs > ParameterLayout::kMaxElements / (2 * num_inputs + 1)) {
    return absl::InvalidArgumentError(absl::StrCat("sizes num_examples = ", num_examples,
                                                   ", num_inputs = ", num_inputs,
                                                   ", num_outputs = ", num_outputs,
                                                   " are too large"));
  }
  return absl::OkStatus();
}

}  // namespace

double BinaryEntropyBits(double z) {
  const double a = std::abs(z);
  const double e = std::exp(-a);
  if (e == 0) return 0.0;  // |z| beyond ~745, where a·e would be inf·0 for z = ±inf
  return (std::log1p(e) + a * e / (1.0 + e)) / std::numbers::ln2;
}

double BinaryEntropyBitsDerivative(double z) {
  const double e = std::exp(-std::abs(z));
  if (e == 0) return 0.0;
  const double one_plus_e = 1.0 + e;
  return -z * e / (one_plus_e * one_plus_e) / std::numbers::ln2;
}

absl::StatusOr<SigmoidLayerData> MakeSyntheticSigmoidLayerData(uint64_t seed, int64_t num_examples,
                                                               int64_t num_inputs,
                                                               int64_t num_outputs,
                                                               bool with_targets,
                                                               double label_noise) {
  if (absl::Status s = CheckSizes(num_examples, num_inputs, num_outputs); !s.ok()) return s;
  if (!(std::isfinite(label_noise) && label_noise >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("label_noise must be finite and >= 0, got ", label_noise));
  }
  const PhiloxNormalNoise normal(seed);
  SigmoidLayerData data;
  data.num_examples = num_examples;
  data.num_inputs = num_inputs;
  data.inputs.resize(static_cast<std::size_t>(num_examples * num_inputs));
  normal.Fill(0, kInputStream, 0, absl::MakeSpan(data.inputs));
  if (!with_targets) return data;

  RowMatrix teachers(num_outputs, num_inputs);
  normal.Fill(0, kTeacherStream, 0, absl::MakeSpan(teachers.data(), teachers.size()));
  teachers /= std::sqrt(static_cast<double>(num_inputs));
  data.targets.resize(static_cast<std::size_t>(num_examples * num_outputs));
  Eigen::Map<RowMatrix> targets(data.targets.data(), num_examples, num_outputs);
  normal.Fill(0, kLabelNoiseStream, 0, absl::MakeSpan(data.targets));  // ε, then overwritten
  const Eigen::Map<const RowMatrix> inputs(data.inputs.data(), num_examples, num_inputs);
  const RowMatrix logits = inputs * teachers.transpose() + label_noise * targets;
  targets = (logits.array() > 0).cast<double>().matrix();
  return data;
}

absl::StatusOr<std::unique_ptr<SigmoidEntropyObjective>> SigmoidEntropyObjective::Create(
    SigmoidLayerData data, SigmoidEntropyOptions options) {
  if (absl::Status s = CheckSizes(data.num_examples, data.num_inputs, options.num_outputs);
      !s.ok()) {
    return s;
  }
  const auto expected_inputs = static_cast<std::size_t>(data.num_examples * data.num_inputs);
  if (data.inputs.size() != expected_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs has ", data.inputs.size(), " values, expected num_examples × num_inputs = ",
        data.num_examples, " × ", data.num_inputs, " = ", expected_inputs));
  }
  for (std::size_t i = 0; i < data.inputs.size(); ++i) {
    if (!std::isfinite(data.inputs[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", i / data.num_inputs, ",", i % data.num_inputs,
                       " is not finite: ", data.inputs[i]));
    }
  }
  const auto expected_targets = static_cast<std::size_t>(data.num_examples * options.num_outputs);
  if (!data.targets.empty() && data.targets.size() != expected_targets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "targets has ", data.targets.size(),
        " values, expected none or num_examples × num_outputs = ", data.num_examples, " × ",
        options.num_outputs, " = ", expected_targets));
  }
  for (std::size_t i = 0; i < data.targets.size(); ++i) {
    if (!(data.targets[i] >= 0 && data.targets[i] <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target ", i / options.num_outputs, ",", i % options.num_outputs,
          " must be in [0, 1], got ", data.targets[i]));
    }
  }
  // A batch drawn with replacement larger than the data set buys nothing and would let a
  // caller size an allocation at will.
  if (options.batch_size < 0 || options.batch_size > data.num_examples) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be in [0, num_examples = ", data.num_examples,
                                                   "] (0 = full batch), got ", options.batch_size));
  }
  if (!std::isfinite(options.entropy_weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat("entropy_weight must be finite, got ", options.entropy_weight));
  }
  return std::unique_ptr<SigmoidEntropyObjective>(
      new SigmoidEntropyObjective(std::move(data), options));
}

SigmoidEntropyObjective::SigmoidEntropyObjective(SigmoidLayerData data,
                                                 SigmoidEntropyOptions options)
    : data_(std::move(data)), options_(options) {
  const int64_t m = options_.num_outputs;
  const int64_t n = data_.num_inputs;
  layout_ = *ParameterLayout::Create({{"W", {m, n}}, {"G", {m, n}}, {"b", {m}}});
}

std::vector<double> SigmoidEntropyObjective::InitialPoint() const {
  std::vector<double> x(static_cast<std::size_t>(dimension()), 0.0);
  const auto weights = absl::MakeSpan(x).subspan(0, static_cast<std::size_t>(layout_.size(0)));
  PhiloxNormalNoise(options_.init_seed).Fill(0, kInitStream, 0, weights);
  const double scale = 1.0 / std::sqrt(static_cast<double>(data_.num_inputs));
  for (double& w : weights) w *= scale;
  return x;
}

double SigmoidEntropyObjective::Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                                         const SampleKey& sample) const {
  const int64_t m = options_.num_outputs;
  const int64_t n = data_.num_inputs;
  const bool has_targets = !data_.targets.empty();
  const Eigen::Map<const RowMatrix> all_inputs(data_.inputs.data(), data_.num_examples, n);
  // Empty maps are never read when there are no targets.
  const Eigen::Map<const RowMatrix> all_targets(data_.targets.data(),
                                                has_targets ? data_.num_examples : 0, m);

  // The batch: a view of everything, or gathered rows.
  RowMatrix gathered_inputs;
  RowMatrix gathered_targets;
  if (options_.batch_size > 0) {
    const std::vector<int64_t> batch =
        MinibatchIndices(data_.num_examples, options_.batch_size, sample);
    gathered_inputs.resize(options_.batch_size, n);
    if (has_targets) gathered_targets.resize(options_.batch_size, m);
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const auto row = static_cast<Eigen::Index>(k);
      gathered_inputs.row(row) = all_inputs.row(batch[k]);
      if (has_targets) gathered_targets.row(row) = all_targets.row(batch[k]);
    }
  }
  const bool full = options_.batch_size == 0;
  const Eigen::Ref<const RowMatrix> inputs =
      full ? Eigen::Ref<const RowMatrix>(all_inputs) : Eigen::Ref<const RowMatrix>(gathered_inputs);
  const Eigen::Ref<const RowMatrix> targets =
      full ? Eigen::Ref<const RowMatrix>(all_targets)
           : Eigen::Ref<const RowMatrix>(gathered_targets);

  const Eigen::Map<const RowMatrix> w(x.data() + layout_.offset(0), m, n);
  const Eigen::Map<const RowMatrix> g(x.data() + layout_.offset(1), m, n);
  const Eigen::Map<const Eigen::RowVectorXd> b(x.data() + layout_.offset(2), m);
  const RowMatrix effective_weights = w + g;
  RowMatrix z = inputs * effective_weights.transpose();  // batch × m
  z.rowwise() += b;

  const double lambda = options_.entropy_weight;
  const double inverse_batch = 1.0 / static_cast<double>(inputs.rows());
  double cross_entropy = 0;
  double entropy = 0;
  RowMatrix dloss_dz(z.rows(), z.cols());  // per example, before the 1/B of the mean
  for (Eigen::Index k = 0; k < z.rows(); ++k) {
    for (Eigen::Index i = 0; i < m; ++i) {
      const double zi = z(k, i);
      double d = lambda * BinaryEntropyBitsDerivative(zi);
      entropy += BinaryEntropyBits(zi);
      if (has_targets) {
        const double y = targets(k, i);
        cross_entropy += std::log1p(std::exp(-std::abs(zi))) + std::max(zi, 0.0) - y * zi;
        d += Sigmoid(zi) - y;
      }
      dloss_dz(k, i) = d;
    }
  }
  const double loss = (cross_entropy + lambda * entropy) * inverse_batch;
  if (gradient.empty()) return loss;

  Eigen::Map<RowMatrix> gradient_w(gradient.data() + layout_.offset(0), m, n);
  Eigen::Map<RowMatrix> gradient_g(gradient.data() + layout_.offset(1), m, n);
  Eigen::Map<Eigen::RowVectorXd> gradient_b(gradient.data() + layout_.offset(2), m);
  gradient_w.noalias() = dloss_dz.transpose() * inputs;
  gradient_w *= inverse_batch;
  gradient_g = gradient_w;
  gradient_b = dloss_dz.colwise().sum() * inverse_batch;
  return loss;
}

}  // namespace basin
