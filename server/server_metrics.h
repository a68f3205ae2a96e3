#ifndef BASIN_SERVER_SERVER_METRICS_H_
#define BASIN_SERVER_SERVER_METRICS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace basin {

// The series one optimizer's sessions feed (label optimizer="<name>").
struct OptimizerSeries {
  prometheus::Counter* ticks = nullptr;
  prometheus::Counter* steps = nullptr;
  prometheus::Histogram* tick_compute_seconds = nullptr;
  prometheus::Histogram* tick_seconds = nullptr;
  prometheus::Counter* sessions_created = nullptr;
  prometheus::Counter* sessions_deleted = nullptr;
};

// The event-driven metrics of basin-server (docs/metrics.md): counters and histograms updated as
// things happen. Gauges that describe the sessions held are read at scrape time instead
// (SessionCollector). Every label value is from a fixed set, so the series count is bounded;
// children exist from the start, so a dashboard shows 0 rather than no data.
class ServerMetrics {
 public:
  // `version` is exported as basin_build_info{version}.
  explicit ServerMetrics(absl::string_view version);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // The series of optimizer `name` ("sgd", "entropy_sgd", ...); nullptr for an unknown name.
  const OptimizerSeries* ForOptimizer(absl::string_view name) const;

  prometheus::Counter& gradient_bytes() { return *gradient_bytes_; }
  prometheus::Counter& parameter_bytes_received() { return *parameter_bytes_received_; }
  prometheus::Counter& parameter_bytes_sent() { return *parameter_bytes_sent_; }
  prometheus::Counter& stale_applied() { return *stale_applied_; }
  prometheus::Counter& stale_rejected() { return *stale_rejected_; }
  prometheus::Counter& stale_dropped() { return *stale_dropped_; }
  prometheus::Counter& nonfinite_rejected() { return *nonfinite_rejected_; }
  prometheus::Counter& nonfinite_skipped() { return *nonfinite_skipped_; }
  prometheus::Gauge& train_streams() { return *train_streams_; }
  prometheus::Histogram& snapshot_seconds() { return *snapshot_seconds_; }
  prometheus::Counter& snapshot_failures() { return *snapshot_failures_; }
  prometheus::Histogram& wal_fsync_seconds() { return *wal_fsync_seconds_; }

  // The conventional gRPC server families, fed by GrpcMetricsInterceptor.
  prometheus::Family<prometheus::Counter>& grpc_started() { return *grpc_started_; }
  prometheus::Family<prometheus::Counter>& grpc_handled() { return *grpc_handled_; }
  prometheus::Family<prometheus::Histogram>& grpc_handling_seconds() { return *grpc_handling_seconds_; }
  prometheus::Family<prometheus::Counter>& grpc_msg_received() { return *grpc_msg_received_; }
  prometheus::Family<prometheus::Counter>& grpc_msg_sent() { return *grpc_msg_sent_; }

  // Bucket bounds of every latency histogram: 50 µs to 60 s, about three per decade.
  static const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string, OptimizerSeries, std::less<>> optimizers_;
  prometheus::Counter* gradient_bytes_;
  prometheus::Counter* parameter_bytes_received_;
  prometheus::Counter* parameter_bytes_sent_;
  prometheus::Counter* stale_applied_;
  prometheus::Counter* stale_rejected_;
  prometheus::Counter* stale_dropped_;
  prometheus::Counter* nonfinite_rejected_;
  prometheus::Counter* nonfinite_skipped_;
  prometheus::Gauge* train_streams_;
  prometheus::Histogram* snapshot_seconds_;
  prometheus::Counter* snapshot_failures_;
  prometheus::Histogram* wal_fsync_seconds_;
  prometheus::Family<prometheus::Counter>* grpc_started_;
  prometheus::Family<prometheus::Counter>* grpc_handled_;
  prometheus::Family<prometheus::Histogram>* grpc_handling_seconds_;
  prometheus::Family<prometheus::Counter>* grpc_msg_received_;
  prometheus::Family<prometheus::Counter>* grpc_msg_sent_;
};

}  // namespace basin

#endif  // BASIN_SERVER_SERVER_METRICS_H_
