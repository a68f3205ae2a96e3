#include "server/session_manager.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/cleanup/cleanup.h"
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

std::string DescribeTenant(const std::string& tenant) {
  return tenant.empty() ? "the default tenant" : absl::StrCat("tenant '", tenant, "'");
}

absl::Status NoSession(const std::string& id) { return absl::NotFoundError(absl::StrCat("no session '", id, "'")); }

}  // namespace

std::string SessionManager::NewId() {
  // Random, so ids are not guessable across tenants, with a counter so they never collide (also
  // with the sessions recovered from disk).
  while (true) {
    std::string id = absl::StrFormat("s-%012x-%04x", absl::Uniform<uint64_t>(id_bits_) & 0xffffffffffffULL,
                                     ++id_counter_ & 0xffff);
    if (sessions_.count(id) == 0 && evicted_.count(id) == 0 && failed_.count(id) == 0) return id;
  }
}

absl::StatusOr<std::string> SessionManager::Replay(const CreateSessionSpec& spec) const {
  if (spec.request_id.empty()) return std::string();
  auto it = requests_.find({spec.tenant, spec.request_id});
  if (it == requests_.end()) return std::string();
  if (it->second.fingerprint != spec.fingerprint) {
    return absl::AlreadyExistsError(absl::StrCat("request_id '", spec.request_id,
                                                 "' was used for a different session spec (session ",
                                                 it->second.session_id, ")"));
  }
  const std::string& id = it->second.session_id;
  if (sessions_.count(id) == 0 && evicted_.count(id) == 0) {
    return absl::NotFoundError(absl::StrCat("request_id '", spec.request_id, "' created session ", id,
                                            ", which has been deleted"));
  }
  return id;
}

absl::Status SessionManager::CheckRoomForOneMore(const std::string& tenant) const {
  if (static_cast<int64_t>(sessions_.size()) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat("the server holds ", sessions_.size(),
                                                     " sessions, its limit (--max_sessions ", limits_.max_sessions, ")"));
  }
  auto usage = usage_.find(tenant);
  const int64_t held = usage == usage_.end() ? 0 : usage->second.sessions;
  if (limits_.max_sessions_per_tenant > 0 && held >= limits_.max_sessions_per_tenant) {
    return absl::ResourceExhaustedError(absl::StrCat(DescribeTenant(tenant), " holds ", held,
                                                     " sessions, its limit (--max_sessions_per_tenant ",
                                                     limits_.max_sessions_per_tenant, ")"));
  }
  return absl::OkStatus();
}

absl::Status SessionManager::CheckRoomForState(const std::string& tenant, int64_t bytes) const {
  if (total_state_bytes_ + bytes > limits_.max_total_state_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("the session needs ", bytes, " bytes of state; the server holds ",
                                                     total_state_bytes_, " of its limit ",
                                                     limits_.max_total_state_bytes, " (--max_total_state_bytes)"));
  }
  auto usage = usage_.find(tenant);
  const int64_t held = usage == usage_.end() ? 0 : usage->second.state_bytes;
  if (limits_.max_state_bytes_per_tenant > 0 && held + bytes > limits_.max_state_bytes_per_tenant) {
    return absl::ResourceExhaustedError(absl::StrCat("the session needs ", bytes, " bytes of state; ",
                                                     DescribeTenant(tenant), " holds ", held, " of its limit ",
                                                     limits_.max_state_bytes_per_tenant,
                                                     " (--max_state_bytes_per_tenant)"));
  }
  return absl::OkStatus();
}

