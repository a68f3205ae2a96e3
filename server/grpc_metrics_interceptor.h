#ifndef BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
#define BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/server_metrics.h"

namespace basin {

// Feeds the conventional gRPC server metrics (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds, grpc_server_msg_{received,sent}_total)
// with the labels and code names go-grpc-prometheus uses, so existing gRPC dashboards work.
// A path outside `known_methods` ("/basin.v1.Optimizer/Train", ...) is counted as
// grpc_service="unknown", grpc_method="unknown": the path comes from the client, and labels must
// stay bounded.
class GrpcMetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  GrpcMetricsInterceptorFactory(ServerMetrics* metrics, const std::vector<std::string>& known_methods)
      : metrics_(metrics), known_methods_(known_methods.begin(), known_methods.end()) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* metrics_;
  const absl::flat_hash_set<std::string> known_methods_;
};

// The paths of every method of `service` ("/basin.v1.Optimizer/CreateSession", ...).
std::vector<std::string> MethodPaths(const google::protobuf::ServiceDescriptor& service);

// "OK", "InvalidArgument", ...: the grpc_code label value of a status code.
const char* GrpcCodeLabel(grpc::StatusCode code);

}  // namespace basin

#endif  // BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
