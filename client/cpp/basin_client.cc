#include "client/cpp/basin_client.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/chunk_view.h"

namespace basin::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

absl::StatusOr<ParameterLayout> LayoutOf(const v1::Session& session) {
  std::vector<TensorSpec> tensors;
  for (const v1::TensorSpec& t : session.spec().tensors()) {
    tensors.push_back(TensorSpec{t.name(), std::vector<int64_t>(t.shape().begin(), t.shape().end())});
  }
  return ParameterLayout::Create(std::move(tensors));
}

// --- Client --------------------------------------------------------------------------------------

namespace {

grpc::ChannelArguments ChannelArguments() {
  grpc::ChannelArguments args;
  // Keepalive within what basin-server accepts (a ping every 10 s at the most).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return args;
}

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<TlsOptions> TlsOptionsFromFiles(const std::string& root_certs_path, const std::string& client_cert_path,
                                               const std::string& client_key_path) {
  TlsOptions tls;
  BASIN_ASSIGN_OR_RETURN(tls.root_certs, ReadPem(root_certs_path));
  BASIN_ASSIGN_OR_RETURN(tls.client_cert_chain, ReadPem(client_cert_path));
  BASIN_ASSIGN_OR_RETURN(tls.client_key, ReadPem(client_key_path));
  return tls;
}

std::unique_ptr<Client> Client::Connect(const std::string& target, CallOptions options) {
  return std::make_unique<Client>(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), ChannelArguments()), std::move(options));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const std::string& target, const TlsOptions& tls,
                                                        CallOptions options) {
  if (tls.client_cert_chain.empty() != tls.client_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("a TLS client certificate needs its key and the reverse; got only the ",
                                                   tls.client_key.empty() ? "certificate" : "key"));
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.root_certs;
  ssl.pem_cert_chain = tls.client_cert_chain;
  ssl.pem_private_key = tls.client_key;
  grpc::ChannelArguments args = ChannelArguments();
  if (!tls.target_name_override.empty()) args.SetSslTargetNameOverride(tls.target_name_override);
  return std::make_unique<Client>(grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args),
                                  std::move(options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, CallOptions options)
    : channel_(std::move(channel)), stub_(v1::Optimizer::NewStub(channel_)), options_(std::move(options)) {}

std::unique_ptr<grpc::ClientContext> Client::Context(bool streaming) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!streaming) context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.bearer_token.empty()) context->AddMetadata("authorization", "Bearer " + options_.bearer_token);
  return context;
}

absl::StatusOr<v1::Session> Client::CreateSession(const v1::CreateSessionRequest& request) {
  v1::Session session;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->CreateSession(Context().get(), request, &session)));
  return session;
}

absl::StatusOr<v1::Session> Client::GetSession(const std::string& session_id) {
  v1::GetSessionRequest request;
  request.set_session_id(session_id);
  v1::Session session;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->GetSession(Context().get(), request, &session)));
  return session;
}

absl::StatusOr<std::vector<v1::Session>> Client::ListSessions() {
  std::vector<v1::Session> out;
  v1::ListSessionsRequest request;
  do {
    v1::ListSessionsResponse page;
    BASIN_RETURN_IF_ERROR(FromGrpc(stub_->ListSessions(Context().get(), request, &page)));
    for (v1::Session& s : *page.mutable_sessions()) out.push_back(std::move(s));
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::Status Client::DeleteSession(const std::string& session_id) {
  v1::DeleteSessionRequest request;
  request.set_session_id(session_id);
  v1::DeleteSessionResponse response;
  return FromGrpc(stub_->DeleteSession(Context().get(), request, &response));
}

absl::StatusOr<v1::CheckpointInfo> Client::Checkpoint(const std::string& session_id,
                                                     const std::string& checkpoint_id) {
  v1::CheckpointRequest request;
  request.set_session_id(session_id);
  request.set_checkpoint_id(checkpoint_id);
  v1::CheckpointInfo info;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->Checkpoint(Context().get(), request, &info)));
  return info;
}

absl::StatusOr<std::vector<v1::CheckpointInfo>> Client::ListCheckpoints() {
  v1::ListCheckpointsResponse response;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->ListCheckpoints(Context().get(), v1::ListCheckpointsRequest(), &response)));
  return std::vector<v1::CheckpointInfo>(response.checkpoints().begin(), response.checkpoints().end());
}

absl::Status Client::DeleteCheckpoint(const std::string& checkpoint_id) {
  v1::DeleteCheckpointRequest request;
  request.set_checkpoint_id(checkpoint_id);
  v1::DeleteCheckpointResponse response;
  return FromGrpc(stub_->DeleteCheckpoint(Context().get(), request, &response));
}

absl::StatusOr<v1::SessionStats> Client::GetStats(const std::string& session_id) {
  v1::GetSessionStatsRequest request;
  request.set_session_id(session_id);
  v1::SessionStats stats;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->GetSessionStats(Context().get(), request, &stats)));
  return stats;
}

