#ifndef BASIN_SERVER_SESSION_MANAGER_H_
#define BASIN_SERVER_SESSION_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <condition_variable>
#include <mutex>
#include <set>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "core/layout.h"
#include "core/optimizer_config.h"
#include "server/session.h"

namespace basin {

// The server's limits. Every refusal is RESOURCE_EXHAUSTED naming the limit and the value.
struct ServerLimits {
  int64_t max_sessions = 1024;
  int64_t max_sessions_per_tenant = 0;  // 0: no limit per tenant beyond max_sessions
  int64_t max_state_bytes_per_tenant = 0;  // 0: no limit per tenant beyond max_total_state_bytes
  int64_t max_parameters_per_session = int64_t{1} << 30;
  int64_t max_total_state_bytes = int64_t{16} << 30;
  int64_t max_chunk_bytes = int64_t{4} << 20;
  int max_workers_per_session = 64;
  int max_metric_runs = 64;  // sessions with a per-run metrics label at once
  int64_t max_checkpoints_per_tenant = 64;  // server-side checkpoints one tenant keeps; 0: no limit
};

struct CreateSessionSpec {
  // Who will own the session: the caller's tenant ("" is the default tenant of a server without
  // authentication).
  std::string tenant;
  ParameterLayout layout;
  DType dtype = DType::kF32;
  OptimizerSpec optimizer;
  WorkerPolicy workers;
  NonFinitePolicy nonfinite_policy = NonFinitePolicy::kReject;
  // Idempotency: a second Create of the same tenant with the same request_id and fingerprint
  // returns the first session; with another fingerprint it is ALREADY_EXISTS. Tenants do not
  // share request ids.
  std::string request_id;
  std::string fingerprint;
  // Opt-in per-run metrics label ("" for none): 1–32 of [A-Za-z0-9_.-], unique among live
  // sessions, at most ServerLimits::max_metric_runs at once.
  std::string metrics_run;
  // DurabilityFromProto's reading of spec.durability; `durability_set` says whether the client
  // chose a mode (a server without a data directory refuses one it cannot keep).
  Durability durability;
  bool durability_set = false;
  // Runs on the new optimizer before the session is visible (initial values); an error aborts
  // the creation.
  std::function<absl::Status(AnyOptimizer&)> initialize;
};

class SessionManager {
 public:
  // `metrics` (may be null) counts sessions created and deleted and is handed to each session.
  // With a `store`, sessions persist as their durability says (docs/persistence.md);
  // `snapshot_interval` is the periodic default.
  explicit SessionManager(ServerLimits limits, ServerMetrics* metrics = nullptr, SessionStore* store = nullptr,
                          absl::Duration snapshot_interval = absl::Seconds(30))
      : limits_(limits), metrics_(metrics), store_(store), snapshot_interval_(snapshot_interval) {}

  const ServerLimits& limits() const { return limits_; }
  SessionStore* store() const { return store_; }

  // Loads every session of the store (before serving). A session that cannot be recovered is
  // kept as failed, with the reason, and logged; it never stops the others.
  struct Recovery {
    int recovered = 0;
    int failed = 0;
    int64_t replayed_records = 0;
  };
  Recovery Recover();
  // Snapshots the sessions whose interval has passed; returns how many failed.
  int SnapshotDue(absl::Time now);
  // Snapshots every persisted session that changed (at shutdown); returns how many failed.
  int SnapshotAll();

  absl::StatusOr<std::shared_ptr<Session>> Create(CreateSessionSpec spec);
  // `tenant` is the caller's. Another tenant's session is NOT_FOUND with the very message of an
  // unknown id, so a tenant cannot tell whether another tenant's session exists.
  // An evicted session is reloaded from its files first (once, however many calls ask), and a
  // session's use is recorded (idle sessions are evicted after a TTL, EvictIdle).
  absl::StatusOr<std::shared_ptr<Session>> Get(const std::string& tenant, const std::string& id);
  // The session's summary without reloading it if it is evicted (GetSession, GetSessionStats).
  absl::StatusOr<SessionSummary> Describe(const std::string& tenant, const std::string& id) const;
  absl::Status Delete(const std::string& tenant, const std::string& id);