absl::Status SessionManager::CheckMetricsRunAvailable(const std::string& label, const std::string& tenant) const {
  if (label.empty()) return absl::OkStatus();
  if (auto owner = metrics_runs_.find(label); owner != metrics_runs_.end()) {
    // Labels are server-wide (they are Prometheus labels); another tenant's session id stays hidden.
    const std::string session = TenantOf(owner->second) == tenant ? absl::StrCat("session ", owner->second)
                                                                  : "another tenant's session";
    return absl::AlreadyExistsError(
        absl::StrCat("metrics_run '", label, "' is in use by ", session, "; labels are unique server-wide"));
  }
  if (static_cast<int64_t>(metrics_runs_.size()) >= limits_.max_metric_runs) {
    return absl::ResourceExhaustedError(absl::StrCat("the server holds ", metrics_runs_.size(),
                                                     " sessions with a metrics_run label, its limit (--max_metric_runs ",
                                                     limits_.max_metric_runs, "); create this one without a label"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Create(CreateSessionSpec spec) {
  if (spec.request_id.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat("request_id is ", spec.request_id.size(),
                                                   " bytes long; the limit is 128"));
  }
  BASIN_RETURN_IF_ERROR(CheckMetricsRunLabel(spec.metrics_run));
  if (spec.layout.num_elements() > limits_.max_parameters_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat("the layout has ", spec.layout.num_elements(),
                                                     " parameters; the limit per session is ",
                                                     limits_.max_parameters_per_session,
                                                     " (--max_parameters_per_session)"));
  }
  if (spec.workers.num_workers > limits_.max_workers_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat("workers.num_workers is ", spec.workers.num_workers,
                                                     "; the limit per session is ", limits_.max_workers_per_session,
                                                     " (--max_workers_per_session)"));
  }
  if (spec.durability.persisted() && store_ == nullptr) {
    if (spec.durability_set) {
      return absl::FailedPreconditionError(absl::StrCat("durability ", DurabilityModeName(spec.durability.mode),
                                                        " needs a data directory; this server runs without one "
                                                        "(--data_dir=none)"));
    }
    spec.durability.mode = Durability::Mode::kNone;
  }
  // Building the optimizer allocates and zeroes its state. What depends only on the spec is
  // checked first, on an optimizer of the same spec with one parameter, and the state's size is
  // reserved: a session the server cannot hold is refused without touching that memory, and
  // concurrent creations cannot together overshoot the limit.
  BASIN_ASSIGN_OR_RETURN(AnyOptimizer probe, CreateAnyOptimizer(spec.optimizer, ParameterLayout::Flat(1), spec.dtype));
  const int64_t ticks_per_step = std::visit([](const auto& o) { return o->ticks_per_step(); }, probe);
  BASIN_RETURN_IF_ERROR(spec.workers.Check(ticks_per_step));
  const int64_t state_variables =
      std::visit([](const auto& o) { return static_cast<int64_t>(o->StateVariableNames().size()); }, probe);
  const int64_t bytes = state_variables * spec.layout.num_elements() * DTypeSize(spec.dtype);
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    BASIN_ASSIGN_OR_RETURN(id, Replay(spec));
  }
  if (!id.empty()) return Get(spec.tenant, id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    BASIN_RETURN_IF_ERROR(CheckRoomForOneMore(spec.tenant));
    BASIN_RETURN_IF_ERROR(CheckMetricsRunAvailable(spec.metrics_run, spec.tenant));
    BASIN_RETURN_IF_ERROR(CheckRoomForState(spec.tenant, bytes));
    Reserve(spec.tenant, bytes, 0);
    id = NewId();
  }
  absl::Cleanup release_reservation = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    Release(spec.tenant, bytes, 0);
  };
  // Built outside the lock: allocation and initial values can take a while for a large model.
  BASIN_ASSIGN_OR_RETURN(AnyOptimizer optimizer, CreateAnyOptimizer(spec.optimizer, spec.layout, spec.dtype));
  if (spec.initialize) BASIN_RETURN_IF_ERROR(spec.initialize(optimizer));
  auto session = std::make_shared<Session>(
      id, std::move(optimizer), spec.workers, spec.metrics_run, metrics_,
      SessionSettings{spec.tenant, spec.request_id, spec.fingerprint, spec.durability, spec.nonfinite_policy});
  // On disk before anyone sees it, outside the lock (it writes the whole state).
  if (spec.durability.persisted()) BASIN_RETURN_IF_ERROR(session->StartPersisting(store_));
  std::move(release_reservation).Cancel();
  auto inserted = Insert(session, spec, bytes);
  // Refused, or a concurrent create with the same request id won: this session never existed.
  if (spec.durability.persisted() && (!inserted.ok() || *inserted != session)) session->RemoveFiles().IgnoreError();
  return inserted;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Insert(std::shared_ptr<Session> session,
                                                                const CreateSessionSpec& spec, int64_t reserved) {
  std::string earlier;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Release(spec.tenant, reserved, 0);
    // Again under the lock: a concurrent Create may have won the race.
    BASIN_ASSIGN_OR_RETURN(earlier, Replay(spec));
    if (earlier.empty()) {
      BASIN_RETURN_IF_ERROR(CheckRoomForOneMore(spec.tenant));
      BASIN_RETURN_IF_ERROR(CheckMetricsRunAvailable(spec.metrics_run, spec.tenant));
      BASIN_RETURN_IF_ERROR(CheckRoomForState(spec.tenant, session->state_bytes()));
      Admit(session);
      if (session->series() != nullptr) session->series()->sessions_created->Increment();
      return session;
    }
  }
  return Get(spec.tenant, earlier);
}

