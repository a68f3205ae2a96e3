#ifndef BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
#define BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_

#include <array>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/server_metrics.h"

namespace basin {

// A method the server serves, as its metrics label it.
struct ServedMethod {
  std::string path;  // "/basin.v1.Optimizer/Train"
  grpc::experimental::ServerRpcInfo::Type type;
};

// Feeds the conventional gRPC server metrics (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds, grpc_server_msg_{received,sent}_total)
// with the labels and code names go-grpc-prometheus uses, so existing gRPC dashboards work.
// Like its InitializeMetrics, every series of every served method (and every code) exists from
// the start at 0: a code's first occurrence is then an increase that rate() and alerts see,
// rather than a new series whose first sample is already 1.
// A path outside `served` is counted as grpc_service="unknown", grpc_method="unknown": the path
// comes from the client, and labels must stay bounded.
class GrpcMetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  GrpcMetricsInterceptorFactory(ServerMetrics* metrics, const std::vector<ServedMethod>& served);

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

  // The series of one method, each code's handled counter indexed by its numeric value.
  struct MethodSeries {
    prometheus::Counter* started = nullptr;
    prometheus::Counter* received = nullptr;
    prometheus::Counter* sent = nullptr;
    prometheus::Histogram* handling_seconds = nullptr;
    std::array<prometheus::Counter*, grpc::StatusCode::UNAUTHENTICATED + 1> handled{};
  };

 private:
  ServerMetrics* metrics_;
  // Made once here, so a call of a served method looks nothing up in the metric families.
  absl::flat_hash_map<std::string, MethodSeries> served_;
};

// Every method of `service`, typed by its streaming flags.
std::vector<ServedMethod> MethodsOf(const google::protobuf::ServiceDescriptor& service);

// "OK", "InvalidArgument", ...: the grpc_code label value of a status code.
const char* GrpcCodeLabel(grpc::StatusCode code);

}  // namespace basin

#endif  // BASIN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