absl::StatusOr<v1::ListSamplesResponse> Client::ListSamples(const std::string& session_id) {
  v1::ListSamplesRequest request;
  request.set_session_id(session_id);
  v1::ListSamplesResponse response;
  BASIN_RETURN_IF_ERROR(FromGrpc(stub_->ListSamples(Context().get(), request, &response)));
  return response;
}

absl::StatusOr<std::vector<float>> Client::GetParameters(const std::string& session_id, v1::ParameterSet which,
                                                         int32_t sample_index, WireDType dtype) {
  BASIN_ASSIGN_OR_RETURN(v1::Session session, GetSession(session_id));
  BASIN_ASSIGN_OR_RETURN(ParameterLayout layout, LayoutOf(session));
  v1::GetParametersRequest request;
  request.set_session_id(session_id);
  request.set_which(which);
  request.set_sample_index(sample_index);
  request.set_dtype(static_cast<v1::DType>(dtype));
  auto context = Context();
  auto reader = stub_->GetParameters(context.get(), request);
  ChunkAssembler<float> assembler(layout, int64_t{64} << 20);
  v1::GetParametersResponse response;
  absl::Status added = absl::OkStatus();
  while (reader->Read(&response)) {
    if (added.ok()) added = assembler.Add(ViewOf(response.chunk()));
  }
  BASIN_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  BASIN_RETURN_IF_ERROR(added);
  BASIN_RETURN_IF_ERROR(assembler.Finish());
  return std::vector<float>(assembler.values().begin(), assembler.values().end());
}

absl::Status Client::PutParameters(const std::string& session_id, v1::ParameterSet which,
                                   absl::Span<const float> values) {
  BASIN_ASSIGN_OR_RETURN(v1::Session session, GetSession(session_id));
  BASIN_ASSIGN_OR_RETURN(ParameterLayout layout, LayoutOf(session));
  auto context = Context();
  v1::PutParametersResponse response;
  auto writer = stub_->PutParameters(context.get(), &response);
  v1::PutParametersRequest first;
  first.mutable_target()->set_session_id(session_id);
  first.mutable_target()->set_which(which);
  writer->Write(first);
  absl::Status s = ForEachChunk<float>(layout, values, WireDType::kF32, 1 << 20, [&](const ChunkView& view) {
    v1::PutParametersRequest request;
    FillChunk(view, request.mutable_chunk());
    return writer->Write(request) ? absl::OkStatus() : absl::UnavailableError("the server closed the stream");
  });
  writer->WritesDone();
  const absl::Status finished = FromGrpc(writer->Finish());
  if (!finished.ok()) return finished;  // the server's reason beats our write failure
  return s;
}

absl::StatusOr<std::string> Client::ExportSession(const std::string& session_id) {
  v1::ExportSessionRequest request;
  request.set_session_id(session_id);
  auto context = Context();
  auto reader = stub_->ExportSession(context.get(), request);
  std::string checkpoint;
  v1::CheckpointChunk chunk;
  bool last = false;
  while (reader->Read(&chunk)) {
    checkpoint += chunk.data();
    last = chunk.last();
  }
  BASIN_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  if (!last) return absl::DataLossError("the checkpoint stream ended without its last chunk");
  return checkpoint;
}

absl::StatusOr<v1::Session> Client::ImportSession(absl::string_view checkpoint, const std::string& request_id,
                                                  const std::string& metrics_run) {
  auto context = Context();
  v1::Session session;
  auto writer = stub_->ImportSession(context.get(), &session);
  v1::ImportSessionRequest header;
  header.mutable_header()->set_request_id(request_id);
  header.mutable_header()->set_metrics_run(metrics_run);
  bool written = writer->Write(header);
  constexpr size_t kChunk = 1 << 20;
  for (size_t offset = 0; written && offset < checkpoint.size(); offset += kChunk) {
    v1::ImportSessionRequest data;
    data.set_data(std::string(checkpoint.substr(offset, kChunk)));
    written = writer->Write(data);
  }
  writer->WritesDone();
  BASIN_RETURN_IF_ERROR(FromGrpc(writer->Finish()));  // the server's reason beats our write failure
  if (!written) return absl::UnavailableError("the server closed the stream");
  return session;
}

absl::StatusOr<std::unique_ptr<TrainStream>> Client::Train(const std::string& session_id, TrainOptions options) {
  BASIN_ASSIGN_OR_RETURN(v1::Session session, GetSession(session_id));
  BASIN_ASSIGN_OR_RETURN(ParameterLayout layout, LayoutOf(session));
  auto context = Context(/*streaming=*/true);
  auto stream = stub_->Train(context.get());
  v1::TrainRequest attach;
  attach.mutable_attach()->set_session_id(session_id);
  attach.mutable_attach()->set_worker_id(options.worker_id);
  attach.mutable_attach()->set_query_dtype(static_cast<v1::DType>(options.query_dtype));
  attach.mutable_attach()->set_max_chunk_bytes(options.max_chunk_bytes);
  if (!stream->Write(attach)) return FromGrpc(stream->Finish());
  return std::unique_ptr<TrainStream>(
      new TrainStream(std::move(context), std::move(stream), std::move(layout), options));
}