void SessionManager::Reserve(const std::string& tenant, int64_t bytes, int64_t sessions) {
  total_state_bytes_ += bytes;
  Usage& usage = usage_[tenant];
  usage.state_bytes += bytes;
  usage.sessions += sessions;
}

void SessionManager::Release(const std::string& tenant, int64_t bytes, int64_t sessions) {
  total_state_bytes_ -= bytes;
  auto usage = usage_.find(tenant);
  usage->second.state_bytes -= bytes;
  usage->second.sessions -= sessions;
  if (usage->second.sessions == 0 && usage->second.state_bytes == 0) usage_.erase(usage);
}

void SessionManager::Admit(const std::shared_ptr<Session>& session) {
  Reserve(session->tenant(), session->state_bytes(), 1);
  const SessionSettings& settings = session->settings();
  if (!settings.request_id.empty()) {
    requests_[{settings.tenant, settings.request_id}] = Request{settings.fingerprint, session->id()};
  }
  if (!session->metrics_run().empty()) metrics_runs_.emplace(session->metrics_run(), session->id());
  sessions_.emplace(session->id(), session);
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Get(const std::string& tenant, const std::string& id) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto it = sessions_.find(id);
    if (it != sessions_.end() && it->second->tenant() == tenant) {
      it->second->Touch();
      return it->second;
    }
    auto evicted = evicted_.find(id);
    if (evicted == evicted_.end() || evicted->second.tenant() != tenant) break;
    if (loading_.count(id) != 0) {  // another call is reloading it: wait for that one
      loaded_.wait(lock);
      continue;
    }
    // Reloaded outside the lock (it reads the whole state), once.
    loading_.insert(id);
    lock.unlock();
    auto session = Session::Recover(*store_, id, metrics_);
    lock.lock();
    loading_.erase(id);
    loaded_.notify_all();
    evicted = evicted_.find(id);
    if (evicted == evicted_.end()) return NoSession(id);  // deleted meanwhile
    if (!session.ok()) {
      std::fprintf(stderr, "basin-server: evicted session %s could not be reloaded, reported as failed: %s\n",
                   id.c_str(), session.status().ToString().c_str());
      Release(tenant, evicted->second.state_bytes, 1);
      if (!evicted->second.metrics_run.empty()) metrics_runs_.erase(evicted->second.metrics_run);
      failed_[id] = FailedSession{tenant, std::string(session.status().message())};
      evicted_.erase(evicted);
      continue;
    }
    evicted_.erase(evicted);
    (*session)->Touch();
    sessions_.emplace(id, *session);
    return *session;
  }
  return Missing(tenant, id);
}

absl::Status SessionManager::Missing(const std::string& tenant, const std::string& id) const {
  auto failed = failed_.find(id);
  if (failed != failed_.end() && failed->second.tenant == tenant) {
    return absl::DataLossError(absl::StrCat("session '", id, "' could not be recovered: ", failed->second.reason,
                                            "; only DeleteSession works on it"));
  }
  return NoSession(id);
}

absl::StatusOr<SessionSummary> SessionManager::Describe(const std::string& tenant, const std::string& id) const {
  std::shared_ptr<Session> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it != sessions_.end() && it->second->tenant() == tenant) {
      live = it->second;
    } else if (auto evicted = evicted_.find(id); evicted != evicted_.end() && evicted->second.tenant() == tenant) {
      return evicted->second;
    } else {
      return Missing(tenant, id);
    }
  }
  return live->Summary();
}

std::string SessionManager::TenantOf(const std::string& id) const {
  if (auto it = sessions_.find(id); it != sessions_.end()) return it->second->tenant();
  if (auto it = evicted_.find(id); it != evicted_.end()) return it->second.tenant();
  return "";
}

