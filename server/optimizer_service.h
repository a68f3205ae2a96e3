#ifndef BASIN_SERVER_OPTIMIZER_SERVICE_H_
#define BASIN_SERVER_OPTIMIZER_SERVICE_H_

#include <atomic>

#include "basin/v1/optimizer_service.grpc.pb.h"
#include "server/session_manager.h"

namespace basin {

// basin.v1.Optimizer over a SessionManager. Sync gRPC API: each stream runs on its own thread,
// and a session's lock serializes its ticks. Once draining, new sessions and new Train streams
// are refused with UNAVAILABLE while running ones finish their ticks.
class OptimizerService final : public v1::Optimizer::Service {
 public:
  explicit OptimizerService(SessionManager* sessions) : sessions_(sessions) {}

  void StartDraining() { draining_ = true; }
  bool draining() const { return draining_; }

  grpc::Status CreateSession(grpc::ServerContext* context, const v1::CreateSessionRequest* request,
                             v1::Session* response) override;
  grpc::Status GetSession(grpc::ServerContext* context, const v1::GetSessionRequest* request,
                          v1::Session* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override;
  grpc::Status DeleteSession(grpc::ServerContext* context, const v1::DeleteSessionRequest* request,
                             v1::DeleteSessionResponse* response) override;
  grpc::Status GetSessionStats(grpc::ServerContext* context, const v1::GetSessionStatsRequest* request,
                               v1::SessionStats* response) override;
  grpc::Status ListSamples(grpc::ServerContext* context, const v1::ListSamplesRequest* request,
                           v1::ListSamplesResponse* response) override;

 private:
  SessionManager* sessions_;
  std::atomic<bool> draining_{false};
};

}  // namespace basin

#endif  // BASIN_SERVER_OPTIMIZER_SERVICE_H_
