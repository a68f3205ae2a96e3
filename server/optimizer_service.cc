#include "server/optimizer_service.h"

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/objectives/objective_driver.h"
#include "core/objectives/objective_spec.h"
#include "proto/chunk_view.h"
#include "server/initial_values.h"
#include "server/proto_convert.h"
#include "server/session_checkpoint.h"

namespace basin {
namespace {

grpc::Status Draining() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down; retry on another replica");
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// The dtype and chunk size a client asks the server to send in; `what` names the request field.
absl::StatusOr<WireDType> OutgoingDType(v1::DType dtype, absl::string_view what) {
  switch (dtype) {
    case v1::DTYPE_UNSPECIFIED:
    case v1::DTYPE_F32:
      return WireDType::kF32;
    case v1::DTYPE_F64:
      return WireDType::kF64;
    case v1::DTYPE_BF16:
      return WireDType::kBF16;
    case v1::DTYPE_F16:
      return WireDType::kF16;
    default:
      return absl::InvalidArgumentError(absl::StrCat(what, " has no value ", static_cast<int>(dtype)));
  }
}

// What a streamed request holds, for messages that refuse it: "a message holding 'gradient'".
std::string KindOf(const google::protobuf::Message& request) {
  const auto* field = request.GetReflection()->GetOneofFieldDescriptor(
      request, request.GetDescriptor()->FindOneofByName("kind"));
  return field == nullptr ? "an empty message" : absl::StrCat("a message holding '", field->name(), "'");
}

absl::StatusOr<int64_t> OutgoingChunkBytes(int64_t requested, int64_t limit, absl::string_view what) {
  if (requested == 0) return std::min(kDefaultMaxChunkBytes, limit);
  if (requested < 8 || requested > limit) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be 0 (1 MiB) or in [8, ", limit, "], got ", requested));
  }
  return requested;
}

v1::TickAck::Outcome ToProtoOutcome(TickOutcome outcome) {
  switch (outcome) {
    case TickOutcome::kApplied:
      return v1::TickAck::OUTCOME_APPLIED;
    case TickOutcome::kDuplicate:
      return v1::TickAck::OUTCOME_DUPLICATE;
    case TickOutcome::kDropped:
      return v1::TickAck::OUTCOME_DROPPED;
    case TickOutcome::kSkipped:
      return v1::TickAck::OUTCOME_SKIPPED;
  }
  return v1::TickAck::OUTCOME_UNSPECIFIED;
}

// Writes `values` as a sequence of messages made by `fill(message, chunk)`, the last one marked
// by `mark_last`: one message is held back so the final chunk can be flagged.
template <typename Real, typename Message, typename Fill, typename MarkLast, typename Write>
absl::Status SendChunked(const ParameterLayout& layout, absl::Span<const Real> values, WireDType dtype,
                         int64_t max_chunk_bytes, Fill fill, MarkLast mark_last, Write write) {
  std::unique_ptr<Message> pending;
  absl::Status s = ForEachChunk<Real>(layout, values, dtype, max_chunk_bytes, [&](const ChunkView& view) {
    if (pending != nullptr && !write(*pending)) return absl::CancelledError("the client went away");
    pending = std::make_unique<Message>();
    FillChunk(view, &fill(*pending));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (pending == nullptr) return absl::InternalError("no chunk to send");
  mark_last(*pending);
  if (!write(*pending)) return absl::CancelledError("the client went away");
  return absl::OkStatus();
}

}  // namespace

OptimizerService::StreamGuard::StreamGuard(OptimizerService* service) : service_(service) {
  std::lock_guard<std::mutex> lock(service_->streams_mu_);
  ++service_->open_streams_;
  service_->metrics_->train_streams().Increment();
}

OptimizerService::StreamGuard::~StreamGuard() {
  std::lock_guard<std::mutex> lock(service_->streams_mu_);
  service_->metrics_->train_streams().Decrement();
  if (--service_->open_streams_ == 0) service_->streams_changed_.notify_all();
}

bool OptimizerService::WaitForStreamsToEnd(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(streams_mu_);
  return streams_changed_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return open_streams_ == 0; });
}