absl::Status SessionManager::Delete(const std::string& tenant, const std::string& id) {
  std::shared_ptr<Session> session;
  {
    std::unique_lock<std::mutex> lock(mu_);
    loaded_.wait(lock, [&] { return loading_.count(id) == 0; });
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->tenant() != tenant) {
      auto evicted = evicted_.find(id);
      if (evicted != evicted_.end() && evicted->second.tenant() == tenant) {
        const SessionSummary& summary = evicted->second;
        Release(tenant, summary.state_bytes, 1);
        if (!summary.metrics_run.empty()) metrics_runs_.erase(summary.metrics_run);
        if (metrics_ != nullptr) metrics_->ForOptimizer(OptimizerName(summary.spec.config))->sessions_deleted->Increment();
        evicted_.erase(evicted);
        return store_->Remove(id);
      }
      auto failed = failed_.find(id);
      if (failed == failed_.end() || failed->second.tenant != tenant) return NoSession(id);
      failed_.erase(failed);
      return store_->Remove(id);
    }
    session = it->second;
    Release(tenant, session->state_bytes(), 1);
    session->Close();  // streams still holding it stop at their next gradient
    if (!session->metrics_run().empty()) metrics_runs_.erase(session->metrics_run());
    if (session->series() != nullptr) session->series()->sessions_deleted->Increment();
    sessions_.erase(it);
  }
  if (session->settings().durability.persisted()) return session->RemoveFiles();
  return absl::OkStatus();
}

int SessionManager::EvictIdle(absl::Time now, absl::Duration ttl) {
  if (store_ == nullptr || ttl <= absl::ZeroDuration()) return 0;
  std::vector<std::shared_ptr<Session>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, session] : sessions_) {
      // Only the manager holds it: no stream is attached and no call is running on it.
      if (session->settings().durability.persisted() && session.use_count() == 1 &&
          now - session->last_used() >= ttl) {
        idle.push_back(session);
      }
    }
  }
  int evicted = 0;
  for (std::shared_ptr<Session>& session : idle) {
    const absl::Time used = session->last_used();
    if (session->SnapshotDue(absl::InfiniteFuture(), absl::ZeroDuration())) {
      absl::Status written = session->Snapshot();
      if (!written.ok()) {
        std::fprintf(stderr, "basin-server: session %s stays in memory: %s\n", session->id().c_str(),
                     written.ToString().c_str());
        continue;
      }
    }
    SessionSummary summary = session->Summary();
    summary.resident = false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session->id());
    // Used while it was written out (a call took it, or took it and let go): it stays.
    if (it == sessions_.end() || it->second != session || session.use_count() != 2 || session->last_used() != used) {
      continue;
    }
    evicted_.emplace(session->id(), std::move(summary));
    sessions_.erase(it);
    session.reset();  // the last reference: the state is freed, its log closed, before anyone can reload it
    ++evicted;
  }
  return evicted;
}

SessionManager::Recovery SessionManager::Recover() {
  Recovery recovery;
  if (store_ == nullptr) return recovery;
  auto ids = store_->SessionIds();
  if (!ids.ok()) {
    std::fprintf(stderr, "basin-server: cannot list the sessions on disk: %s\n", ids.status().ToString().c_str());
    return recovery;
  }
  for (const std::string& id : *ids) {
    if (store_->Unfinished(id)) {
      // Its creation died before the first snapshot, so it was never acknowledged.
      absl::Status removed = store_->Remove(id);
      std::fprintf(stderr, "basin-server: removed %s, a session whose creation did not finish: %s\n", id.c_str(),
                   removed.ToString().c_str());
      continue;
    }
    int64_t replayed = 0;
    auto session = Session::Recover(*store_, id, metrics_, &replayed);
    std::lock_guard<std::mutex> lock(mu_);
    if (!session.ok()) {
      ++recovery.failed;
      // Without a readable owner file, no tenant can reach it: it stays on disk for an operator.
      auto owner = store_->Owner(id);
      if (owner.ok()) failed_[id] = FailedSession{*owner, std::string(session.status().message())};
      std::fprintf(stderr,
                   "basin-server: session %s not recovered, reported as failed (DATA_LOSS) and left on disk%s: %s\n",
                   id.c_str(), owner.ok() ? "" : " (its owner is unreadable: no tenant sees it)",
                   session.status().ToString().c_str());
      continue;
    }
    ++recovery.recovered;
    recovery.replayed_records += replayed;
    Admit(*session);
  }
  return recovery;
}

