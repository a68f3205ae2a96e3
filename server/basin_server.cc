#include "server/basin_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/grpc_metrics_interceptor.h"

namespace basin {

constexpr char kServiceName[] = "basin.v1.Optimizer";

BasinServer::BasinServer(const ServerOptions& options, std::unique_ptr<SessionStore> store,
                         std::optional<TokenMap> tokens)
    : metrics_(BASIN_VERSION),
      store_(std::move(store)),
      checkpoints_(store_ == nullptr ? nullptr
                                     : std::make_unique<ServerCheckpoints>(store_.get(),
                                                                           options.limits.max_checkpoints_per_tenant)),
      sessions_(options.limits, &metrics_, store_.get(), options.snapshot_interval),
      idle_session_ttl_(options.idle_session_ttl),
      session_collector_(std::make_shared<SessionCollector>(&sessions_)),
      tokens_(std::move(tokens)),
      service_(&sessions_, &metrics_, tokens_.has_value() ? &*tokens_ : nullptr, checkpoints_.get()) {}

std::vector<std::weak_ptr<prometheus::Collectable>> BasinServer::collectables() const {
  return {metrics_.registry(), session_collector_};
}

namespace {

// Every method basin-server serves: the labels the gRPC metrics may carry.
std::vector<ServedMethod> ServedMethods() {
  std::vector<ServedMethod> methods =
      MethodsOf(*v1::CreateSessionRequest::descriptor()->file()->FindServiceByName("Optimizer"));
  // The built-in services, whose descriptors need not be linked in.
  using Type = grpc::experimental::ServerRpcInfo::Type;
  methods.push_back({"/grpc.health.v1.Health/Check", Type::UNARY});
  methods.push_back({"/grpc.health.v1.Health/Watch", Type::SERVER_STREAMING});
  methods.push_back({"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Type::BIDI_STREAMING});
  return methods;
}

// civetweb reports an address it cannot bind by throwing.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartExposer(const std::string& listen) {
  try {
    return std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
}

}  // namespace

BasinServer::~BasinServer() {
  if (server_ != nullptr) {
    service_.StartDraining();
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  StopSnapshots();
  sessions_.SnapshotAll();
}

void BasinServer::RunSnapshots() {
  std::unique_lock<std::mutex> lock(snapshots_mu_);
  while (!stop_snapshots_) {
    // Sessions' intervals are seconds or more; a 250 ms scan keeps each within a quarter second.
    snapshots_stop_.wait_for(lock, std::chrono::milliseconds(250));
    if (stop_snapshots_) break;
    lock.unlock();
    sessions_.SnapshotDue(absl::Now());
    sessions_.EvictIdle(absl::Now(), idle_session_ttl_);
    lock.lock();
  }
}

void BasinServer::StopSnapshots() {
  {
    std::lock_guard<std::mutex> lock(snapshots_mu_);
    stop_snapshots_ = true;
  }
  snapshots_stop_.notify_all();
  if (snapshots_.joinable()) snapshots_.join();
}

absl::StatusOr<std::unique_ptr<BasinServer>> BasinServer::Start(const ServerOptions& options) {
  // Files first: a bad one is a start-up error naming it, before anything listens.
  auto credentials = ServerCredentialsFrom(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::optional<TokenMap> tokens;
  if (!options.auth_tokens_file.empty()) {
    auto loaded = LoadTokens(options.auth_tokens_file);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(), absl::StrCat("--auth_tokens_file ", loaded.status().message()));
    }
    tokens = *std::move(loaded);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<SessionStore> store;
  if (!options.data_dir.empty()) {
    auto opened = SessionStore::Open(options.data_dir);
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
  }
  std::unique_ptr<BasinServer> server(new BasinServer(options, std::move(store), std::move(tokens)));
  // Every session is back before the port opens: no client sees a half-recovered server.
  server->recovery_ = server->sessions_.Recover();
  if (server->store_ != nullptr) server->snapshots_ = std::thread([s = server.get()] { s->RunSnapshots(); });
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, *credentials, &server->port_);
  builder.RegisterService(&server->service_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<GrpcMetricsInterceptorFactory>(&server->metrics_, ServedMethods()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
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
  if (!options.metrics_listen.empty()) {
    auto exposer = StartExposer(options.metrics_listen);
    if (!exposer.ok()) return exposer.status();
    server->exposer_ = *std::move(exposer);
    for (const auto& collectable : server->collectables()) server->exposer_->RegisterCollectable(collectable);
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    if (ports.empty()) return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", options.metrics_listen));
    const std::string metrics_host = options.metrics_listen.substr(0, options.metrics_listen.rfind(':'));
    server->metrics_address_ = absl::StrCat(metrics_host, ":", ports.front());
  }
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
  // Once the streams are done, what is left is short unary calls and idle connections, which
  // Shutdown would otherwise wait on until the deadline (clients keep channels open).
  const bool streams_done = service_.WaitForStreamsToEnd(deadline);
  server_->Shutdown(absl::ToChronoTime(streams_done ? std::min(deadline, absl::Now() + absl::Seconds(1)) : deadline));
  // Nothing changes a session any more: the last snapshots.
  StopSnapshots();
  const int failures = sessions_.SnapshotAll();
  if (failures > 0) std::fprintf(stderr, "basin-server: %d sessions could not be snapshotted at shutdown\n", failures);
}

void BasinServer::Wait() { server_->Wait(); }

}  // namespace basin
