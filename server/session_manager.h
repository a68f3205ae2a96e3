#ifndef BASIN_SERVER_SESSION_MANAGER_H_
#define BASIN_SERVER_SESSION_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <condition_variable>
#include <mutex>
#include "core/layout.h"
#include "core/optimizer_config.h"
#include "server/session.h"

namespace basin {

// The server's limits. Every refusal is RESOURCE_EXHAUSTED naming the limit and the value.
struct ServerLimits {
  int64_t max_sessions = 1024;
  int64_t max_parameters_per_session = int64_t{1} << 30;
  int64_t max_total_state_bytes = int64_t{16} << 30;
  int64_t max_chunk_bytes = int64_t{4} << 20;
  int max_workers_per_session = 64;
  int max_metric_runs = 64;  // sessions with a per-run metrics label at once
};

struct CreateSessionSpec {
  ParameterLayout layout;
  DType dtype = DType::kF32;
  OptimizerSpec optimizer;
  WorkerPolicy workers;
  NonFinitePolicy nonfinite_policy = NonFinitePolicy::kReject;
  // Idempotency: a second Create with the same request_id and fingerprint returns the first
  // session; with another fingerprint it is ALREADY_EXISTS.
  std::string request_id;
  std::string fingerprint;
  // Opt-in per-run metrics label ("" for none): 1–32 of [A-Za-z0-9_.-], unique among live
  // sessions, at most ServerLimits::max_metric_runs at once.
  std::string metrics_run;
  // Runs on the new optimizer before the session is visible (initial values); an error aborts
  // the creation.
  std::function<absl::Status(AnyOptimizer&)> initialize;
};

class SessionManager {
 public:
  // `metrics` (may be null) counts sessions created and deleted and is handed to each session.
  explicit SessionManager(ServerLimits limits, ServerMetrics* metrics = nullptr)
      : limits_(limits), metrics_(metrics) {}

  const ServerLimits& limits() const { return limits_; }

  absl::StatusOr<std::shared_ptr<Session>> Create(CreateSessionSpec spec);
  // NOT_FOUND naming the id.
  absl::StatusOr<std::shared_ptr<Session>> Get(const std::string& id) const;
  absl::Status Delete(const std::string& id);

  struct Page {
    std::vector<std::shared_ptr<Session>> sessions;
    std::string next_page_token;  // empty on the last page
  };
  // Sessions ordered by id, after `page_token` (the last id of the previous page).
  absl::StatusOr<Page> List(int page_size, const std::string& page_token) const;

  int64_t num_sessions() const;
  int64_t total_state_bytes() const;
  // The sessions with a metrics_run label, ordered by label.
  std::vector<std::shared_ptr<Session>> MetricsRuns() const;

 private:
  std::string NewId();
  // The session an earlier Create with spec's request id made; nullptr if there was none.
  absl::StatusOr<std::shared_ptr<Session>> Replay(const CreateSessionSpec& spec) const;
  absl::Status CheckRoomForOneMore() const;
  absl::Status CheckMetricsRunAvailable(const std::string& label) const;

  const ServerLimits limits_;
  ServerMetrics* const metrics_;
  // std::mutex, not absl::Mutex: TSan sees pthread locks, and Debian's Abseil is not instrumented.
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  struct Request {
    std::string fingerprint;
    std::string session_id;
  };
  std::map<std::string, Request> requests_;
  std::map<std::string, std::shared_ptr<Session>> metrics_runs_;  // by label
  int64_t total_state_bytes_ = 0;
  uint64_t id_counter_ = 0;
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_MANAGER_H_