grpc::Status OptimizerService::CreateSession(grpc::ServerContext* context, const v1::CreateSessionRequest* request,
                                             v1::Session* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  if (draining_) return Draining();
  auto spec = request->from_checkpoint().empty() ? CreateSessionSpecFromProto(*request)
                                                 : SpecFromStoredCheckpoint(tenant, *request);
  if (!spec.ok()) return ToGrpcStatus(spec.status());
  spec->tenant = tenant;
  if (request->initial_values_size() > 0) {
    spec->initialize = InitialValuesStep(request->initial_values(), sessions_->limits().max_chunk_bytes,
                                         &metrics_->parameter_bytes_received());
  }
  auto session = sessions_->Create(*std::move(spec));
  if (!session.ok()) return ToGrpcStatus(session.status());
  *response = SessionToProto(**session);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::GetSession(grpc::ServerContext* context, const v1::GetSessionRequest* request,
                                          v1::Session* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  // Described without reloading an evicted session.
  BASIN_GRPC_ASSIGN_OR_RETURN(const SessionSummary summary, sessions_->Describe(tenant, request->session_id()));
  *response = SessionToProto(summary);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                                            v1::ListSessionsResponse* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  auto page = sessions_->List(tenant, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const SessionSummary& session : page->sessions) *response->add_sessions() = SessionToProto(session);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::DeleteSession(grpc::ServerContext* context, const v1::DeleteSessionRequest* request,
                                             v1::DeleteSessionResponse*) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  return ToGrpcStatus(sessions_->Delete(tenant, request->session_id()));
}

grpc::Status OptimizerService::GetSessionStats(grpc::ServerContext* context, const v1::GetSessionStatsRequest* request,
                                               v1::SessionStats* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  BASIN_GRPC_ASSIGN_OR_RETURN(const SessionSummary summary, sessions_->Describe(tenant, request->session_id()));
  *response = SessionStatsToProto(summary);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ListSamples(grpc::ServerContext* context, const v1::ListSamplesRequest* request,
                                           v1::ListSamplesResponse* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  auto session = sessions_->Get(tenant, request->session_id());
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

namespace basin {

// --- Train ---------------------------------------------------------------------------------------

grpc::Status OptimizerService::Train(grpc::ServerContext* context,
                                     grpc::ServerReaderWriter<v1::TrainResponse, v1::TrainRequest>* stream) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  StreamGuard guard(this);
  if (draining_) return Draining();
  v1::TrainRequest request;
  if (!stream->Read(&request)) return grpc::Status::OK;  // the client closed before attaching
  if (!request.has_attach()) {
    return Invalid(absl::StrCat("the first Train message must be an attach, got ", KindOf(request)));
  }
  const v1::Attach& attach = request.attach();
  auto session = sessions_->Get(tenant, attach.session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  const int workers = (*session)->workers().num_workers;
  if (attach.worker_id() < 0 || attach.worker_id() >= workers) {
    return Invalid(absl::StrCat("attach.worker_id ", attach.worker_id(), " is out of range: the session has ",
                                workers, " workers"));
  }
  if ((*session)->dtype() == DType::kF32) return TrainLoop<float>(context, stream, **session, attach);
  return TrainLoop<double>(context, stream, **session, attach);
}

template <typename Real>
grpc::Status OptimizerService::TrainLoop(grpc::ServerContext* context,
                                         grpc::ServerReaderWriter<v1::TrainResponse, v1::TrainRequest>* stream,
                                         Session& session, const v1::Attach& attach) {
  auto query_dtype = OutgoingDType(attach.query_dtype(), "attach.query_dtype");
  if (!query_dtype.ok()) return ToGrpcStatus(query_dtype.status());
  auto chunk_bytes = OutgoingChunkBytes(attach.max_chunk_bytes(), sessions_->limits().max_chunk_bytes,
                                        "attach.max_chunk_bytes");
  if (!chunk_bytes.ok()) return ToGrpcStatus(chunk_bytes.status());
  const int worker = attach.worker_id();
  const bool sync = session.workers().mode == WorkerPolicy::Mode::kSync;
  ChunkAssembler<Real> assembler(session.layout(), sessions_->limits().max_chunk_bytes);
  int64_t sent_tick = -1;
  // A skipped gradient is answered with the query point again, though this stream has sent it.
  bool resend_query = false;
  auto cancelled = [context] { return context->IsCancelled(); };

  while (true) {
    // The query point of the current tick, once per tick (and again after a skipped gradient).
    QueryPoint<Real> query = session.CopyQuery<Real>();
    if (query.tick > sent_tick || resend_query) {
      // every_tick: the change that led to this point is on disk before anyone computes at it.
      absl::Status durable = session.MakeDurable();
      if (!durable.ok()) return ToGrpcStatus(durable);
      absl::Status s = SendChunked<Real, v1::TrainResponse>(
          session.layout(), absl::MakeConstSpan(query.values), *query_dtype, *chunk_bytes,
          [&](v1::TrainResponse& r) -> v1::TensorChunk& {
            v1::QueryChunk& q = *r.mutable_query();
            q.set_tick(query.tick);
            q.set_step(query.step);
            q.set_phase(static_cast<int32_t>(query.phase));
            q.set_minibatch_key(query.minibatch_key);
            return *q.mutable_chunk();
          },
          [](v1::TrainResponse& r) { r.mutable_query()->set_last(true); },
          [&](const v1::TrainResponse& r) {
            metrics_->parameter_bytes_sent().Increment(static_cast<double>(r.query().chunk().data().size()));
            return stream->Write(r);
          });
      if (!s.ok()) return ToGrpcStatus(s);
      sent_tick = query.tick;
      resend_query = false;
    }

    // One gradient: the chunks of one tick, up to the one marked last.
    assembler.Reset();
    int64_t tick = -1;
    double loss = 0, batch_size = 1;
    std::chrono::steady_clock::time_point tick_start;
    for (bool first = true;; first = false) {
      v1::TrainRequest request;
      if (!stream->Read(&request)) {
        if (first) return grpc::Status::OK;  // a clean end between ticks
        return context->IsCancelled()
                   ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled mid-tick; the tick was not applied")
                   : Invalid(absl::StrCat("the stream ended in the middle of tick ", tick,
                                          "'s gradient; the tick was not applied"));
      }
      if (!request.has_gradient()) {
        return Invalid(absl::StrCat("a Train message after the attach must be a gradient, got ", KindOf(request)));
      }
      const v1::GradientChunk& g = request.gradient();
      metrics_->gradient_bytes().Increment(static_cast<double>(g.chunk().data().size()));
      if (first) {
        tick_start = std::chrono::steady_clock::now();
        tick = g.tick();
      } else if (g.tick() != tick) {
        return Invalid(absl::StrCat("a chunk for tick ", g.tick(), " arrived inside tick ", tick, "'s gradient"));
      }
      absl::Status s = assembler.Add(ViewOf(g.chunk()));
      if (!s.ok()) return ToGrpcStatus(s);
      if (g.last()) {
        loss = g.loss();
        batch_size = g.batch_size() == 0 ? 1 : g.batch_size();
        break;
      }
    }
    absl::Status complete = assembler.Finish();
    if (!complete.ok()) return ToGrpcStatus(complete);
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled mid-tick; the tick was not applied");
    }
    auto outcome = session.SubmitGradient<Real>(worker, tick, assembler.values(), loss, batch_size);
    if (!outcome.ok()) return ToGrpcStatus(outcome.status());
    // every_tick: acknowledged only once logged on disk.
    absl::Status durable = session.MakeDurable();
    if (!durable.ok()) return ToGrpcStatus(durable);

    v1::TrainResponse ack;
    ack.mutable_ack()->set_tick(tick);
    ack.mutable_ack()->set_outcome(ToProtoOutcome(*outcome));
    ack.mutable_ack()->set_session_tick(session.tick());
    ack.mutable_ack()->set_durable_tick(session.durable_tick());
    if (!stream->Write(ack)) return grpc::Status::OK;
    resend_query = *outcome == TickOutcome::kSkipped;
    if (*outcome == TickOutcome::kApplied && session.series() != nullptr) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - tick_start;
      session.series()->tick_seconds->Observe(elapsed.count());
    }
    // A sync worker whose gradient is in the open tick waits for the rest of its quorum before it
    // gets the next query point: whether it joined now or earlier (a duplicate resent after a
    // reconnect). For a tick already closed (a drop, an old duplicate) the wait returns at once and
    // the stream goes on with the newest query point (sent only if newer than the last). A skipped
    // gradient is no contribution: its worker recomputes at once.
    const bool in_open_tick = sync && tick == sent_tick && *outcome != TickOutcome::kSkipped;
    if (in_open_tick && !session.WaitForTickAfter(tick, absl::InfiniteFuture(), cancelled)) {
      if (session.closed()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("session '", session.id(), "' was deleted"));
      }
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while waiting for the quorum");
    }
    if (draining_) return Draining();  // the tick in flight is done; stop before the next
  }
}

// --- Parameters ----------------------------------------------------------------------------------

grpc::Status OptimizerService::PutParameters(grpc::ServerContext* context,
                                             grpc::ServerReader<v1::PutParametersRequest>* reader,
                                             v1::PutParametersResponse* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  v1::PutParametersRequest request;
  if (!reader->Read(&request)) return Invalid("the first PutParameters message must be a target, got none");
  if (!request.has_target()) {
    return Invalid(absl::StrCat("the first PutParameters message must be a target, got ", KindOf(request)));
  }
  const v1::PutTarget target = request.target();
  if (target.which() != v1::PARAMETER_SET_MODEL && target.which() != v1::PARAMETER_SET_ANCHOR &&
      target.which() != v1::PARAMETER_SET_UNSPECIFIED) {
    const std::string& name = v1::ParameterSet_Name(target.which());
    return Invalid(absl::StrCat("target.which must be MODEL or ANCHOR, got ",
                                name.empty() ? absl::StrCat(static_cast<int>(target.which())) : name));
  }
  auto session = sessions_->Get(tenant, target.session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  grpc::Status s = (*session)->dtype() == DType::kF32 ? PutLoop<float>(reader, **session, target)
                                                      : PutLoop<double>(reader, **session, target);
  if (!s.ok()) return s;
  *response->mutable_session() = SessionToProto(**session);
  return grpc::Status::OK;
}

template <typename Real>
grpc::Status OptimizerService::PutLoop(grpc::ServerReader<v1::PutParametersRequest>* reader, Session& session,
                                       const v1::PutTarget& target) {
  ChunkAssembler<Real> assembler(session.layout(), sessions_->limits().max_chunk_bytes);
  v1::PutParametersRequest request;
  while (reader->Read(&request)) {
    if (!request.has_chunk()) {
      return Invalid(absl::StrCat("a PutParameters message after the target must be a chunk, got ", KindOf(request)));
    }
    metrics_->parameter_bytes_received().Increment(static_cast<double>(request.chunk().data().size()));
    absl::Status s = assembler.Add(ViewOf(request.chunk()));
    if (!s.ok()) return ToGrpcStatus(s);
  }
  absl::Status s = assembler.Finish();
  if (!s.ok()) return ToGrpcStatus(s);
  s = session.SetParameters<Real>(target.which() == v1::PARAMETER_SET_ANCHOR, assembler.values());
  if (s.ok()) s = session.MakeDurable();
  return ToGrpcStatus(s);
}

grpc::Status OptimizerService::GetParameters(grpc::ServerContext* context, const v1::GetParametersRequest* request,
                                             grpc::ServerWriter<v1::GetParametersResponse>* writer) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  auto session = sessions_->Get(tenant, request->session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  auto dtype = OutgoingDType(request->dtype(), "dtype");
  if (!dtype.ok()) return ToGrpcStatus(dtype.status());
  auto chunk_bytes =
      OutgoingChunkBytes(request->max_chunk_bytes(), sessions_->limits().max_chunk_bytes, "max_chunk_bytes");
  if (!chunk_bytes.ok()) return ToGrpcStatus(chunk_bytes.status());
  // Copied under the session lock, sent without it.
  int64_t tick = 0;
  std::vector<double> values;
  absl::Status copied = (*session)->WithOptimizer([&](const auto& o) -> absl::Status {
    tick = o.tick();
    absl::Span<const typename std::decay_t<decltype(o)>::Buffer::value_type> source;
    switch (request->which()) {
      case v1::PARAMETER_SET_QUERY:
        source = o.Query();
        break;
      case v1::PARAMETER_SET_UNSPECIFIED:
      case v1::PARAMETER_SET_MODEL:
        source = o.Model();
        break;
      case v1::PARAMETER_SET_ANCHOR:
        if (o.Anchor().empty()) {
          return absl::FailedPreconditionError(absl::StrCat(OptimizerName(o.spec().config), " has no anchor"));
        }
        source = o.Anchor();
        break;
      case v1::PARAMETER_SET_SAMPLE: {
        const int64_t n = static_cast<int64_t>(o.samples().size());
        if (request->sample_index() < 0 || request->sample_index() >= n) {
          return absl::InvalidArgumentError(absl::StrCat("sample_index ", request->sample_index(),
                                                         " is out of range: the session holds ", n, " samples"));
        }
        source = o.samples()[request->sample_index()].values.span();
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat("which has no value ", static_cast<int>(request->which())));
    }
    values.assign(source.begin(), source.end());
    return absl::OkStatus();
  });
  if (!copied.ok()) return ToGrpcStatus(copied);
  // Doubles hold f32 and f64 state exactly, so one path serves both.
  return ToGrpcStatus(SendChunked<double, v1::GetParametersResponse>(
      (*session)->layout(), absl::MakeConstSpan(values), *dtype, *chunk_bytes,
      [&](v1::GetParametersResponse& r) -> v1::TensorChunk& {
        r.set_tick(tick);
        return *r.mutable_chunk();
      },
      [](v1::GetParametersResponse&) {},
      [&](const v1::GetParametersResponse& r) {
        metrics_->parameter_bytes_sent().Increment(static_cast<double>(r.chunk().data().size()));
        return writer->Write(r);
      }));
}

// --- RunObjective --------------------------------------------------------------------------------

grpc::Status OptimizerService::RunObjective(grpc::ServerContext* context, const v1::RunObjectiveRequest* request,
                                            grpc::ServerWriter<v1::RunObjectiveProgress>* writer) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  if (draining_) return Draining();
  const v1::ObjectiveSpec& p = request->objective();
  ObjectiveSpec spec;
  spec.kind = p.kind();
  spec.dimension = p.dimension() == 0 ? 2 : p.dimension();
  spec.data_seed = p.data_seed();
  spec.num_examples = p.num_examples() == 0 ? 1024 : p.num_examples();
  spec.batch_size = p.batch_size();
  spec.noise = p.noise();
  if (p.has_condition_number()) spec.condition_number = p.condition_number();
  spec.num_outputs = p.num_outputs() == 0 ? 1 : p.num_outputs();
  if (p.has_entropy_weight()) spec.entropy_weight = p.entropy_weight();
  spec.with_labels = p.with_labels();
  auto objective = MakeObjective(spec);
  if (!objective.ok()) return ToGrpcStatus(objective.status());
  ObjectiveSpec full_spec = spec;
  full_spec.batch_size = 0;
  auto full_batch = MakeObjective(full_spec);
  if (!full_batch.ok()) return ToGrpcStatus(full_batch.status());
  if (request->ticks() < 1 || request->ticks() > 100'000'000) {
    return Invalid(absl::StrCat("ticks must be in [1, 1e8], got ", request->ticks()));
  }
  if (request->report_every() < 0) return Invalid(absl::StrCat("report_every must be >= 0, got ", request->report_every()));

  std::shared_ptr<Session> session;
  if (!request->session_id().empty()) {
    auto found = sessions_->Get(tenant, request->session_id());
    if (!found.ok()) return ToGrpcStatus(found.status());
    session = *found;
    if (!(session->layout() == (*objective)->layout())) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("session ", session->id(), " has ", session->layout().num_elements(),
                                       " parameters in another layout than objective ", spec.kind, "'s ",
                                       (*objective)->dimension()));
    }
  } else {
    v1::CreateSessionRequest create;
    *create.mutable_spec() = request->spec();
    if (create.spec().tensors_size() == 0) {
      for (const TensorSpec& t : (*objective)->layout().tensors()) {
        v1::TensorSpec& out = *create.mutable_spec()->add_tensors();
        out.set_name(t.name);
        for (int64_t d : t.shape) out.add_shape(d);
      }
    }
    auto create_spec = CreateSessionSpecFromProto(create);
    if (!create_spec.ok()) return ToGrpcStatus(create_spec.status());
    create_spec->tenant = tenant;
    const std::vector<double> start = (*objective)->InitialPoint();
    create_spec->initialize = [&](AnyOptimizer& any) -> absl::Status {
      return std::visit(
          [&](auto& o) -> absl::Status {
            using Real = typename std::decay_t<decltype(*o)>::Buffer::value_type;
            return o->SetStartingPoint(std::vector<Real>(start.begin(), start.end()));
          },
          any);
    };
    if (!(create_spec->layout == (*objective)->layout())) {
      return Invalid(absl::StrCat("spec.tensors do not match objective ", spec.kind, "'s layout"));
    }
    auto created = sessions_->Create(*std::move(create_spec));
    if (!created.ok()) return ToGrpcStatus(created.status());
    session = *created;
  }

  const Objective& f = **objective;
  grpc::Status result = grpc::Status::OK;
  for (int64_t k = 1; k <= request->ticks(); ++k) {
    if (context->IsCancelled()) {
      result = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      break;
    }
    if (draining_) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            absl::StrCat("the server is shutting down; the run stopped after ", k - 1, " of ",
                                         request->ticks(), " ticks"));
      break;
    }
    absl::Status s = session->WithMutableOptimizer(
        [&](auto& o) { return DriveObjective(o, f, 1, spec.data_seed); });
    if (!s.ok()) return ToGrpcStatus(s);
    const bool report = k == request->ticks() || (request->report_every() > 0 && k % request->report_every() == 0);
    if (!report) continue;
    v1::RunObjectiveProgress progress;
    progress.set_session_id(session->id());
    session->WithOptimizer([&](const auto& o) {
      progress.set_tick(o.tick());
      progress.set_step(o.step());
      progress.set_loss(o.Stats().last_loss);
      const std::vector<double> model(o.Model().begin(), o.Model().end());
      progress.set_full_loss((*full_batch)->Evaluate(model, {}, SampleKey{}));
      return 0;
    });
    if (!writer->Write(progress)) break;
  }
  // Server-side ticks are not logged one by one: an every_tick session is snapshotted once the
  // run ends, before the call does.
  if (session->settings().durability.mode == Durability::Mode::kEveryTick) {
    absl::Status s = session->Snapshot();
    if (!s.ok()) return ToGrpcStatus(s);
  }
  return result;
}

