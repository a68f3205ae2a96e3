#ifndef BASIN_SERVER_BASIN_SERVER_H_
#define BASIN_SERVER_BASIN_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/optimizer_service.h"
#include "server/session_manager.h"

namespace basin {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port
  ServerLimits limits;
};

// basin-server in one object: the Optimizer service, grpc.health.v1.Health (service "" and
// "basin.v1.Optimizer") and server reflection on one port, with keepalive settings that accept
// the clients' pings.
class BasinServer {
 public:
  static absl::StatusOr<std::unique_ptr<BasinServer>> Start(const ServerOptions& options);
  ~BasinServer();

  // "127.0.0.1:43123": the address actually bound.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  SessionManager& sessions() { return sessions_; }

  // Health NOT_SERVING, refuse new sessions and streams, let running ticks finish, then stop
  // within `grace` (streams still open then are cancelled).
  void Drain(absl::Duration grace);
  void Wait();

 private:
  explicit BasinServer(const ServerOptions& options);

  SessionManager sessions_;
  OptimizerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;
};

}  // namespace basin

#endif  // BASIN_SERVER_BASIN_SERVER_H_
