// Logistic regression trained through basin with the C++ client: the model, the data and the
// gradients are this program's own; basin-server only runs the optimizer.
//
//   basin-server --listen=127.0.0.1:50051 &
//   basin-example-logistic --target=127.0.0.1:50051 --optimizer=sgd --steps=300
//
// Flags: --target, --optimizer=sgd|entropy_sgd|sam|sgld|emcmc, --steps (outer steps),
// --examples, --features, --batch_size, --seed, --min_accuracy (exit 1 below it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cpp/basin_client.h"

namespace {

namespace v1 = basin::v1;

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string optimizer = "sgd";
  int64_t steps = 200;
  int64_t examples = 2000;
  int64_t features = 10;
  int64_t batch_size = 64;
  uint64_t seed = 42;
  double min_accuracy = 0;
};

// A synthetic, nearly separable data set: x ~ N(0, I), y = [w*·x + b* + 0.3ε > 0].
struct Data {
  int64_t n = 0, p = 0;
  std::vector<float> x;  // n × p, row-major
  std::vector<float> y;  // 0 or 1
};

Data MakeData(int64_t n, int64_t p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> teacher(static_cast<std::size_t>(p));
  for (double& t : teacher) t = normal(rng) / std::sqrt(static_cast<double>(p));
  const double bias = 0.5 * normal(rng);
  Data d{n, p, std::vector<float>(static_cast<std::size_t>(n * p)), std::vector<float>(static_cast<std::size_t>(n))};
  for (int64_t i = 0; i < n; ++i) {
    double z = bias + 0.3 * normal(rng);
    for (int64_t j = 0; j < p; ++j) {
      const double v = normal(rng);
      d.x[static_cast<std::size_t>(i * p + j)] = static_cast<float>(v);
      z += teacher[static_cast<std::size_t>(j)] * v;
    }
    d.y[static_cast<std::size_t>(i)] = z > 0 ? 1.0f : 0.0f;
  }
  return d;
}

// Mean logistic loss over `rows` at theta = (w[p], b); writes its gradient into `grad`.
double LossAndGradient(const Data& d, const std::vector<float>& theta, const std::vector<int64_t>& rows,
                       std::vector<float>* grad) {
  const int64_t p = d.p;
  std::vector<double> g(static_cast<std::size_t>(p + 1), 0.0);
  double loss = 0;
  for (int64_t i : rows) {
    const float* xi = &d.x[static_cast<std::size_t>(i * p)];
    double z = theta[static_cast<std::size_t>(p)];
    for (int64_t j = 0; j < p; ++j) z += static_cast<double>(theta[static_cast<std::size_t>(j)]) * xi[j];
    const double y = d.y[static_cast<std::size_t>(i)];
    loss += std::log1p(std::exp(-std::fabs(z))) + std::max(z, 0.0) - y * z;  // stable BCE
    const double r = 1.0 / (1.0 + std::exp(-z)) - y;
    for (int64_t j = 0; j < p; ++j) g[static_cast<std::size_t>(j)] += r * xi[j];
    g[static_cast<std::size_t>(p)] += r;
  }
  const double m = static_cast<double>(rows.size());
  grad->resize(static_cast<std::size_t>(p + 1));
  for (std::size_t j = 0; j < g.size(); ++j) (*grad)[j] = static_cast<float>(g[j] / m);
  return loss / m;
}

double Accuracy(const Data& d, const std::vector<float>& theta) {
  int64_t correct = 0;
  for (int64_t i = 0; i < d.n; ++i) {
    double z = theta[static_cast<std::size_t>(d.p)];
    for (int64_t j = 0; j < d.p; ++j) z += static_cast<double>(theta[static_cast<std::size_t>(j)]) * d.x[static_cast<std::size_t>(i * d.p + j)];
    correct += (z > 0) == (d.y[static_cast<std::size_t>(i)] > 0.5f);
  }
  return static_cast<double>(correct) / static_cast<double>(d.n);
}

// The minibatch of a query point depends only on (seed, minibatch_key): SAM's two ticks of a
// step carry one key and so see the same examples.
std::vector<int64_t> Minibatch(const Data& d, int64_t batch_size, uint64_t seed, int64_t key) {
  std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(key + 1)));
  std::uniform_int_distribution<int64_t> pick(0, d.n - 1);
  std::vector<int64_t> rows(static_cast<std::size_t>(batch_size));
  for (int64_t& r : rows) r = pick(rng);
  return rows;
}

v1::OptimizerConfig Optimizer(const std::string& name, int64_t num_examples) {
  v1::OptimizerConfig c;
  if (name == "sgd") {
    c.mutable_sgd()->set_lr(0.5);
    c.mutable_sgd()->set_momentum(0.9);
  } else if (name == "entropy_sgd") {
    v1::EntropySgdConfig& e = *c.mutable_entropy_sgd();
    e.set_variant(v1::EntropySgdConfig::VARIANT_LUA);
    e.set_l(5);
    e.set_inner_lr(0.5);
    e.set_lr(1.0);
  } else if (name == "sam") {
    c.mutable_sam()->set_lr(0.5);
    c.mutable_sam()->set_rho(0.05);
  } else if (name == "sgld") {
    c.mutable_sgld()->set_lr(0.5);
    c.mutable_sgld()->set_num_data(static_cast<double>(num_examples));
  } else if (name == "emcmc") {
    c.mutable_emcmc()->set_lr(0.5);
    c.mutable_emcmc()->set_num_data(static_cast<double>(num_examples));
  } else {
    std::fprintf(stderr, "unknown --optimizer=%s (sgd, entropy_sgd, sam, sgld, emcmc)\n", name.c_str());
    std::exit(2);
  }
  return c;
}

