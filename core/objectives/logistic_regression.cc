#include "core/objectives/logistic_regression.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "core/noise.h"

namespace basin {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Philox streams of the synthetic data, in the objectives' range (see quadratic.cc). Tick 0.
constexpr uint32_t kFeatureStream = 0x4C524600;  // "LRF\0"
constexpr uint32_t kTeacherStream = 0x4C525400;  // "LRT\0"
constexpr uint32_t kLabelNoiseStream = 0x4C524E00;  // "LRN\0"

// Keeps minibatch hashes of a seed apart from anything else derived from the same seed.
constexpr uint64_t kMinibatchDomain = 0x6D696E6962617463;  // "minibatc"

uint64_t SplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// ℓ(z, y) = −y log σ(z) − (1 − y) log σ(−z), written so that exp never sees a positive argument.
double BernoulliNll(double z, double y) {
  return std::log1p(std::exp(-std::abs(z))) + std::max(z, 0.0) - y * z;
}

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// Mean NLL over the rows of `features`, and (unless `gradient` is empty) its gradient in the
// layout order: w, then b when `fit_bias`.
double LossAndGradient(const Eigen::Ref<const RowMatrix>& features,
                       const Eigen::Ref<const Eigen::VectorXd>& labels,
                       absl::Span<const double> x, bool fit_bias, absl::Span<double> gradient) {
  const Eigen::Index p = features.cols();
  const double inverse_batch = 1.0 / static_cast<double>(features.rows());
  const Eigen::Map<const Eigen::VectorXd> w(x.data(), p);
  const double b = fit_bias ? x[static_cast<std::size_t>(p)] : 0.0;

  const Eigen::VectorXd z = (features * w).array() + b;
  double loss = 0;
  Eigen::VectorXd residual(z.size());  // dℓ/dz = σ(z) − y
  for (Eigen::Index i = 0; i < z.size(); ++i) {
    loss += BernoulliNll(z[i], labels[i]);
    residual[i] = Sigmoid(z[i]) - labels[i];
  }
  if (!gradient.empty()) {
    Eigen::Map<Eigen::VectorXd> gradient_w(gradient.data(), p);
    gradient_w.noalias() = features.transpose() * residual;
    gradient_w *= inverse_batch;
    if (fit_bias) gradient[static_cast<std::size_t>(p)] = residual.sum() * inverse_batch;
  }
  return loss * inverse_batch;
}

}  // namespace

absl::Status ValidateClassificationData(const ClassificationData& data) {
  if (data.num_examples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_examples must be >= 1, got ", data.num_examples));
  }
  if (data.num_features < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_features must be >= 1, got ", data.num_features));
  }
  if (data.num_examples > ParameterLayout::kMaxElements / data.num_features) {
    return absl::InvalidArgumentError(absl::StrCat("num_examples × num_features = ",
                                                   data.num_examples, " × ", data.num_features,
                                                   " is too large"));
  }
  const auto expected_features = static_cast<std::size_t>(data.num_examples * data.num_features);
  if (data.features.size() != expected_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features has ", data.features.size(), " values, expected num_examples × num_features = ",
        data.num_examples, " × ", data.num_features, " = ", expected_features));
  }
  if (data.labels.size() != static_cast<std::size_t>(data.num_examples)) {
    return absl::InvalidArgumentError(absl::StrCat("labels has ", data.labels.size(),
                                                   " values, expected num_examples = ",
                                                   data.num_examples));
  }
  for (std::size_t i = 0; i < data.features.size(); ++i) {
    if (!std::isfinite(data.features[i])) {
      return absl::InvalidArgumentError(absl::StrCat("feature ", i / data.num_features, ",",
                                                     i % data.num_features,
                                                     " is not finite: ", data.features[i]));
    }
  }
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    if (data.labels[i] != 0.0 && data.labels[i] != 1.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", i, " must be 0 or 1, got ", data.labels[i]));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClassificationData> MakeSyntheticClassificationData(uint64_t seed,
                                                                   int64_t num_examples,
                                                                   int64_t num_features,
                                                                   double label_noise) {
  if (num_examples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_examples must be >= 1, got ", num_examples));
  }
  if (num_features < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_features must be >= 1, got ", num_features));
  }
  if (num_examples > ParameterLayout::kMaxElements / num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_examples × num_features = ", num_examples, " × ", num_features, " is too large"));
  }
  if (!(std::isfinite(label_noise) && label_noise >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("label_noise must be finite and >= 0, got ", label_noise));
  }
  const PhiloxNormalNoise normal(seed);
  ClassificationData data;
  data.num_examples = num_examples;
  data.num_features = num_features;
  data.features.resize(static_cast<std::size_t>(num_examples * num_features));
  normal.Fill(0, kFeatureStream, 0, absl::MakeSpan(data.features));

  std::vector<double> teacher(static_cast<std::size_t>(num_features + 1));  // w*, then b*
  normal.Fill(0, kTeacherStream, 0, absl::MakeSpan(teacher));
  const double weight_scale = 1.0 / std::sqrt(static_cast<double>(num_features));
  const double teacher_bias = 0.5 * teacher.back();

  std::vector<double> label_noise_draws(static_cast<std::size_t>(num_examples));
  normal.Fill(0, kLabelNoiseStream, 0, absl::MakeSpan(label_noise_draws));

  const Eigen::Map<const RowMatrix> features(data.features.data(), num_examples, num_features);
  const Eigen::VectorXd teacher_logit =
      (features * (weight_scale * Eigen::Map<const Eigen::VectorXd>(teacher.data(), num_features)))
          .array() +
      teacher_bias;
  data.labels.resize(static_cast<std::size_t>(num_examples));
  for (int64_t i = 0; i < num_examples; ++i) {
    const auto k = static_cast<std::size_t>(i);
    data.labels[k] = teacher_logit[i] + label_noise * label_noise_draws[k] > 0 ? 1.0 : 0.0;
  }
  return data;
}

