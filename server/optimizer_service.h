#ifndef BASIN_SERVER_OPTIMIZER_SERVICE_H_
#define BASIN_SERVER_OPTIMIZER_SERVICE_H_

#include <atomic>

#include <condition_variable>
#include <mutex>
#include "absl/time/time.h"

#include "basin/v1/optimizer_service.grpc.pb.h"
#include "server/auth.h"
#include "server/server_checkpoints.h"
#include "server/server_metrics.h"
#include "server/session_manager.h"

namespace basin {

// basin.v1.Optimizer over a SessionManager. Sync gRPC API: each stream runs on its own thread,
// and a session's lock serializes its ticks. Once draining, new sessions and new Train streams
// are refused with UNAVAILABLE while running ones finish their ticks. With `tokens` (may be null:
// no authentication) each call is made by the tenant of its bearer token and sees only that
// tenant's sessions.
class OptimizerService final : public v1::Optimizer::Service {
 public:
  // `checkpoints` (may be null: a server without a data directory) keeps server-side checkpoints.
  OptimizerService(SessionManager* sessions, ServerMetrics* metrics, const TokenMap* tokens = nullptr,
                   ServerCheckpoints* checkpoints = nullptr)
      : sessions_(sessions), metrics_(metrics), tokens_(tokens), checkpoints_(checkpoints) {}

  void StartDraining() { draining_ = true; }
  bool draining() const { return draining_; }
  // Blocks until no Train stream is open or the deadline passes; true if none is open.
  bool WaitForStreamsToEnd(absl::Time deadline);

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
  grpc::Status Train(grpc::ServerContext* context,
                     grpc::ServerReaderWriter<v1::TrainResponse, v1::TrainRequest>* stream) override;
  grpc::Status PutParameters(grpc::ServerContext* context, grpc::ServerReader<v1::PutParametersRequest>* reader,
                             v1::PutParametersResponse* response) override;
  grpc::Status GetParameters(grpc::ServerContext* context, const v1::GetParametersRequest* request,
                             grpc::ServerWriter<v1::GetParametersResponse>* writer) override;
  grpc::Status RunObjective(grpc::ServerContext* context, const v1::RunObjectiveRequest* request,
                            grpc::ServerWriter<v1::RunObjectiveProgress>* writer) override;
  grpc::Status ExportSession(grpc::ServerContext* context, const v1::ExportSessionRequest* request,
                             grpc::ServerWriter<v1::CheckpointChunk>* writer) override;
  grpc::Status ImportSession(grpc::ServerContext* context, grpc::ServerReader<v1::ImportSessionRequest>* reader,
                             v1::Session* response) override;
  grpc::Status Checkpoint(grpc::ServerContext* context, const v1::CheckpointRequest* request,
                          v1::CheckpointInfo* response) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context, const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status DeleteCheckpoint(grpc::ServerContext* context, const v1::DeleteCheckpointRequest* request,
                                v1::DeleteCheckpointResponse* response) override;

 private:
  template <typename Real>
  grpc::Status TrainLoop(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<v1::TrainResponse, v1::TrainRequest>* stream, Session& session,
                         const v1::Attach& attach);
  // CreateSession with from_checkpoint.
  absl::StatusOr<CreateSessionSpec> SpecFromStoredCheckpoint(const std::string& tenant,
                                                             const v1::CreateSessionRequest& request) const;
  absl::StatusOr<ServerCheckpoints*> CheckpointsOrRefuse() const;
  template <typename Real>
  grpc::Status PutLoop(grpc::ServerReader<v1::PutParametersRequest>* reader, Session& session,
                       const v1::PutTarget& target);

  // Counts an open Train stream for as long as it lives.
  class StreamGuard {
   public:
    explicit StreamGuard(OptimizerService* service);
    ~StreamGuard();

   private:
    OptimizerService* service_;
  };

  SessionManager* sessions_;
  ServerMetrics* metrics_;
  const TokenMap* tokens_;
  ServerCheckpoints* const checkpoints_;
  std::atomic<bool> draining_{false};
  std::mutex streams_mu_;
  std::condition_variable streams_changed_;
  int open_streams_ = 0;
};

}  // namespace basin

#endif  // BASIN_SERVER_OPTIMIZER_SERVICE_H_
