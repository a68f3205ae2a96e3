#include "bench/soak/soak_worker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/tensor_chunks.h"
#include "proto/chunk_view.h"

namespace basin::soak {

const char* DisconnectName(Disconnect d) {
  switch (d) {
    case Disconnect::kRandomMoment:
      return "cancelled at a random moment";
    case Disconnect::kCancelBetween:
      return "cancelled holding a query point";
    case Disconnect::kCloseBetween:
      return "closed between ticks";
    case Disconnect::kAfterSend:
      return "cancelled after a send, before its ack";
    case Disconnect::kMidTick:
      return "cancelled mid-tick (part of a gradient sent)";
    case Disconnect::kCount:
      break;
  }
  return "?";
}

SoakWorker::SoakWorker(WorkerConfig config)
    : config_(std::move(config)), random_(config_.seed), ledger_(config_.worker_id) {}

absl::Duration SoakWorker::NextGap() {
  std::exponential_distribution<double> gap(1.0 / absl::ToDoubleSeconds(config_.disconnect_every));
  return absl::Seconds(gap(random_));
}

SoakWorker::Sent SoakWorker::GradientAt(const client::Query& query, bool allow_nan) {
  // ½‖x − c‖² averaged over the elements, with a minimum c per session and worker.
  Sent sent;
  sent.tick = query.tick;
  sent.gradient.resize(query.values.size());
  double loss = 0;
  for (std::size_t i = 0; i < query.values.size(); ++i) {
    const double target = std::sin(0.01 * static_cast<double>(i) + config_.session_index) + 0.05 * config_.worker_id;
    const double d = query.values[i] - target;
    sent.gradient[i] = static_cast<float>(d);
    loss += 0.5 * d * d;
  }
  sent.loss = query.values.empty() ? 0 : loss / static_cast<double>(query.values.size());
  sent.batch_size = 1 + config_.worker_id % 3;
  if (allow_nan && !sent.gradient.empty() && std::uniform_int_distribution<int>(0, 31)(random_) == 0) {
    const std::size_t at = std::uniform_int_distribution<std::size_t>(0, sent.gradient.size() - 1)(random_);
    sent.gradient[at] = std::numeric_limits<float>::quiet_NaN();
    sent.nan = true;
  }
  return sent;
}

void SoakWorker::Run(const std::atomic<bool>& stop, absl::Time hard_deadline) {
  stop_ = &stop;
  next_disconnect_ = absl::Now() + NextGap();
  for (int64_t i = 0; i < config_.max_iterations && !stop && absl::Now() < hard_deadline; ++i) {
    if (stream_ == nullptr) {
      if (!Connect(hard_deadline, /*settling=*/false)) absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    if (!query_.has_value()) {
      auto query = stream_->NextQuery();
      if (!query.ok()) {
        Ended(query.status(), "waiting for a query point");
      } else {
        query_ = *std::move(query);
      }
      continue;
    }
    if (absl::Now() >= next_disconnect_) {
      DisconnectNow();
      next_disconnect_ = absl::Now() + NextGap();
      continue;
    }
    Tick();
  }
  Settle(hard_deadline);
}

void SoakWorker::Tick() {
  Sent sent = GradientAt(*query_, config_.plan->sends_nan);
  ++counts_.ticks_sent;
  if (sent.nan) ++counts_.nan_sent;
  pending_ = sent;
  const int64_t query_tick = query_->tick;
  auto ack = stream_->Tell(sent.tick, sent.gradient, sent.loss, sent.batch_size);
  if (!ack.ok()) {
    if (ack.status().code() == absl::StatusCode::kAborted) {
      pending_.reset();  // refused as too stale: not applied
    } else {
      ledger_.SentWithoutAck();
    }
    Ended(ack.status(), "sending a gradient");
    return;
  }
  pending_.reset();
  Record(*ack, sent, SendKind::kFirst);
  AfterAck(*ack, sent, query_tick);
}

void SoakWorker::Record(const v1::TickAck& ack, const Sent& sent, SendKind kind) {
  ledger_.Ack(ack);
  const SessionPlan& plan = *config_.plan;
  auto bad = [&](std::string what) { ledger_.Violation(absl::StrCat("worker ", config_.worker_id, ": ", what)); };
  const v1::TickAck::Outcome outcome = ack.outcome();
  const std::string& name = v1::TickAck::Outcome_Name(outcome);
  if (ack.tick() != sent.tick)
    bad(absl::StrCat("the ack for tick ", ack.tick(), " answered a gradient for tick ", sent.tick));
  if (kind == SendKind::kProbe) {
    if (outcome != v1::TickAck::OUTCOME_DUPLICATE) {
      bad(absl::StrCat("its acknowledged gradient for tick ", sent.tick, " resent came back ", name,
                       ", not DUPLICATE: the server lost it"));
    }
    return;
  }
  switch (outcome) {
    case v1::TickAck::OUTCOME_APPLIED:
      if (sent.nan) bad(absl::StrCat("a gradient holding NaN was APPLIED at tick ", sent.tick));
      ledger_.Contributed(sent.tick);
      last_applied_ = sent;
      break;
    case v1::TickAck::OUTCOME_DUPLICATE:
      if (kind == SendKind::kFirst) {
        bad(absl::StrCat("its first gradient for tick ", sent.tick, " came back DUPLICATE"));
      } else {
        ledger_.Contributed(sent.tick);  // the first send was applied; its ack was lost with the stream
        last_applied_ = sent;
      }
      break;
    case v1::TickAck::OUTCOME_DROPPED:
      // Only a sync tick that can close without this worker can drop its gradient.
      if (plan.async || plan.quorum >= plan.workers) {
        bad(absl::StrCat("its gradient for tick ", sent.tick,
                         " was DROPPED in a session where no tick closes without it"));
      }
      break;
    case v1::TickAck::OUTCOME_SKIPPED:
      if (!sent.nan) bad(absl::StrCat("a finite gradient for tick ", sent.tick, " was SKIPPED"));
      break;
    default:
      break;  // counted as a violation by the ledger
  }
}

void SoakWorker::AfterAck(const v1::TickAck& ack, const Sent& sent, int64_t query_tick) {
  // The server sends a query point after an ack when the tick moved past the one it last sent on
  // this stream (after a skip: the same one again; a sync worker in the open tick waits for the
  // quorum first).
  if (ack.outcome() == v1::TickAck::OUTCOME_SKIPPED || (!config_.plan->async && sent.tick == query_tick) ||
      ack.session_tick() > query_tick) {
    query_.reset();
    return;
  }
  // The tick had not moved when the ack was written. Alone, nobody else can move it: the query
  // point in hand is still the current one.
  if (single_worker()) return;
  // Another worker may move it before the server looks again: a query point may or may not follow.
  ++counts_.ambiguous_restarts;
  CancelAndClose("restarting after a resend");
}

bool SoakWorker::Connect(absl::Time hard_deadline, bool settling) {
  const SessionPlan& plan = *config_.plan;
  const std::string who = absl::StrCat(plan.label, " worker ", config_.worker_id);
  for (int attempt = 0; attempt < 20 && absl::Now() < hard_deadline; ++attempt) {
    if (attempt > 0)
      absl::SleepFor(std::min(absl::Milliseconds(10) * (1 << std::min(attempt, 6)), absl::Milliseconds(500)));
    if (client_ == nullptr || std::uniform_int_distribution<int>(0, 3)(random_) == 0) {
      if (client_ != nullptr) ++counts_.fresh_channels;
      client_ = client::Client::Connect(config_.target);
    }
    auto session = client_->GetSession(config_.session_id);
    if (!session.ok()) {
      statuses_.Unexpected(session.status(), absl::StrCat(who, ": GetSession"));
      continue;
    }
    statuses_.Expected(absl::StatusCode::kOk);
    if (!layout_.has_value()) {
      auto layout = client::LayoutOf(*session);
      if (!layout.ok()) {
        statuses_.Unexpected(layout.status(), absl::StrCat(who, ": the session's layout"));
        continue;
      }
      layout_ = *std::move(layout);
    }
    client::TrainOptions options;
    options.worker_id = config_.worker_id;
    options.query_dtype = plan.query_dtype;
    options.gradient_dtype = plan.gradient_dtype;
    if (plan.chunk_bytes > 0) options.max_chunk_bytes = plan.chunk_bytes;
    auto stream = client_->Train(config_.session_id, options);
    if (!stream.ok()) {
      statuses_.Unexpected(stream.status(), absl::StrCat(who, ": Train"));
      continue;
    }
    stream_ = *std::move(stream);
    slot_.Set(stream_.get());
    auto query = stream_->NextQuery();
    if (!query.ok()) {
      Ended(query.status(), "waiting for the first query point");
      continue;
    }
    if (connected_before_) ++counts_.reconnects;
    connected_before_ = true;
    if (single_worker()) {
      // Alone, the session's tick is what this worker knows it applied, plus the gradient whose ack
      // it never read if that one was applied.
      const int64_t known = static_cast<int64_t>(ledger_.contributed().size());
      const int64_t most = known + (pending_.has_value() ? 1 : 0);
      for (const int64_t tick : {session->tick(), query->tick}) {
        if (tick < known || tick > most) {
          ledger_.Violation(absl::StrCat("worker ", config_.worker_id, " reconnected at tick ", tick, "; it knows of ",
                                         known, " applied gradients",
                                         pending_.has_value() ? " and one whose ack it never read" : ""));
        }
      }
    }
    query_ = *std::move(query);
    // A sync worker whose gradient is in the open tick gets that tick's query point again: it
    // resends the same gradient (DUPLICATE) and waits for the quorum, as a client that lost its ack.
    const bool in_open_tick = last_applied_.has_value() && last_applied_->tick == query_->tick && !plan.async;
    if (pending_.has_value()) {
      const Sent sent = *pending_;
      Resend(sent, SendKind::kResolve);
    } else if (in_open_tick ||
               (!settling && last_applied_.has_value() && std::uniform_int_distribution<int>(0, 9)(random_) < 3)) {
      const Sent sent = *last_applied_;
      Resend(sent, SendKind::kProbe);
    }
    return true;
  }
  return false;
}

void SoakWorker::Resend(const Sent& sent, SendKind kind) {
  if (kind == SendKind::kProbe) {
    ledger_.Probed();
  } else {
    ++counts_.resends;
  }
  const int64_t query_tick = query_->tick;
  auto ack = stream_->Tell(sent.tick, sent.gradient, sent.loss, sent.batch_size);
  if (!ack.ok()) {
    if (ack.status().code() == absl::StatusCode::kAborted) {
      if (kind == SendKind::kProbe) {
        // A duplicate is recognised before staleness is: ABORTED means the server forgot the tick.
        ledger_.Violation(absl::StrCat("worker ", config_.worker_id, "'s acknowledged gradient for tick ", sent.tick,
                                       " resent was refused as stale, not DUPLICATE: the server lost it"));
      } else {
        pending_.reset();  // too stale now, so it was not applied before either
        ledger_.Resolved(WorkerLedger::Fate::kNotApplied);
      }
    } else if (kind == SendKind::kResolve) {
      ledger_.SentWithoutAck();
    }
    Ended(ack.status(), "resending a gradient");
    return;
  }
  if (kind == SendKind::kResolve) {
    pending_.reset();
    ledger_.Resolved(ack->outcome() == v1::TickAck::OUTCOME_DUPLICATE ? WorkerLedger::Fate::kAppliedBefore
                     : ack->outcome() == v1::TickAck::OUTCOME_APPLIED ? WorkerLedger::Fate::kAppliedByResend
                                                                      : WorkerLedger::Fate::kNotApplied);
    if (single_worker()) {
      // Alone: a tick the session passed was this gradient, applied; the current one was not.
      const v1::TickAck::Outcome want = sent.tick < query_tick ? v1::TickAck::OUTCOME_DUPLICATE
                                        : sent.nan             ? v1::TickAck::OUTCOME_SKIPPED
                                                               : v1::TickAck::OUTCOME_APPLIED;
      if (ack->outcome() != want) {
        ledger_.Violation(absl::StrCat("worker ", config_.worker_id, " resent its unacknowledged gradient for tick ",
                                       sent.tick, " at session tick ", query_tick, ": ",
                                       v1::TickAck::Outcome_Name(ack->outcome()), ", expected ",
                                       v1::TickAck::Outcome_Name(want)));
      }
    }
  }
  Record(*ack, sent, kind);
  AfterAck(*ack, sent, query_tick);
}

void SoakWorker::DisconnectNow() {
  const auto kind = static_cast<Disconnect>(std::uniform_int_distribution<int>(
      static_cast<int>(Disconnect::kCancelBetween), static_cast<int>(Disconnect::kMidTick))(random_));
  ++counts_.disconnects[static_cast<int>(kind)];
  switch (kind) {
    case Disconnect::kCancelBetween:
      CancelAndClose("cancelled holding a query point");
      break;
    case Disconnect::kCloseBetween:
      Ended(stream_->Close(), "closed between ticks");
      break;
    case Disconnect::kAfterSend: {
      Sent sent = GradientAt(*query_, /*allow_nan=*/false);
      ++counts_.ticks_sent;
      pending_ = sent;
      ledger_.SentWithoutAck();
      absl::Status s = stream_->SendGradient(sent.tick, sent.gradient, sent.loss, sent.batch_size);
      if (!s.ok()) {
        Ended(s, "sending a gradient");
      } else {
        CancelAndClose("cancelled after a send");
      }
      break;
    }
    case Disconnect::kMidTick:
      CancelAndClose("cancelled before a mid-tick stream");
      MidTickStream();
      break;
    default:
      break;
  }
}

void SoakWorker::MidTickStream() {
  const SessionPlan& plan = *config_.plan;
  grpc::ClientContext context;
  // Not in the slot, so nothing else would cancel it if the server never answered.
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = client_->stub().Train(&context);
  v1::TrainRequest attach;
  attach.mutable_attach()->set_session_id(config_.session_id);
  attach.mutable_attach()->set_worker_id(config_.worker_id);
  attach.mutable_attach()->set_max_chunk_bytes(plan.chunk_bytes);
  ChunkAssembler<float> assembler(*layout_, int64_t{64} << 20);
  client::Query query;
  bool complete = false;
  v1::TrainResponse response;
  if (stream->Write(attach)) {
    while (!complete && stream->Read(&response)) {
      if (!response.has_query()) continue;
      query.tick = response.query().tick();
      if (!assembler.Add(ViewOf(response.query().chunk())).ok()) break;
      complete = response.query().last();
    }
  }
  if (complete) {
    query.values.assign(assembler.values().begin(), assembler.values().end());
    const Sent sent = GradientAt(query, /*allow_nan=*/false);
    std::vector<v1::TrainRequest> chunks;
    ForEachChunk<float>(*layout_, sent.gradient, WireDType::kF32, plan.chunk_bytes, [&](const ChunkView& view) {
      v1::TrainRequest& request = chunks.emplace_back();
      request.mutable_gradient()->set_tick(sent.tick);
      FillChunk(view, request.mutable_gradient()->mutable_chunk());
      return absl::OkStatus();
    }).IgnoreError();
    // Some of the chunks, none marked last: the tick is open on the server when the cancel comes.
    const std::size_t some = chunks.empty() ? 0 : std::uniform_int_distribution<std::size_t>(1, chunks.size())(random_);
    for (std::size_t i = 0; i < some && stream->Write(chunks[i]); ++i) {
    }
  }
  context.TryCancel();
  while (stream->Read(&response)) {
  }
  const grpc::Status finished = stream->Finish();
  const absl::Status status(static_cast<absl::StatusCode>(finished.error_code()), finished.error_message());
  if (complete && status.code() == absl::StatusCode::kCancelled) {
    statuses_.Expected(absl::StatusCode::kCancelled);
  } else {
    statuses_.Unexpected(status.ok() ? absl::InternalError("no query point arrived") : status,
                         absl::StrCat(plan.label, " worker ", config_.worker_id, ": the mid-tick stream"));
  }
}

void SoakWorker::Ended(const absl::Status& status, const char* where) {
  const bool ours = slot_.cancelled();
  if (status.ok()) {
    statuses_.Expected(absl::StatusCode::kOk);
  } else if (status.code() == absl::StatusCode::kCancelled && ours) {
    statuses_.Expected(absl::StatusCode::kCancelled);
    if (!own_cancel_ && !stop_->load()) ++counts_.disconnects[static_cast<int>(Disconnect::kRandomMoment)];
  } else if (status.code() == absl::StatusCode::kAborted && config_.plan->async) {
    statuses_.Expected(absl::StatusCode::kAborted);
  } else {
    statuses_.Unexpected(status, absl::StrCat(config_.plan->label, " worker ", config_.worker_id, " ", where));
  }
  DropStream();
}

void SoakWorker::CancelAndClose(const char* where) {
  own_cancel_ = true;
  slot_.Cancel();
  Ended(stream_->Close(), where);
  own_cancel_ = false;
}

void SoakWorker::DropStream() {
  slot_.Clear();
  stream_.reset();
  query_.reset();
}

void SoakWorker::Settle(absl::Time hard_deadline) {
  if (stream_ != nullptr) {
    // Holding a query point, the stream is between ticks and closes cleanly; otherwise the server
    // may be waiting for a quorum that the other workers, stopping too, will not complete.
    if (query_.has_value()) {
      Ended(stream_->Close(), "closed at the end");
    } else {
      CancelAndClose("cancelled at the end");
    }
  }
  for (int attempt = 0; pending_.has_value() && attempt < 10 && absl::Now() < hard_deadline; ++attempt) {
    if (!Connect(hard_deadline, /*settling=*/true)) break;
    if (stream_ != nullptr) CancelAndClose("cancelled after the last resend");
  }
  if (pending_.has_value()) {
    ledger_.Violation(absl::StrCat("worker ", config_.worker_id, " could not learn the fate of its gradient for tick ",
                                   pending_->tick, ": every resend failed"));
  }
}

}  // namespace basin::soak
