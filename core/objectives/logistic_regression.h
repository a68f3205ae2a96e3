#ifndef BASIN_CORE_OBJECTIVES_LOGISTIC_REGRESSION_H_
#define BASIN_CORE_OBJECTIVES_LOGISTIC_REGRESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layout.h"
#include "core/objectives/objective.h"

namespace basin {

// A binary classification data set held in memory.
struct ClassificationData {
  int64_t num_examples = 0;
  int64_t num_features = 0;
  std::vector<double> features = {};  // row-major, num_examples × num_features
  std::vector<double> labels = {};    // num_examples values, each exactly 0 or 1
};

// OK, or InvalidArgument naming the first problem: a non-positive size, a buffer whose length
// does not match the sizes, a non-finite feature, or a label other than 0 and 1.
absl::Status ValidateClassificationData(const ClassificationData& data);

// A reproducible, nearly linearly separable data set: features x ~ N(0, I_p); a teacher
// w* ~ N(0, I_p / p), b* ~ N(0, 1/4) (so the teacher's logit w*·x + b* has variance about 1);
// label y = [w*·x + b* + label_noise·ε > 0] with ε ~ N(0, 1). label_noise = 0 gives a separable
// set; 0.1 flips a few percent of the labels near the boundary. Every draw is Philox noise keyed
// by `seed` alone, so the same arguments give the same bytes on every machine.
absl::StatusOr<ClassificationData> MakeSyntheticClassificationData(uint64_t seed,
                                                                   int64_t num_examples,
                                                                   int64_t num_features,
                                                                   double label_noise);

// The example indices of one minibatch: `batch_size` draws with replacement from
// [0, num_examples), a pure function of (sample.seed, sample.tick). Index k is
// ⌊h·num_examples / 2^64⌋ with h = M(M(M(seed ⊕ D) ⊕ tick) ⊕ k), M the SplitMix64 finalizer
// (Steele et al. 2014) applied after its golden-ratio increment and D a constant that keeps
// these hashes apart from other uses of the seed. Shared by every data-driven objective, so the
// same SampleKey picks the same examples in each of them.
std::vector<int64_t> MinibatchIndices(int64_t num_examples, int64_t batch_size,
                                      const SampleKey& sample);

struct LogisticRegressionOptions {
  // Examples per evaluation, drawn with MinibatchIndices; 0 means the full data set.
  int64_t batch_size = 0;
  // With a bias the layout is "w" [p] then "b" [] (a scalar); without it just "w" [p].
  bool fit_bias = true;
};

// Binary logistic regression: the loss is the mean Bernoulli negative log-likelihood over the
// batch, ℓ(z, y) = log1p(exp(−|z|)) + max(z, 0) − y·z with z = w·x + b, which neither overflows
// nor cancels for any z.
class LogisticRegression final : public Objective {
 public:
  // Fails with ValidateClassificationData's message, or on a negative batch size.
  static absl::StatusOr<std::unique_ptr<LogisticRegression>> Create(
      ClassificationData data, LogisticRegressionOptions options = {});

  std::string name() const override { return "logistic_regression"; }
  const ParameterLayout& layout() const override { return layout_; }
  double Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                  const SampleKey& sample) const override;

  const ClassificationData& data() const { return data_; }
  const LogisticRegressionOptions& options() const { return options_; }
  // Fraction of all examples whose label is predicted correctly (z > 0 predicts 1) by the
  // parameters x, laid out as layout() says.
  double Accuracy(absl::Span<const double> x) const;

 private:
  LogisticRegression(ClassificationData data, LogisticRegressionOptions options);

  ClassificationData data_;
  LogisticRegressionOptions options_;
  ParameterLayout layout_;
};

// The fraction of `data` that the linear classifier (w, b) labels correctly, z > 0 meaning 1.
// w.size() must equal data.num_features.
double ClassificationAccuracy(const ClassificationData& data, absl::Span<const double> w,
                              double b);

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_LOGISTIC_REGRESSION_H_
