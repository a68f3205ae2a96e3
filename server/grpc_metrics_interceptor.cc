#include "server/grpc_metrics_interceptor.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace basin {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

const char* GrpcTypeLabel(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

using MethodSeries = GrpcMetricsInterceptorFactory::MethodSeries;

// The labels of one RPC: service and method split from a known "/pkg.Service/Method".
prometheus::Labels MethodLabels(absl::string_view path, bool known, ServerRpcInfo::Type type) {
  std::string service = "unknown", method = "unknown";
  const size_t slash = path.rfind('/');
  if (known && slash != absl::string_view::npos && slash > 1) {
    service = std::string(path.substr(1, slash - 1));
    method = std::string(path.substr(slash + 1));
  }
  return {{"grpc_service", service}, {"grpc_method", method}, {"grpc_type", GrpcTypeLabel(type)}};
}

// Every series of the method labelled `labels`, created at 0 where missing.
MethodSeries SeriesOf(ServerMetrics& metrics, const prometheus::Labels& labels) {
  MethodSeries series;
  series.started = &metrics.grpc_started().Add(labels);
  series.received = &metrics.grpc_msg_received().Add(labels);
  series.sent = &metrics.grpc_msg_sent().Add(labels);
  series.handling_seconds = &metrics.grpc_handling_seconds().Add(labels, ServerMetrics::LatencyBuckets());
  for (size_t code = 0; code < series.handled.size(); ++code) {
    prometheus::Labels with_code = labels;
    with_code.emplace("grpc_code", GrpcCodeLabel(static_cast<grpc::StatusCode>(code)));
    series.handled[code] = &metrics.grpc_handled().Add(with_code);
  }
  return series;
}

class GrpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit GrpcMetricsInterceptor(const MethodSeries& series)
      : series_(series), start_(std::chrono::steady_clock::now()) {
    series_.started->Increment();
  }

  // A call that ends without a status passing through here (the server shut down under it) is
  // counted as cancelled, so started and handled add up.
  ~GrpcMetricsInterceptor() override {
    if (!handled_) Handled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      series_.received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) series_.sent->Increment();
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Handled(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code) {
    handled_ = true;
    // A code outside the enum is labelled Unknown, as GrpcCodeLabel names it.
    const size_t index = static_cast<size_t>(code) < series_.handled.size() ? static_cast<size_t>(code)
                                                                             : size_t{grpc::StatusCode::UNKNOWN};
    series_.handled[index]->Increment();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    series_.handling_seconds->Observe(elapsed.count());
  }

  const MethodSeries series_;
  const std::chrono::steady_clock::time_point start_;
  bool handled_ = false;
};

}  // namespace

const char* GrpcCodeLabel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

GrpcMetricsInterceptorFactory::GrpcMetricsInterceptorFactory(ServerMetrics* metrics,
                                                             const std::vector<ServedMethod>& served)
    : metrics_(metrics) {
  for (const ServedMethod& method : served) {
    served_.emplace(method.path, SeriesOf(*metrics_, MethodLabels(method.path, true, method.type)));
  }
}

grpc::experimental::Interceptor* GrpcMetricsInterceptorFactory::CreateServerInterceptor(ServerRpcInfo* info) {
  const absl::string_view path = info->method() == nullptr ? "" : info->method();
  auto it = served_.find(path);
  if (it != served_.end()) return new GrpcMetricsInterceptor(it->second);
  return new GrpcMetricsInterceptor(SeriesOf(*metrics_, MethodLabels(path, false, info->type())));
}

std::vector<ServedMethod> MethodsOf(const google::protobuf::ServiceDescriptor& service) {
  std::vector<ServedMethod> methods;
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor& m = *service.method(i);
    const ServerRpcInfo::Type type = m.client_streaming() && m.server_streaming() ? ServerRpcInfo::Type::BIDI_STREAMING
                                     : m.client_streaming()                    ? ServerRpcInfo::Type::CLIENT_STREAMING
                                     : m.server_streaming()                    ? ServerRpcInfo::Type::SERVER_STREAMING
                                                                               : ServerRpcInfo::Type::UNARY;
    methods.push_back({absl::StrCat("/", service.full_name(), "/", m.name()), type});
  }
  return methods;
}

}  // namespace basin