absl::StatusOr<std::string> Client::Health(const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  BASIN_RETURN_IF_ERROR(FromGrpc(health->Check(Context().get(), request, &response)));
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// --- TrainStream ---------------------------------------------------------------------------------

TrainStream::TrainStream(std::unique_ptr<grpc::ClientContext> context,
                         std::unique_ptr<grpc::ClientReaderWriter<v1::TrainRequest, v1::TrainResponse>> stream,
                         ParameterLayout layout, TrainOptions options)
    : context_(std::move(context)), stream_(std::move(stream)), layout_(std::move(layout)), options_(options) {}

TrainStream::~TrainStream() {
  if (!closed_) {
    context_->TryCancel();
    v1::TrainResponse unread;
    while (stream_->Read(&unread)) {
    }
    stream_->Finish().IgnoreError();
  }
}

absl::Status TrainStream::StreamError(absl::string_view what) {
  closed_ = true;
  const absl::Status s = FromGrpc(stream_->Finish());
  if (!s.ok()) return s;
  return absl::UnavailableError(absl::StrCat("the Train stream ended while ", what));
}

absl::StatusOr<Query> TrainStream::NextQuery() {
  ChunkAssembler<float> assembler(layout_, int64_t{64} << 20);
  Query query;
  bool started = false;
  v1::TrainResponse response;
  while (true) {
    if (!stream_->Read(&response)) return StreamError("waiting for a query point");
    if (response.has_ack()) {
      last_ack_ = response.ack();
      continue;
    }
    const v1::QueryChunk& q = response.query();
    if (!started) {
      query.tick = q.tick();
      query.step = q.step();
      query.phase = q.phase();
      query.minibatch_key = q.minibatch_key();
      started = true;
    }
    BASIN_RETURN_IF_ERROR(assembler.Add(ViewOf(q.chunk())));
    if (q.last()) break;
  }
  BASIN_RETURN_IF_ERROR(assembler.Finish());
  query.values.assign(assembler.values().begin(), assembler.values().end());
  return query;
}

absl::Status TrainStream::SendGradient(int64_t tick, absl::Span<const float> gradient, double loss,
                                       double batch_size) {
  if (static_cast<int64_t>(gradient.size()) != layout_.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("gradient has ", gradient.size(), " elements; the layout has ",
                                                   layout_.num_elements()));
  }
  // Hold one chunk back so the last can carry the loss.
  std::unique_ptr<v1::TrainRequest> pending;
  absl::Status s = ForEachChunk<float>(
      layout_, gradient, options_.gradient_dtype, options_.max_chunk_bytes, [&](const ChunkView& view) {
        if (pending != nullptr && !stream_->Write(*pending)) return absl::UnavailableError("write failed");
        pending = std::make_unique<v1::TrainRequest>();
        pending->mutable_gradient()->set_tick(tick);
        FillChunk(view, pending->mutable_gradient()->mutable_chunk());
        return absl::OkStatus();
      });
  if (!s.ok()) return s.code() == absl::StatusCode::kUnavailable ? StreamError("sending a gradient") : s;
  v1::GradientChunk& last = *pending->mutable_gradient();
  last.set_last(true);
  last.set_loss(loss);
  last.set_batch_size(batch_size);
  if (!stream_->Write(*pending)) return StreamError("sending a gradient");
  return absl::OkStatus();
}

absl::StatusOr<v1::TickAck> TrainStream::Tell(int64_t tick, absl::Span<const float> gradient, double loss,
                                              double batch_size) {
  BASIN_RETURN_IF_ERROR(SendGradient(tick, gradient, loss, batch_size));
  v1::TrainResponse response;
  while (true) {
    if (!stream_->Read(&response)) return StreamError("waiting for an ack");
    if (response.has_ack() && response.ack().tick() == tick) {
      last_ack_ = response.ack();
      return last_ack_;
    }
    // A query chunk cannot come before the ack of the tick it follows.
    if (!response.has_ack()) return absl::InternalError("a query point arrived before the ack of tick " + std::to_string(tick));
  }
}

absl::Status TrainStream::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  stream_->WritesDone();
  // gRPC's Finish waits for every incoming message to be read: the server may already have sent
  // the next query point.
  v1::TrainResponse unread;
  while (stream_->Read(&unread)) {
  }
  return FromGrpc(stream_->Finish());
}

void TrainStream::Cancel() { context_->TryCancel(); }

}  // namespace basin::client