// --- Checkpoints ---------------------------------------------------------------------------------

grpc::Status OptimizerService::ExportSession(grpc::ServerContext* context, const v1::ExportSessionRequest* request,
                                             grpc::ServerWriter<v1::CheckpointChunk>* writer) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  auto session = sessions_->Get(tenant, request->session_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  auto chunk_bytes =
      OutgoingChunkBytes(request->max_chunk_bytes(), sessions_->limits().max_chunk_bytes, "max_chunk_bytes");
  if (!chunk_bytes.ok()) return ToGrpcStatus(chunk_bytes.status());
  const EncodedCheckpoint checkpoint = EncodeCheckpoint(**session);
  const std::string& bytes = checkpoint.bytes;
  for (size_t offset = 0; offset < bytes.size(); offset += static_cast<size_t>(*chunk_bytes)) {
    v1::CheckpointChunk chunk;
    chunk.set_data(bytes.substr(offset, static_cast<size_t>(*chunk_bytes)));
    chunk.set_last(offset + static_cast<size_t>(*chunk_bytes) >= bytes.size());
    chunk.set_tick(checkpoint.tick);
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ImportSession(grpc::ServerContext* context, grpc::ServerReader<v1::ImportSessionRequest>* reader,
                                             v1::Session* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  if (draining_) return Draining();
  // A checkpoint holds at most all the state the server may hold, plus samples; protobuf caps a
  // message at 2 GiB.
  const int64_t limit = std::min<int64_t>(2 * sessions_->limits().max_total_state_bytes, INT32_MAX);
  v1::ImportHeader header;
  std::string bytes;
  v1::ImportSessionRequest request;
  for (bool first = true; reader->Read(&request); first = false) {
    if (request.has_header()) {
      if (!first) return Invalid("the import header must be the first message");
      header = request.header();
      continue;
    }
    if (static_cast<int64_t>(bytes.size() + request.data().size()) > limit) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          absl::StrCat("the checkpoint is over ", limit, " bytes, more than this server can hold"));
    }
    bytes += request.data();
  }
  auto checkpoint = ParseCheckpoint(bytes);
  if (!checkpoint.ok()) return ToGrpcStatus(checkpoint.status());
  auto spec = CreateSessionSpecFromCheckpoint(*checkpoint, header);
  if (!spec.ok()) return ToGrpcStatus(spec.status());
  spec->tenant = tenant;
  auto session = sessions_->Create(*std::move(spec));
  if (!session.ok()) return ToGrpcStatus(session.status());
  *response = SessionToProto(**session);
  return grpc::Status::OK;
}

