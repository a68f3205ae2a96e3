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

class GrpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  GrpcMetricsInterceptor(ServerMetrics* metrics, prometheus::Labels labels)
      : metrics_(metrics),
        labels_(std::move(labels)),
        start_(std::chrono::steady_clock::now()),
        received_(&metrics->grpc_msg_received().Add(labels_)),
        sent_(&metrics->grpc_msg_sent().Add(labels_)) {
    metrics_->grpc_started().Add(labels_).Increment();
  }

  // A call that ends without a status passing through here (the server shut down under it) is
  // counted as cancelled, so started and handled add up.
  ~GrpcMetricsInterceptor() override {
    if (!handled_) Handled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      received_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) sent_->Increment();
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Handled(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code) {
    handled_ = true;
    prometheus::Labels with_code = labels_;
    with_code.emplace("grpc_code", GrpcCodeLabel(code));
    metrics_->grpc_handled().Add(with_code).Increment();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    metrics_->grpc_handling_seconds().Add(labels_, ServerMetrics::LatencyBuckets()).Observe(elapsed.count());
  }

  ServerMetrics* metrics_;
  const prometheus::Labels labels_;
  const std::chrono::steady_clock::time_point start_;
  prometheus::Counter* received_;
  prometheus::Counter* sent_;
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
    served_paths_.insert(method.path);
    const prometheus::Labels labels = MethodLabels(method.path, true, method.type);
    metrics_->grpc_started().Add(labels);
    metrics_->grpc_msg_received().Add(labels);
    metrics_->grpc_msg_sent().Add(labels);
    metrics_->grpc_handling_seconds().Add(labels, ServerMetrics::LatencyBuckets());
    for (int code = grpc::StatusCode::OK; code <= grpc::StatusCode::UNAUTHENTICATED; ++code) {
      prometheus::Labels with_code = labels;
      with_code.emplace("grpc_code", GrpcCodeLabel(static_cast<grpc::StatusCode>(code)));
      metrics_->grpc_handled().Add(with_code);
    }
  }
}

grpc::experimental::Interceptor* GrpcMetricsInterceptorFactory::CreateServerInterceptor(ServerRpcInfo* info) {
  const absl::string_view path = info->method() == nullptr ? "" : info->method();
  return new GrpcMetricsInterceptor(metrics_, MethodLabels(path, served_paths_.contains(path), info->type()));
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
