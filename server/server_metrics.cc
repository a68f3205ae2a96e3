#include "server/server_metrics.h"


#include "core/optimizer_config.h"

namespace basin {

const prometheus::Histogram::BucketBoundaries& ServerMetrics::LatencyBuckets() {
  // Literals, so the le labels read 0.0001 rather than the products of a loop.
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60};
  return *buckets;
}

ServerMetrics::ServerMetrics(absl::string_view version) : registry_(std::make_shared<prometheus::Registry>()) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  prometheus::Registry& r = *registry_;

  BuildGauge()
      .Name("basin_build_info")
      .Help("Always 1; the version label says which basin-server this is")
      .Register(r)
      .Add({{"version", std::string(version)}})
      .Set(1);

  auto& ticks = BuildCounter().Name("basin_ticks_total").Help("Gradients applied to optimizers (ticks)").Register(r);
  auto& steps = BuildCounter().Name("basin_steps_total").Help("Outer optimizer steps completed").Register(r);
  auto& compute = BuildHistogram()
                      .Name("basin_tick_compute_seconds")
                      .Help("Time of the optimizer update of one Train-stream tick, under the session lock")
                      .Register(r);
  auto& tick = BuildHistogram()
                   .Name("basin_tick_seconds")
                   .Help("Server time of one applied Train-stream gradient: first chunk read to acknowledgement "
                         "written, quorum wait excluded")
                   .Register(r);
  auto& created = BuildCounter().Name("basin_sessions_created_total").Help("Sessions created").Register(r);
  auto& deleted = BuildCounter().Name("basin_sessions_deleted_total").Help("Sessions deleted").Register(r);
  for (const std::string& name : OptimizerNames()) {
    const prometheus::Labels labels{{"optimizer", name}};
    OptimizerSeries series;
    series.ticks = &ticks.Add(labels);
    series.steps = &steps.Add(labels);
    series.tick_compute_seconds = &compute.Add(labels, LatencyBuckets());
    series.tick_seconds = &tick.Add(labels, LatencyBuckets());
    series.sessions_created = &created.Add(labels);
    series.sessions_deleted = &deleted.Add(labels);
    optimizers_.emplace(name, series);
  }

  gradient_bytes_ = &BuildCounter()
                         .Name("basin_gradient_bytes_total")
                         .Help("Bytes of gradient tensor data received on Train streams")
                         .Register(r)
                         .Add({});
  auto& parameter_bytes = BuildCounter()
                              .Name("basin_parameter_bytes_total")
                              .Help("Bytes of parameter tensor data: received (PutParameters, initial values) or "
                                    "sent (query points, GetParameters)")
                              .Register(r);
  parameter_bytes_received_ = &parameter_bytes.Add({{"direction", "received"}});
  parameter_bytes_sent_ = &parameter_bytes.Add({{"direction", "sent"}});

  auto& stale = BuildCounter()
                    .Name("basin_stale_gradients_total")
                    .Help("Gradients computed at an older tick than the session's: applied within the async "
                          "staleness bound, rejected beyond it, or dropped after their sync tick closed")
                    .Register(r);
  stale_applied_ = &stale.Add({{"outcome", "applied"}});
  stale_rejected_ = &stale.Add({{"outcome", "rejected"}});
  stale_dropped_ = &stale.Add({{"outcome", "dropped"}});
  auto& nonfinite = BuildCounter()
                        .Name("basin_gradients_nonfinite_total")
                        .Help("Train-stream gradients with NaN or Inf in an element or the loss: rejected "
                              "(INVALID_ARGUMENT) or skipped, as the session's nonfinite_policy says")
                        .Register(r);
  nonfinite_rejected_ = &nonfinite.Add({{"action", "rejected"}});
  nonfinite_skipped_ = &nonfinite.Add({{"action", "skipped"}});

  train_streams_ = &BuildGauge().Name("basin_train_streams").Help("Open Train streams").Register(r).Add({});

  snapshot_seconds_ = &BuildHistogram()
                           .Name("basin_snapshot_seconds")
                           .Help("Time to write one session snapshot, fsync and rename included")
                           .Register(r)
                           .Add({}, LatencyBuckets());
  snapshot_failures_ =
      &BuildCounter().Name("basin_snapshot_failures_total").Help("Session snapshots that failed").Register(r).Add({});
  wal_fsync_seconds_ = &BuildHistogram()
                            .Name("basin_wal_fsync_seconds")
                            .Help("Time of one write-ahead-log fsync")
                            .Register(r)
                            .Add({}, LatencyBuckets());

  grpc_started_ = &BuildCounter().Name("grpc_server_started_total").Help("RPCs started on the server").Register(r);
  grpc_handled_ = &BuildCounter()
                       .Name("grpc_server_handled_total")
                       .Help("RPCs completed on the server, by status code")
                       .Register(r);
  grpc_handling_seconds_ = &BuildHistogram()
                                .Name("grpc_server_handling_seconds")
                                .Help("RPC duration on the server, from arrival to status (whole stream for streams)")
                                .Register(r);
  grpc_msg_received_ =
      &BuildCounter().Name("grpc_server_msg_received_total").Help("Stream messages received").Register(r);
  grpc_msg_sent_ = &BuildCounter().Name("grpc_server_msg_sent_total").Help("Stream messages sent").Register(r);
}

const OptimizerSeries* ServerMetrics::ForOptimizer(absl::string_view name) const {
  auto it = optimizers_.find(name);
  return it == optimizers_.end() ? nullptr : &it->second;
}

}  // namespace basin