// --- Server-side checkpoints ----------------------------------------------------------------------

absl::StatusOr<ServerCheckpoints*> OptimizerService::CheckpointsOrRefuse() const {
  if (checkpoints_ == nullptr) {
    return absl::FailedPreconditionError(
        "server-side checkpoints need a data directory; this server runs without one (--data_dir=none): "
        "use ExportSession and ImportSession instead");
  }
  return checkpoints_;
}

absl::StatusOr<CreateSessionSpec> OptimizerService::SpecFromStoredCheckpoint(
    const std::string& tenant, const v1::CreateSessionRequest& request) const {
  BASIN_ASSIGN_OR_RETURN(ServerCheckpoints * checkpoints, CheckpointsOrRefuse());
  // The checkpoint holds the optimizer, its state, the layout and the worker policy; a spec that
  // also said any of them would be ambiguous.
  v1::SessionSpec rest = request.spec();
  rest.clear_metrics_run();
  rest.clear_durability();
  rest.clear_nonfinite_policy();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  rest.GetReflection()->ListFields(rest, &fields);
  if (!fields.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "with from_checkpoint the spec may set only metrics_run, durability and nonfinite_policy; it sets ",
        fields.front()->name(), " (the checkpoint holds the rest)"));
  }
  if (request.initial_values_size() > 0) {
    return absl::InvalidArgumentError("initial_values cannot be given with from_checkpoint: the checkpoint holds the model");
  }
  BASIN_ASSIGN_OR_RETURN(StoredCheckpoint stored, checkpoints->Load(tenant, request.from_checkpoint()));
  BASIN_ASSIGN_OR_RETURN(v1::SessionCheckpoint checkpoint, ParseCheckpoint(stored.checkpoint));
  v1::ImportHeader header;
  header.set_request_id(request.request_id());
  header.set_metrics_run(request.spec().metrics_run());
  BASIN_ASSIGN_OR_RETURN(CreateSessionSpec spec, CreateSessionSpecFromCheckpoint(checkpoint, header));
  // The durability and policy the request asks for, or the defaults and the checkpoint's.
  BASIN_ASSIGN_OR_RETURN(spec.durability, DurabilityFromProto(request.spec().durability()));
  spec.durability_set = request.spec().durability().mode() != v1::Durability::MODE_UNSPECIFIED;
  if (request.spec().nonfinite_policy() != v1::NONFINITE_POLICY_UNSPECIFIED) {
    BASIN_ASSIGN_OR_RETURN(spec.nonfinite_policy, NonFinitePolicyFromProto(request.spec().nonfinite_policy()));
  }
  v1::CreateSessionRequest without_id = request;
  without_id.clear_request_id();
  spec.fingerprint = absl::StrCat(spec.fingerprint, ":", Fingerprint(without_id));
  return spec;
}

