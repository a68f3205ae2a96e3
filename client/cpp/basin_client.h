#ifndef BASIN_CLIENT_CPP_BASIN_CLIENT_H_
#define BASIN_CLIENT_CPP_BASIN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "basin/v1/optimizer_service.grpc.pb.h"
#include "core/half.h"
#include "core/layout.h"

namespace basin::client {

// Errors are absl::Status values whose code is the gRPC status code of the failed call (the two
// share numbering) and whose message is the server's, e.g. NOT_FOUND "no session 's-…'".

struct CallOptions {
  absl::Duration timeout = absl::Seconds(30);  // per unary call; streams have none by default
  // Sent as `authorization: Bearer <token>` metadata on every call, Train included, when not
  // empty: the token of the tenant whose sessions this client works on (docs/security.md).
  std::string bearer_token;
};

// A TLS channel: PEM text, not paths (TlsOptionsFromFiles reads files).
struct TlsOptions {
  std::string root_certs;  // the CA(s) the server's certificate must chain to; empty: the system's
  // Mutual TLS: this client's certificate chain and private key, both or neither.
  std::string client_cert_chain;
  std::string client_key;
  // The name the server's certificate must carry when it is not the host of the target (e.g. a
  // certificate for "basin.example" reached through "10.0.0.7:50051"); empty: the target's host.
  std::string target_name_override;
};

// TlsOptions from PEM files; an empty path leaves its field empty. An unreadable file is an error
// naming it.
absl::StatusOr<TlsOptions> TlsOptionsFromFiles(const std::string& root_certs_path,
                                               const std::string& client_cert_path = "",
                                               const std::string& client_key_path = "");

// The query point of one tick, as flat f32 values in layout order.
struct Query {
  int64_t tick = 0;
  int64_t step = 0;
  int32_t phase = 0;
  int64_t minibatch_key = 0;  // ticks that must share a minibatch share this key
  std::vector<float> values;
};

struct TrainOptions {
  int32_t worker_id = 0;
  WireDType query_dtype = WireDType::kF32;     // what the server sends
  WireDType gradient_dtype = WireDType::kF32;  // what this client sends
  int64_t max_chunk_bytes = 1 << 20;           // both directions
};

// One worker's tick stream: Query() → compute → Tell() → Query() → ...
// Blocking and single-threaded; use one TrainStream per worker thread.
class TrainStream {
 public:
  ~TrainStream();

  // Waits for the next query point. Acks of earlier pipelined Tells arriving first are recorded
  // (last_ack()).
  absl::StatusOr<Query> NextQuery();
  // Sends the gradient (flat, layout order) and loss for `tick` and waits for its ack. An ack
  // OUTCOME_SKIPPED (NaN or Inf in a session with NONFINITE_POLICY_SKIP) moved nothing; the next
  // NextQuery() returns the same tick again.
  absl::StatusOr<v1::TickAck> Tell(int64_t tick, absl::Span<const float> gradient, double loss,
                                   double batch_size = 1);
  // The pipelined form: sends and returns at once; the ack is read by the next NextQuery().
  absl::Status SendGradient(int64_t tick, absl::Span<const float> gradient, double loss, double batch_size = 1);
  const v1::TickAck& last_ack() const { return last_ack_; }

  // Half-closes and returns the server's final status.
  absl::Status Close();
  // Cancels the call (e.g. mid-tick); the server discards a partial tick.
  void Cancel();

  const ParameterLayout& layout() const { return layout_; }

 private:
  friend class Client;
  TrainStream(std::unique_ptr<grpc::ClientContext> context,
              std::unique_ptr<grpc::ClientReaderWriter<v1::TrainRequest, v1::TrainResponse>> stream,
              ParameterLayout layout, TrainOptions options);
  absl::Status StreamError(absl::string_view what);

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::TrainRequest, v1::TrainResponse>> stream_;
  ParameterLayout layout_;
  TrainOptions options_;
  v1::TickAck last_ack_;
  bool closed_ = false;
};

class Client {
 public:
  // An insecure channel to `target` ("127.0.0.1:50051").
  static std::unique_ptr<Client> Connect(const std::string& target, CallOptions options = {});
  // A TLS channel to `target`; a client certificate without its key (or the reverse) is
  // InvalidArgument. A failed handshake shows as UNAVAILABLE on the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const std::string& target, const TlsOptions& tls,
                                                         CallOptions options = {});
  explicit Client(std::shared_ptr<grpc::Channel> channel, CallOptions options = {});

  absl::StatusOr<v1::Session> CreateSession(const v1::CreateSessionRequest& request);
  absl::StatusOr<v1::Session> GetSession(const std::string& session_id);
  // Every session, following pages.
  absl::StatusOr<std::vector<v1::Session>> ListSessions();
  absl::Status DeleteSession(const std::string& session_id);
  absl::StatusOr<v1::SessionStats> GetStats(const std::string& session_id);
  absl::StatusOr<v1::ListSamplesResponse> ListSamples(const std::string& session_id);

  // Flat f32 values of the query point, model, anchor or a sample.
  absl::StatusOr<std::vector<float>> GetParameters(const std::string& session_id, v1::ParameterSet which,
                                                   int32_t sample_index = 0,
                                                   WireDType dtype = WireDType::kF32);
  absl::Status PutParameters(const std::string& session_id, v1::ParameterSet which, absl::Span<const float> values);

  // A session's checkpoint (opaque bytes: spec, state, samples, worker policy), and a new session
  // made from one; `request_id` makes the import idempotent, `metrics_run` labels it.
  absl::StatusOr<std::string> ExportSession(const std::string& session_id);
  absl::StatusOr<v1::Session> ImportSession(absl::string_view checkpoint, const std::string& request_id = "",
                                            const std::string& metrics_run = "");

  // Server-side checkpoints (a server with a data directory): stores the session's checkpoint
  // under `checkpoint_id` ("" lets the server choose), lists and deletes them. A new session
  // continues one with CreateSessionRequest.from_checkpoint.
  absl::StatusOr<v1::CheckpointInfo> Checkpoint(const std::string& session_id, const std::string& checkpoint_id = "");
  absl::StatusOr<std::vector<v1::CheckpointInfo>> ListCheckpoints();
  absl::Status DeleteCheckpoint(const std::string& checkpoint_id);

  absl::StatusOr<std::unique_ptr<TrainStream>> Train(const std::string& session_id, TrainOptions options = {});

  // "SERVING", "NOT_SERVING", ... of grpc.health.v1 for `service` ("" = the whole server).
  absl::StatusOr<std::string> Health(const std::string& service = "");

  v1::Optimizer::Stub& stub() { return *stub_; }

 private:
  // A context with this client's token; with the unary deadline unless `streaming`.
  std::unique_ptr<grpc::ClientContext> Context(bool streaming = false) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Optimizer::Stub> stub_;
  CallOptions options_;
};

// The layout a Session's spec declares.
absl::StatusOr<ParameterLayout> LayoutOf(const v1::Session& session);

}  // namespace basin::client

#endif  // BASIN_CLIENT_CPP_BASIN_CLIENT_H_