std::vector<std::shared_ptr<Session>> SessionManager::Persisted() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& [id, session] : sessions_) {
    if (session->settings().durability.persisted()) out.push_back(session);
  }
  return out;
}

int SessionManager::SnapshotIf(const std::function<bool(const Session&)>& due) {
  int failures = 0;
  for (const auto& session : Persisted()) {
    if (!due(*session)) continue;
    absl::Status s = session->Snapshot();
    if (!s.ok()) {
      ++failures;
      std::fprintf(stderr, "basin-server: %s\n", s.ToString().c_str());
    }
  }
  return failures;
}

int SessionManager::SnapshotDue(absl::Time now) {
  return SnapshotIf([&](const Session& s) { return s.SnapshotDue(now, snapshot_interval_); });
}

int SessionManager::SnapshotAll() {
  // Every session that changed since its last snapshot, whatever its interval.
  return SnapshotIf([](const Session& s) { return s.SnapshotDue(absl::InfiniteFuture(), absl::ZeroDuration()); });
}

std::map<std::string, SessionManager::FailedSession> SessionManager::Failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

absl::StatusOr<SessionManager::Page> SessionManager::List(const std::string& tenant, int page_size,
                                                          const std::string& page_token) const {
  if (page_size < 0 || page_size > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be in [0, 1000], got ", page_size));
  }
  if (page_size == 0) page_size = 100;
  // Resident, evicted and failed sessions, merged by id: the first page_size + 1 of each map
  // after the token hold the first page_size + 1 of all. A resident session's summary is taken
  // after the manager's lock is released (it takes the session's lock).
  struct Entry {
    std::shared_ptr<Session> live;
    SessionSummary summary;
    const std::string& id() const { return live != nullptr ? live->id() : summary.id; }
  };
  std::vector<Entry> entries;
  const std::size_t wanted = static_cast<std::size_t>(page_size) + 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto take = [&](const auto& map, auto tenant_of, auto entry_of) {
      std::size_t taken = 0;
      for (auto it = page_token.empty() ? map.begin() : map.upper_bound(page_token);
           it != map.end() && taken < wanted; ++it) {
        if (tenant_of(it->second) != tenant) continue;
        entries.push_back(entry_of(*it));
        ++taken;
      }
    };
    take(sessions_, [](const auto& s) { return s->tenant(); }, [](const auto& kv) { return Entry{kv.second, {}}; });
    take(evicted_, [](const auto& s) { return s.tenant(); }, [](const auto& kv) { return Entry{nullptr, kv.second}; });
    take(failed_, [](const auto& f) { return f.tenant; }, [](const auto& kv) {
      Entry entry;
      entry.summary.id = kv.first;
      entry.summary.settings.tenant = kv.second.tenant;
      entry.summary.resident = false;
      entry.summary.failure = kv.second.reason;
      return entry;
    });
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.id() < b.id(); });
  Page page;
  if (entries.size() > static_cast<std::size_t>(page_size)) {
    entries.resize(static_cast<std::size_t>(page_size));
    page.next_page_token = entries.back().id();
  }
  page.sessions.reserve(entries.size());
  for (Entry& entry : entries) {
    page.sessions.push_back(entry.live != nullptr ? entry.live->Summary() : std::move(entry.summary));
  }
  return page;
}

int64_t SessionManager::num_sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(sessions_.size() + evicted_.size());
}

int64_t SessionManager::num_evicted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(evicted_.size());
}

std::vector<SessionSummary> SessionManager::MetricsRuns() const {
  std::vector<std::shared_ptr<Session>> live;
  std::vector<SessionSummary> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs.reserve(metrics_runs_.size());
    for (const auto& [label, id] : metrics_runs_) {
      if (auto it = sessions_.find(id); it != sessions_.end()) {
        live.push_back(it->second);
        runs.emplace_back();
      } else if (auto evicted = evicted_.find(id); evicted != evicted_.end()) {
        runs.push_back(evicted->second);
      }
    }
  }
  auto next = live.begin();
  for (SessionSummary& run : runs) {
    if (run.id.empty()) run = (*next++)->Summary();
  }
  return runs;
}

int64_t SessionManager::total_state_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_state_bytes_;
}

}  // namespace basin