  // Sessions that could not be recovered, by id. Get answers DataLoss for them to their owner;
  // Delete removes their files.
  struct FailedSession {
    std::string tenant;
    std::string reason;
  };
  std::map<std::string, FailedSession> Failed() const;

  struct Page {
    // Evicted ones too, without reloading them, and failed ones (SessionSummary::failure).
    std::vector<SessionSummary> sessions;
    std::string next_page_token;  // empty on the last page
  };
  // The tenant's sessions ordered by id, after `page_token` (the last id of the previous page).
  absl::StatusOr<Page> List(const std::string& tenant, int page_size, const std::string& page_token) const;

  // Persisted sessions that no call has used for `ttl` and that no stream holds are snapshotted
  // (if they changed) and dropped from memory, keeping a summary; their next Get reloads them.
  // Returns how many were evicted. A ttl of zero evicts nothing.
  int EvictIdle(absl::Time now, absl::Duration ttl);

  int64_t num_sessions() const;  // resident and evicted
  int64_t num_evicted() const;
  int64_t total_state_bytes() const;
  // The sessions with a metrics_run label, ordered by label.
  std::vector<SessionSummary> MetricsRuns() const;

 private:
  std::string NewId();
  // Makes a built session visible, checking the limits again under the lock; its state's
  // reservation (`reserved` bytes) ends either way.
  absl::StatusOr<std::shared_ptr<Session>> Insert(std::shared_ptr<Session> session, const CreateSessionSpec& spec,
                                                  int64_t reserved);
  // Holds or releases state bytes (and sessions) against a tenant and the server (under mu_).
  void Reserve(const std::string& tenant, int64_t bytes, int64_t sessions);
  void Release(const std::string& tenant, int64_t bytes, int64_t sessions);
  // Counts a session against its tenant and the server and makes it reachable (under mu_).
  void Admit(const std::shared_ptr<Session>& session);
  // The id of the session an earlier Create with spec's request id made; "" if there was none.
  absl::StatusOr<std::string> Replay(const CreateSessionSpec& spec) const;
  std::string TenantOf(const std::string& id) const;  // of a resident or evicted session (under mu_)
  // Why `id` is not the tenant's session: DataLoss if it failed to recover, else NotFound (under mu_).
  absl::Status Missing(const std::string& tenant, const std::string& id) const;
  absl::Status CheckRoomForOneMore(const std::string& tenant) const;
  absl::Status CheckRoomForState(const std::string& tenant, int64_t bytes) const;
  absl::Status CheckMetricsRunAvailable(const std::string& label, const std::string& tenant) const;

  std::vector<std::shared_ptr<Session>> Persisted() const;
  // Snapshots the persisted sessions `due` picks; returns how many failed (each is logged).
  int SnapshotIf(const std::function<bool(const Session&)>& due);

  const ServerLimits limits_;
  ServerMetrics* const metrics_;
  SessionStore* const store_;
  const absl::Duration snapshot_interval_;
  std::map<std::string, FailedSession> failed_;  // under mu_
  // std::mutex, not absl::Mutex: TSan sees pthread locks, and Debian's Abseil is not instrumented.
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  struct Request {
    std::string fingerprint;
    std::string session_id;
  };
  std::map<std::pair<std::string, std::string>, Request> requests_;  // by tenant and request id
  std::map<std::string, std::string> metrics_runs_;  // session id by label
  std::map<std::string, SessionSummary> evicted_;    // by id: on disk only, until their next Get
  std::set<std::string> loading_;                    // evicted ids being reloaded
  std::condition_variable loaded_;                   // a reload finished
  int64_t total_state_bytes_ = 0;
  struct Usage {
    int64_t sessions = 0;
    int64_t state_bytes = 0;
  };
  std::map<std::string, Usage> usage_;  // by tenant; a tenant without sessions has no entry
  uint64_t id_counter_ = 0;
  // Under mu_, like the counter: a generator shared by all managers raced when two created at once.
  absl::BitGen id_bits_;
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_MANAGER_H_
