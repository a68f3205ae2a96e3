#include "server/session_manager.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status_macros.h"

namespace basin {
namespace {

absl::Status CheckMetricsRunLabel(const std::string& label) {
  if (label.size() > 32) {
    return absl::InvalidArgumentError(absl::StrCat("metrics_run is ", label.size(), " characters long; the limit is 32"));
  }
  for (char c : label) {
    const bool allowed = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    if (!allowed) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics_run '", absl::CHexEscape(label), "' may hold only letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

// The bytes of state a session of `spec` will hold, known before any is allocated: which state
// variables an optimizer has depends on its config alone (momentum buffers, variants), so one
// built over a single element has the same ones. InvalidArgument for a config the registry refuses.
absl::StatusOr<int64_t> StateBytesOf(const CreateSessionSpec& spec) {
  BASIN_ASSIGN_OR_RETURN(AnyOptimizer probe, CreateAnyOptimizer(spec.optimizer, ParameterLayout::Flat(1), spec.dtype));
  const int64_t variables =
      std::visit([](const auto& o) { return static_cast<int64_t>(o->StateVariableNames().size()); }, probe);
  return variables * spec.layout.num_elements() * DTypeSize(spec.dtype);
}

absl::Status CheckRoomForState(int64_t bytes, int64_t held, int64_t limit) {
  if (held + bytes > limit) {
    return absl::ResourceExhaustedError(absl::StrCat("the session needs ", bytes, " bytes of state; the server holds ",
                                                     held, " of its limit ", limit));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SessionManager::NewId() {
  // Random, so ids are not guessable across tenants, with a counter so they never collide.
  static absl::BitGen* gen = new absl::BitGen;
  return absl::StrFormat("s-%012x-%04x", absl::Uniform<uint64_t>(*gen) & 0xffffffffffffULL, ++id_counter_ & 0xffff);
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Replay(const CreateSessionSpec& spec) const {
  if (spec.request_id.empty()) return nullptr;
  auto it = requests_.find(spec.request_id);
  if (it == requests_.end()) return nullptr;
  if (it->second.fingerprint != spec.fingerprint) {
    return absl::AlreadyExistsError(absl::StrCat("request_id '", spec.request_id,
                                                 "' was used for a different session spec (session ",
                                                 it->second.session_id, ")"));
  }
  auto session = sessions_.find(it->second.session_id);
  if (session == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("request_id '", spec.request_id, "' created session ",
                                            it->second.session_id, ", which has been deleted"));
  }
  return session->second;
}

absl::Status SessionManager::CheckRoomForOneMore() const {
  if (static_cast<int64_t>(sessions_.size()) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server holds ", sessions_.size(), " sessions, its limit (--max_sessions)"));
  }
  return absl::OkStatus();
}

absl::Status SessionManager::CheckMetricsRunAvailable(const std::string& label) const {
  if (label.empty()) return absl::OkStatus();
  if (metrics_runs_.count(label) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("metrics_run '", label, "' is in use by session ",
                                                 metrics_runs_.at(label)->id(), "; labels are unique"));
  }
  if (static_cast<int64_t>(metrics_runs_.size()) >= limits_.max_metric_runs) {
    return absl::ResourceExhaustedError(absl::StrCat("the server holds ", metrics_runs_.size(),
                                                     " sessions with a metrics_run label, its limit "
                                                     "(--max_metric_runs); create this one without a label"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Create(CreateSessionSpec spec) {
  if (spec.request_id.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat("request_id is ", spec.request_id.size(),
                                                   " bytes long; the limit is 128"));
  }
  BASIN_RETURN_IF_ERROR(CheckMetricsRunLabel(spec.metrics_run));
  {
    std::lock_guard<std::mutex> lock(mu_);
    BASIN_ASSIGN_OR_RETURN(std::shared_ptr<Session> earlier, Replay(spec));
    if (earlier != nullptr) return earlier;
    BASIN_RETURN_IF_ERROR(CheckRoomForOneMore());
    BASIN_RETURN_IF_ERROR(CheckMetricsRunAvailable(spec.metrics_run));
  }
  if (spec.layout.num_elements() > limits_.max_parameters_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat("the layout has ", spec.layout.num_elements(),
                                                     " parameters; the limit per session is ",
                                                     limits_.max_parameters_per_session));
  }
  if (spec.workers.num_workers > limits_.max_workers_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat("workers.num_workers is ", spec.workers.num_workers,
                                                     "; the limit per session is ", limits_.max_workers_per_session));
  }
  // Refused before it is allocated: a layout within the parameter limit can still need more state
  // than the server may hold (several variables, f64), and allocating it first could exhaust memory.
  BASIN_ASSIGN_OR_RETURN(const int64_t state_bytes, StateBytesOf(spec));
  {
    std::lock_guard<std::mutex> lock(mu_);
    BASIN_RETURN_IF_ERROR(CheckRoomForState(state_bytes, total_state_bytes_, limits_.max_total_state_bytes));
  }
  // Built outside the lock: allocation and initial values can take a while for a large model.
  BASIN_ASSIGN_OR_RETURN(AnyOptimizer optimizer, CreateAnyOptimizer(spec.optimizer, spec.layout, spec.dtype));
  const int64_t ticks_per_step = std::visit([](const auto& o) { return o->ticks_per_step(); }, optimizer);
  BASIN_RETURN_IF_ERROR(spec.workers.Check(ticks_per_step));
  if (spec.initialize) BASIN_RETURN_IF_ERROR(spec.initialize(optimizer));

  std::lock_guard<std::mutex> lock(mu_);
  // Again under the lock: a concurrent Create may have won the race.
  BASIN_ASSIGN_OR_RETURN(std::shared_ptr<Session> earlier, Replay(spec));
  if (earlier != nullptr) return earlier;
  BASIN_RETURN_IF_ERROR(CheckRoomForOneMore());
  BASIN_RETURN_IF_ERROR(CheckMetricsRunAvailable(spec.metrics_run));
  auto session = std::make_shared<Session>(NewId(), std::move(optimizer), spec.workers, spec.metrics_run, metrics_);
  // Again under the lock: concurrent Creates may have taken the room.
  const int64_t bytes = session->state_bytes();
  BASIN_RETURN_IF_ERROR(CheckRoomForState(bytes, total_state_bytes_, limits_.max_total_state_bytes));
  total_state_bytes_ += bytes;
  sessions_.emplace(session->id(), session);
  if (!spec.request_id.empty()) requests_[spec.request_id] = Request{spec.fingerprint, session->id()};
  if (!spec.metrics_run.empty()) metrics_runs_.emplace(spec.metrics_run, session);
  if (session->series() != nullptr) session->series()->sessions_created->Increment();
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("no session '", id, "'"));
  return it->second;
}

absl::Status SessionManager::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("no session '", id, "'"));
  total_state_bytes_ -= it->second->state_bytes();
  it->second->Close();  // streams still holding it stop at their next gradient
  if (!it->second->metrics_run().empty()) metrics_runs_.erase(it->second->metrics_run());
  if (it->second->series() != nullptr) it->second->series()->sessions_deleted->Increment();
  sessions_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<SessionManager::Page> SessionManager::List(int page_size, const std::string& page_token) const {
  if (page_size < 0 || page_size > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be in [0, 1000], got ", page_size));
  }
  if (page_size == 0) page_size = 100;
  std::lock_guard<std::mutex> lock(mu_);
  Page page;
  auto it = page_token.empty() ? sessions_.begin() : sessions_.upper_bound(page_token);
  for (; it != sessions_.end() && static_cast<int>(page.sessions.size()) < page_size; ++it) {
    page.sessions.push_back(it->second);
  }
  if (it != sessions_.end() && !page.sessions.empty()) page.next_page_token = page.sessions.back()->id();
  return page;
}

int64_t SessionManager::num_sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(sessions_.size());
}

std::vector<std::shared_ptr<Session>> SessionManager::MetricsRuns() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Session>> runs;
  runs.reserve(metrics_runs_.size());
  for (const auto& [label, session] : metrics_runs_) runs.push_back(session);
  return runs;
}

int64_t SessionManager::total_state_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_state_bytes_;
}

}  // namespace basin