std::vector<int64_t> MinibatchIndices(int64_t num_examples, int64_t batch_size,
                                      const SampleKey& sample) {
  std::vector<int64_t> indices(static_cast<std::size_t>(batch_size > 0 ? batch_size : 0));
  const uint64_t per_tick = SplitMix64(SplitMix64(sample.seed ^ kMinibatchDomain) ^ sample.tick);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const uint64_t h = SplitMix64(per_tick ^ k);
    // Lemire's multiply-shift maps h onto [0, n); the bias is at most n / 2^64.
    indices[k] = static_cast<int64_t>(
        (static_cast<unsigned __int128>(h) * static_cast<uint64_t>(num_examples)) >> 64);
  }
  return indices;
}

absl::StatusOr<std::unique_ptr<LogisticRegression>> LogisticRegression::Create(
    ClassificationData data, LogisticRegressionOptions options) {
  if (absl::Status s = ValidateClassificationData(data); !s.ok()) return s;
  // A batch drawn with replacement larger than the data set buys nothing and would let a
  // caller size an allocation at will.
  if (options.batch_size < 0 || options.batch_size > data.num_examples) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be in [0, num_examples = ", data.num_examples,
                                                   "] (0 = full batch), got ", options.batch_size));
  }
  return std::unique_ptr<LogisticRegression>(
      new LogisticRegression(std::move(data), options));
}

LogisticRegression::LogisticRegression(ClassificationData data, LogisticRegressionOptions options)
    : data_(std::move(data)), options_(options) {
  std::vector<TensorSpec> tensors = {{"w", {data_.num_features}}};
  if (options_.fit_bias) tensors.push_back({"b", {}});
  layout_ = *ParameterLayout::Create(std::move(tensors));
}

double LogisticRegression::Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                                    const SampleKey& sample) const {
  const Eigen::Map<const RowMatrix> features(data_.features.data(), data_.num_examples,
                                             data_.num_features);
  const Eigen::Map<const Eigen::VectorXd> labels(data_.labels.data(), data_.num_examples);
  if (options_.batch_size == 0) {
    return LossAndGradient(features, labels, x, options_.fit_bias, gradient);
  }
  const std::vector<int64_t> batch =
      MinibatchIndices(data_.num_examples, options_.batch_size, sample);
  RowMatrix batch_features(options_.batch_size, data_.num_features);
  Eigen::VectorXd batch_labels(options_.batch_size);
  for (std::size_t k = 0; k < batch.size(); ++k) {
    const auto row = static_cast<Eigen::Index>(k);
    batch_features.row(row) = features.row(batch[k]);
    batch_labels[row] = labels[batch[k]];
  }
  return LossAndGradient(batch_features, batch_labels, x, options_.fit_bias, gradient);
}

double LogisticRegression::Accuracy(absl::Span<const double> x) const {
  const auto p = static_cast<std::size_t>(data_.num_features);
  return ClassificationAccuracy(data_, x.subspan(0, p), options_.fit_bias ? x[p] : 0.0);
}

double ClassificationAccuracy(const ClassificationData& data, absl::Span<const double> w,
                              double b) {
  const Eigen::Map<const RowMatrix> features(data.features.data(), data.num_examples,
                                             data.num_features);
  const Eigen::VectorXd z =
      (features * Eigen::Map<const Eigen::VectorXd>(w.data(), data.num_features)).array() + b;
  int64_t correct = 0;
  for (int64_t i = 0; i < data.num_examples; ++i) {
    const bool predicted = z[i] > 0;
    correct += predicted == (data.labels[static_cast<std::size_t>(i)] == 1.0) ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(data.num_examples);
}

}  // namespace basin