bool ParseFlag(const char* arg, const char* name, std::string* value) {
  const std::string prefix = std::string("--") + name + "=";
  if (std::string(arg).rfind(prefix, 0) != 0) return false;
  *value = std::string(arg).substr(prefix.size());
  return true;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (ParseFlag(argv[i], "target", &v)) o.target = v;
    else if (ParseFlag(argv[i], "optimizer", &v)) o.optimizer = v;
    else if (ParseFlag(argv[i], "steps", &v)) o.steps = std::stoll(v);
    else if (ParseFlag(argv[i], "examples", &v)) o.examples = std::stoll(v);
    else if (ParseFlag(argv[i], "features", &v)) o.features = std::stoll(v);
    else if (ParseFlag(argv[i], "batch_size", &v)) o.batch_size = std::stoll(v);
    else if (ParseFlag(argv[i], "seed", &v)) o.seed = std::stoull(v);
    else if (ParseFlag(argv[i], "min_accuracy", &v)) o.min_accuracy = std::stod(v);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      std::exit(2);
    }
  }
  return o;
}

int Fail(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const Data data = MakeData(o.examples, o.features, o.seed);

  std::unique_ptr<basin::client::Client> client = basin::client::Client::Connect(o.target);
  absl::StatusOr<std::string> health = client->Health();
  if (!health.ok()) return Fail(health.status(), "health");

  // The layout: w [p] and a scalar b, in this order; the model starts at zero.
  v1::CreateSessionRequest request;
  v1::SessionSpec& spec = *request.mutable_spec();
  v1::TensorSpec& w = *spec.add_tensors();
  w.set_name("w");
  w.add_shape(o.features);
  spec.add_tensors()->set_name("b");
  *spec.mutable_optimizer() = Optimizer(o.optimizer, o.examples);
  spec.set_seed(o.seed);
  absl::StatusOr<v1::Session> session = client->CreateSession(request);
  if (!session.ok()) return Fail(session.status(), "CreateSession");
  const std::string id = session->session_id();
  const int64_t ticks = o.steps * session->ticks_per_step();
  std::printf("%s: session %s, %d ticks per step, %lld ticks\n", o.optimizer.c_str(), id.c_str(),
              session->ticks_per_step(), static_cast<long long>(ticks));

  absl::StatusOr<std::unique_ptr<basin::client::TrainStream>> stream = client->Train(id);
  if (!stream.ok()) return Fail(stream.status(), "Train");
  std::vector<float> grad;
  double recent_loss = 0;
  for (int64_t k = 0; k < ticks; ++k) {
    absl::StatusOr<basin::client::Query> query = (*stream)->NextQuery();
    if (!query.ok()) return Fail(query.status(), "NextQuery");
    const double loss = LossAndGradient(data, query->values, Minibatch(data, o.batch_size, o.seed, query->minibatch_key), &grad);
    absl::StatusOr<v1::TickAck> ack = (*stream)->Tell(query->tick, grad, loss, static_cast<double>(o.batch_size));
    if (!ack.ok()) return Fail(ack.status(), "Tell");
    recent_loss = k == 0 ? loss : 0.95 * recent_loss + 0.05 * loss;
    if ((k + 1) % (ticks / 5 > 0 ? ticks / 5 : 1) == 0) {
      std::printf("  tick %6lld  step %5lld  loss (smoothed) %.4f\n", static_cast<long long>(query->tick + 1),
                  static_cast<long long>(query->step), recent_loss);
    }
  }
  if (absl::Status s = (*stream)->Close(); !s.ok()) return Fail(s, "Close");

  absl::StatusOr<std::vector<float>> model = client->GetParameters(id, v1::PARAMETER_SET_MODEL);
  if (!model.ok()) return Fail(model.status(), "GetParameters");
  std::vector<int64_t> all(static_cast<std::size_t>(data.n));
  for (int64_t i = 0; i < data.n; ++i) all[static_cast<std::size_t>(i)] = i;
  const double full_loss = LossAndGradient(data, *model, all, &grad);
  const double accuracy = Accuracy(data, *model);
  std::printf("%s: final loss %.4f, accuracy %.4f\n", o.optimizer.c_str(), full_loss, accuracy);
  client->DeleteSession(id).IgnoreError();
  if (accuracy < o.min_accuracy) {
    std::fprintf(stderr, "accuracy %.4f is below --min_accuracy=%.4f\n", accuracy, o.min_accuracy);
    return 1;
  }
  return 0;
}