grpc::Status OptimizerService::Checkpoint(grpc::ServerContext* context, const v1::CheckpointRequest* request,
                                          v1::CheckpointInfo* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  BASIN_GRPC_ASSIGN_OR_RETURN(ServerCheckpoints * checkpoints, CheckpointsOrRefuse());
  BASIN_GRPC_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, sessions_->Get(tenant, request->session_id()));
  BASIN_GRPC_ASSIGN_OR_RETURN(StoredCheckpoint stored, checkpoints->Save(tenant, *session, request->checkpoint_id()));
  response->set_checkpoint_id(stored.checkpoint_id);
  response->set_session_id(stored.session_id);
  response->set_tick(stored.tick);
  response->set_bytes(static_cast<int64_t>(stored.size));
  response->set_optimizer(stored.optimizer);
  return grpc::Status::OK;
}

grpc::Status OptimizerService::ListCheckpoints(grpc::ServerContext* context, const v1::ListCheckpointsRequest*,
                                               v1::ListCheckpointsResponse* response) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  BASIN_GRPC_ASSIGN_OR_RETURN(ServerCheckpoints * checkpoints, CheckpointsOrRefuse());
  BASIN_GRPC_ASSIGN_OR_RETURN(std::vector<ServerCheckpoints::Listed> listed, checkpoints->List(tenant));
  for (const ServerCheckpoints::Listed& entry : listed) {
    v1::CheckpointInfo& info = *response->add_checkpoints();
    info.set_checkpoint_id(entry.checkpoint_id);
    if (!entry.header.ok()) {
      info.set_damage(std::string(entry.header.status().message()));
      continue;
    }
    info.set_session_id(entry.header->session_id);
    info.set_tick(entry.header->tick);
    info.set_bytes(static_cast<int64_t>(entry.header->size));
    info.set_optimizer(entry.header->optimizer);
  }
  return grpc::Status::OK;
}

grpc::Status OptimizerService::DeleteCheckpoint(grpc::ServerContext* context, const v1::DeleteCheckpointRequest* request,
                                                v1::DeleteCheckpointResponse*) {
  BASIN_GRPC_ASSIGN_OR_RETURN(const std::string tenant, TenantOf(tokens_, *context));
  BASIN_GRPC_ASSIGN_OR_RETURN(ServerCheckpoints * checkpoints, CheckpointsOrRefuse());
  return ToGrpcStatus(checkpoints->Delete(tenant, request->checkpoint_id()));
}

}  // namespace basin
