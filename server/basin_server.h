#ifndef BASIN_SERVER_BASIN_SERVER_H_
#define BASIN_SERVER_BASIN_SERVER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "server/auth.h"
#include "server/optimizer_service.h"
#include "server/server_metrics.h"
#include "server/session_collector.h"
#include "server/session_manager.h"
#include "server/tls_credentials.h"

namespace basin {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port
  // Where Prometheus scrapes GET /metrics; empty: no HTTP endpoint (the metrics are still kept).
  std::string metrics_listen;
  ServerLimits limits;
  // Where sessions persist (docs/persistence.md); empty: memory only, every session durability
  // none.
  std::string data_dir;
  absl::Duration snapshot_interval = absl::Seconds(30);  // periodic sessions' default
  // A persisted session no call has used for this long is written out and dropped from memory,
  // and reloaded at its next use; zero: never.
  absl::Duration idle_session_ttl = absl::ZeroDuration();
  // TLS or mutual TLS from PEM files; none named: plaintext (docs/security.md).
  TlsFiles tls;
  // Bearer tokens → tenants (TokenMap's format); empty: no authentication, every caller is the
  // default tenant "".
  std::string auth_tokens_file;
};

// basin-server in one object: the Optimizer service, grpc.health.v1.Health (service "" and
// "basin.v1.Optimizer") and server reflection on one port, with keepalive settings that accept
// the clients' pings; the metrics of docs/metrics.md, on their own HTTP port. With TLS files the
// port speaks TLS; with tokens every Optimizer call needs one, while health and reflection stay
// open to probes.
class BasinServer {
 public:
  static absl::StatusOr<std::unique_ptr<BasinServer>> Start(const ServerOptions& options);
  ~BasinServer();

  // "127.0.0.1:43123": the address actually bound.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  SessionManager& sessions() { return sessions_; }
  ServerMetrics& metrics() { return metrics_; }
  // Everything GET /metrics serves, whether or not it is exposed over HTTP.
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables() const;
  // "127.0.0.1:9464": the metrics address actually bound; empty without one.
  const std::string& metrics_address() const { return metrics_address_; }

  // Health NOT_SERVING, refuse new sessions and streams, let running ticks finish, snapshot every
  // session that changed, then stop within `grace` (streams still open then are cancelled).
  void Drain(absl::Duration grace);
  void Wait();
  const SessionManager::Recovery& recovery() const { return recovery_; }

 private:
  BasinServer(const ServerOptions& options, std::unique_ptr<SessionStore> store, std::optional<TokenMap> tokens);
  // Snapshots sessions as their intervals pass until Drain stops it.
  void RunSnapshots();
  void StopSnapshots();

  ServerMetrics metrics_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<ServerCheckpoints> checkpoints_;  // with a store
  SessionManager sessions_;
  const absl::Duration idle_session_ttl_;
  std::shared_ptr<SessionCollector> session_collector_;
  const std::optional<TokenMap> tokens_;
  OptimizerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
  std::string metrics_address_;
  int port_ = 0;
  SessionManager::Recovery recovery_;
  std::mutex snapshots_mu_;
  std::condition_variable snapshots_stop_;
  bool stop_snapshots_ = false;
  std::thread snapshots_;
};

}  // namespace basin

#endif  // BASIN_SERVER_BASIN_SERVER_H_
