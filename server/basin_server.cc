#include "server/basin_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace basin {

constexpr char kServiceName[] = "basin.v1.Optimizer";

BasinServer::BasinServer(const ServerOptions& options) : sessions_(options.limits), service_(&sessions_) {}

BasinServer::~BasinServer() {
  if (server_ != nullptr) {
    service_.StartDraining();
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

absl::StatusOr<std::unique_ptr<BasinServer>> BasinServer::Start(const ServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<BasinServer> server(new BasinServer(options));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(&server->service_);
  // Clients ping every 30 s at the most, also on idle channels; accept that instead of sending
  // GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A chunk plus its framing must fit a message.
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.limits.max_chunk_bytes + (64 << 10)));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  server->address_ = absl::StrCat(host, ":", server->port_);
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  return server;
}

void BasinServer::Drain(absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  // While streams finish, the server still answers: probes see NOT_SERVING, new sessions and
  // streams get UNAVAILABLE. Shutdown then refuses everything and cancels what is left.
  server_->GetHealthCheckService()->SetServingStatus("", false);
  server_->GetHealthCheckService()->SetServingStatus(kServiceName, false);
  service_.StartDraining();
  service_.WaitForStreamsToEnd(deadline);
  server_->Shutdown(absl::ToChronoTime(deadline));
}

void BasinServer::Wait() { server_->Wait(); }

}  // namespace basin
