#include "server/optimizer_service.h"

#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"

namespace basin {
namespace {

grpc::Status Draining() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down; retry on another replica");
}

}  // namespace

grpc::Status OptimizerService::CreateSession(grpc::ServerContext*, const v1::CreateSessionRequest* request,
                                             v1::Session* response) {
  if (draining_) return Draining();
  auto spec = CreateSessionSpecFromProto(*request);
  if (!spec.ok()) return ToGrpcStatus(spec.status());
  if (request->initial_values_size() > 0) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "initial_values are not supported yet; use PutParameters");
  }
  auto session = sessions_->Create(*std::move(spec));
  if (!session.ok()) return ToGrpcStatus(session.status());
  *response = SessionToProto(**session);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::GetSession(grpc::ServerContext*, const v1::GetSessionRequest* request,
                                          v1::Session* response) {
  auto session = sessions_->Get(request->session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  *response = SessionToProto(**session);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ListSessions(grpc::ServerContext*, const v1::ListSessionsRequest* request,
                                            v1::ListSessionsResponse* response) {
  auto page = sessions_->List(request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const auto& session : page->sessions) *response->add_sessions() = SessionToProto(*session);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::DeleteSession(grpc::ServerContext*, const v1::DeleteSessionRequest* request,
                                             v1::DeleteSessionResponse*) {
  return ToGrpcStatus(sessions_->Delete(request->session_id()));
}

grpc::Status OptimizerService::GetSessionStats(grpc::ServerContext*, const v1::GetSessionStatsRequest* request,
                                               v1::SessionStats* response) {
  auto session = sessions_->Get(request->session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  *response = SessionStatsToProto(**session);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ListSamples(grpc::ServerContext*, const v1::ListSamplesRequest* request,
                                           v1::ListSamplesResponse* response) {
  auto session = sessions_->Get(request->session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  (*session)->WithOptimizer([&](const auto& o) {
    int32_t index = 0;
    for (const auto& sample : o.samples()) {
      v1::SampleInfo& info = *response->add_samples();
      info.set_index(index++);
      info.set_step(sample.step);
      info.set_which(sample.variable == decltype(sample.variable)::kModel ? v1::PARAMETER_SET_MODEL
                                                                           : v1::PARAMETER_SET_ANCHOR);
    }
    response->set_dropped(o.Stats().samples_dropped);
    return 0;
  });
  return grpc::Status::OK;
}

}  // namespace basin
