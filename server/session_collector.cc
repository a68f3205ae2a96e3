#include "server/session_collector.h"

#include <string>

#include "core/optimizer_config.h"

namespace basin {
namespace {

prometheus::MetricFamily Gauge(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void AddSample(prometheus::MetricFamily& family, double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace

std::vector<prometheus::MetricFamily> SessionCollector::Collect() const {
  const ServerLimits& limits = sessions_->limits();
  std::vector<prometheus::MetricFamily> families;

  families.push_back(Gauge("basin_sessions", "Sessions held"));
  AddSample(families.back(), static_cast<double>(sessions_->num_sessions()));
  families.push_back(Gauge("basin_sessions_evicted",
                           "Sessions held on disk only: idle past --idle_session_ttl, reloaded at their next use"));
  AddSample(families.back(), static_cast<double>(sessions_->num_evicted()));
  families.push_back(Gauge("basin_sessions_limit", "Most sessions the server holds (--max_sessions)"));
  AddSample(families.back(), static_cast<double>(limits.max_sessions));
  families.push_back(Gauge("basin_state_bytes", "Bytes of optimizer state over all sessions"));
  AddSample(families.back(), static_cast<double>(sessions_->total_state_bytes()));
  families.push_back(Gauge("basin_state_bytes_limit", "Most bytes of optimizer state (--max_total_state_bytes)"));
  AddSample(families.back(), static_cast<double>(limits.max_total_state_bytes));

  prometheus::MetricFamily loss = Gauge("basin_run_loss", "Loss told with the run's last gradient");
  prometheus::MetricFamily gradient_norm = Gauge("basin_run_gradient_norm", "L2 norm of the run's last gradient");
  prometheus::MetricFamily lr = Gauge("basin_run_lr", "Learning rate of the run's current step");
  prometheus::MetricFamily gamma = Gauge("basin_run_gamma", "Entropy-SGD scope gamma of the run's current step");
  prometheus::MetricFamily distance = Gauge("basin_run_distance_to_anchor",
                                            "L2 distance of the run's model to its anchor: theta - theta_a for "
                                            "Entropy-MCMC, x - x' for Entropy-SGD, w - (w + eps) between SAM's two "
                                            "ticks, 0 for SGD and SGLD");
  prometheus::MetricFamily step = Gauge("basin_run_step", "Outer steps the run has completed");
  for (const SessionSummary& session : sessions_->MetricsRuns()) {
    const OptimizerStats& stats = session.stats;
    const std::vector<prometheus::ClientMetric::Label> labels{
        {"optimizer", std::string(OptimizerName(session.spec.config))}, {"run", session.metrics_run}};
    AddSample(loss, stats.last_loss, labels);
    AddSample(gradient_norm, stats.last_gradient_norm, labels);
    AddSample(lr, stats.lr, labels);
    AddSample(gamma, stats.gamma, labels);
    AddSample(distance, stats.distance_to_anchor, labels);
    AddSample(step, static_cast<double>(stats.step), labels);
  }
  for (auto* family : {&loss, &gradient_norm, &lr, &gamma, &distance, &step}) {
    if (!family->metric.empty()) families.push_back(std::move(*family));
  }
  return families;
}

}  // namespace basin
