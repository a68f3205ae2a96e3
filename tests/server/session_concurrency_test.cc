// The server's concurrency without gRPC, so that TSan (which cannot follow Debian's uninstrumented
// gRPC) checks it: workers of one session against its snapshots and log syncs, the group commit
// of the write-ahead log against log switches, and concurrent Create/Delete/List against the
// limits. Every test checks the end state exactly, not only the absence of a report.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/state_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/files.h"
#include "server/persistence/wal_format.h"
#include "server/persistence/write_ahead_log.h"
#include "server/server_metrics.h"
#include "server/session_collector.h"
#include "server/session_manager.h"
#include "tests/testing/crash_image.h"

namespace basin {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr int64_t kDim = 64;
// No wait in these tests may take longer; each is a failure, not a hang.
constexpr absl::Duration kPatience = absl::Seconds(60);

fs::path FreshDirectory(const std::string& what) {
  const fs::path dir = fs::temp_directory_path() /
                       absl::StrCat("basin-concurrency-", ::getpid(), "-",
                                    ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", what);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

SgldConfig NoisySgld() {
  SgldConfig c;
  c.lr = 0.01;
  c.temperature = 0.1;
  return c;
}

CreateSessionSpec SpecOf(const std::string& tenant, OptimizerConfig config, WorkerPolicy workers,
                         Durability::Mode durability, int64_t dimension = kDim) {
  CreateSessionSpec spec;
  spec.tenant = tenant;
  spec.layout = ParameterLayout::Flat(dimension);
  spec.optimizer.config = std::move(config);
  spec.optimizer.seed = 17;
  spec.workers = workers;
  spec.durability.mode = durability;
  return spec;
}

// Worker w's gradient at query point q: a pure function of both, so a run can be repeated.
std::vector<float> WorkerGradient(const QueryPoint<float>& q, int worker) {
  std::vector<float> g(q.values.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    g[i] = q.values[i] * (1.0f + 0.1f * worker) + 0.01f * std::sin(0.3f * q.tick + 0.1f * i + worker);
  }
  return g;
}

std::string StateOf(const Session& s) {
  return s.WithOptimizer([](const auto& o) {
    using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
    return StateCodec<Real>::Encode(o);
  });
}

// Runs `body` until `done` is set, at most `max_rounds` times, pausing `pause` between rounds.
void RepeatUntil(const std::atomic<bool>& done, int max_rounds, std::chrono::microseconds pause,
                 const std::function<void()>& body) {
  for (int round = 0; round < max_rounds && !done.load(); ++round) {
    body();
    std::this_thread::sleep_for(pause);
  }
}

// A server's data directory and its manager; a crash image is a copy of the directory opened by a
// second store, as a restart after SIGKILL would find it.
class DataDirectory {
 public:
  explicit DataDirectory(const std::string& name, ServerLimits limits = {}) : root_(FreshDirectory(name)) {
    auto store = SessionStore::Open((root_ / "live").string());
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    manager_ = std::make_unique<SessionManager>(limits, nullptr, store_.get(), absl::Hours(1));
  }
  ~DataDirectory() {
    manager_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  SessionManager& manager() { return *manager_; }
  // The session directories on disk.
  std::set<std::string> SessionsOnDisk() const {
    std::set<std::string> ids;
    for (const auto& entry : fs::directory_iterator(root_ / "live" / "sessions")) {
      ids.insert(entry.path().filename().string());
    }
    return ids;
  }

  using Restarted = testing::Restarted;
  Restarted CrashImage() { return testing::CrashImageOf(root_ / "live", root_ / absl::StrCat("crash-", ++crashes_)); }

 private:
  fs::path root_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SessionManager> manager_;
  int crashes_ = 0;
};

// --- One session, many threads ---

// Four workers close every tick of an every_tick quorum, each syncing the log before it goes on,
// while another thread snapshots the session (which switches its log under the workers) and reads
// its durable tick. The result is the sequential run's bit for bit, and so is the crash image.
TEST(SessionConcurrencyTest, QuorumWorkersOfAnEveryTickSessionWhileAnotherThreadSnapshotsIt) {
  constexpr int kWorkers = 4;
  constexpr int64_t kTicks = 40;
  const WorkerPolicy quorum{kWorkers, WorkerPolicy::Mode::kSync, kWorkers, 0};
  DataDirectory data("quorum");
  auto created = data.manager().Create(SpecOf("", EmcmcConfig::PaperDefaults(), quorum, Durability::Mode::kEveryTick));
  ASSERT_TRUE(created.ok()) << created.status();
  std::shared_ptr<Session> live = *created;

  std::atomic<bool> done{false};
  std::atomic<int> snapshots{0};
  std::thread snapshotter([&] {
    int64_t last_durable = 0;
    RepeatUntil(done, 20000, std::chrono::microseconds(500), [&] {
      const absl::Status s = live->Snapshot();
      EXPECT_TRUE(s.ok()) << s;
      const int64_t durable = live->durable_tick();
      EXPECT_GE(durable, last_durable) << "the durable tick went back";
      last_durable = durable;
      ++snapshots;
    });
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int64_t t = 0; t < kTicks; ++t) {
        const QueryPoint<float> q = live->CopyQuery<float>();
        ASSERT_EQ(q.tick, t);
        auto outcome = live->SubmitGradient<float>(w, t, WorkerGradient(q, w), 0.5 * w, 1.0 + w);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ASSERT_EQ(*outcome, TickOutcome::kApplied) << "worker " << w << " tick " << t;
        const absl::Status durable = live->MakeDurable();
        ASSERT_TRUE(durable.ok()) << durable;
        ASSERT_TRUE(live->WaitForTickAfter(t, absl::Now() + kPatience, nullptr)) << "tick " << t << " never closed";
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  snapshotter.join();
  EXPECT_GT(snapshots.load(), 0);

  EXPECT_EQ(live->tick(), kTicks);
  EXPECT_EQ(live->durable_tick(), kTicks);
  const SessionCounters counters = live->counters();
  EXPECT_EQ(counters.gradients_dropped, 0);
  EXPECT_EQ(counters.gradients_duplicate, 0);

  // The same ticks from one thread, in worker order, on a session that never persists.
  SessionManager alone(ServerLimits{});
  auto reference = *alone.Create(SpecOf("", EmcmcConfig::PaperDefaults(), quorum, Durability::Mode::kNone));
  for (int64_t t = 0; t < kTicks; ++t) {
    const QueryPoint<float> q = reference->CopyQuery<float>();
    for (int w = 0; w < kWorkers; ++w) {
      ASSERT_EQ(*reference->SubmitGradient<float>(w, t, WorkerGradient(q, w), 0.5 * w, 1.0 + w), TickOutcome::kApplied);
    }
  }
  EXPECT_EQ(StateOf(*live), StateOf(*reference));

  DataDirectory::Restarted r = data.CrashImage();
  ASSERT_EQ(r.recovery.recovered, 1);
  auto back = r.manager->Get("", live->id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->tick(), kTicks);
  EXPECT_EQ(StateOf(**back), StateOf(*live));
}

// Async workers apply in whatever order they win the session's lock; the log must hold exactly
// that order, so the crash image (snapshot plus log, while snapshots switched logs throughout)
// replays to the live state bit for bit.
TEST(SessionConcurrencyTest, AsyncWorkersWhileSnapshottingRecoverToTheLiveStateBitwise) {
  constexpr int kWorkers = 4;
  constexpr int kPerWorker = 50;
  const WorkerPolicy async{kWorkers, WorkerPolicy::Mode::kAsync, 1, kWorkers * kPerWorker};
  DataDirectory data("async");
  auto live = *data.manager().Create(SpecOf("", NoisySgld(), async, Durability::Mode::kEveryTick));

  std::atomic<bool> done{false};
  std::thread snapshotter([&] {
    RepeatUntil(done, 20000, std::chrono::microseconds(700), [&] {
      const absl::Status s = live->Snapshot();
      EXPECT_TRUE(s.ok()) << s;
    });
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int k = 0; k < kPerWorker; ++k) {
        const QueryPoint<float> q = live->CopyQuery<float>();
        auto outcome = live->SubmitGradient<float>(w, q.tick, WorkerGradient(q, w), 1.0, 1.0);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        // The worker's previous gradient advanced the tick past the one it sent, so this is new.
        ASSERT_EQ(*outcome, TickOutcome::kApplied);
        const absl::Status durable = live->MakeDurable();
        ASSERT_TRUE(durable.ok()) << durable;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  snapshotter.join();

  EXPECT_EQ(live->tick(), kWorkers * kPerWorker);
  EXPECT_EQ(live->durable_tick(), kWorkers * kPerWorker);
  EXPECT_EQ(live->counters().gradients_duplicate, 0);
  DataDirectory::Restarted r = data.CrashImage();
  auto back = r.manager->Get("", live->id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->tick(), kWorkers * kPerWorker);
  EXPECT_EQ(StateOf(**back), StateOf(*live));
  EXPECT_EQ((*back)->counters().gradients_stale_applied, live->counters().gradients_stale_applied);
}

// Eight sessions, periodic and every_tick, each trained by its own thread while the server's
// snapshot loop (SessionManager::SnapshotDue, as BasinServer runs it) snapshots them all: each
// ends as it would alone, and the crash image after a final SnapshotAll holds every one.
TEST(SessionConcurrencyTest, SessionsTrainedSideBySideWithTheSnapshotLoopEndAsEachWouldAlone) {
  constexpr int kSessions = 8;
  constexpr int64_t kTicks = 30;
  DataDirectory data("side-by-side");
  SessionManager alone(ServerLimits{});
  std::vector<std::shared_ptr<Session>> live, reference;
  for (int i = 0; i < kSessions; ++i) {
    const Durability::Mode mode = i % 2 == 0 ? Durability::Mode::kPeriodic : Durability::Mode::kEveryTick;
    CreateSessionSpec spec = SpecOf(absl::StrCat("tenant-", i % 3), NoisySgld(), WorkerPolicy{}, mode, kDim + i);
    spec.optimizer.seed = 100 + i;
    live.push_back(*data.manager().Create(spec));
    spec.durability.mode = Durability::Mode::kNone;
    reference.push_back(*alone.Create(spec));
  }
  std::atomic<bool> done{false};
  std::thread snapshot_loop([&] {
    // Every session is due at every round: an hour from now is past any interval of this test.
    RepeatUntil(done, 20000, std::chrono::microseconds(500),
                [&] { EXPECT_EQ(data.manager().SnapshotDue(absl::Now() + absl::Hours(2)), 0); });
  });
  auto train = [](Session& s) {
    for (int64_t t = 0; t < kTicks; ++t) {
      const QueryPoint<float> q = s.CopyQuery<float>();
      auto outcome = s.SubmitGradient<float>(0, t, WorkerGradient(q, 0), 1.0, 1.0);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      ASSERT_TRUE(s.MakeDurable().ok());
    }
  };
  std::vector<std::thread> trainers;
  for (int i = 0; i < kSessions; ++i) trainers.emplace_back([&, i] { train(*live[i]); });
  for (auto& t : trainers) t.join();
  done = true;
  snapshot_loop.join();
  for (int i = 0; i < kSessions; ++i) train(*reference[i]);

  EXPECT_EQ(data.manager().SnapshotAll(), 0);
  DataDirectory::Restarted r = data.CrashImage();
  EXPECT_EQ(r.recovery.recovered, kSessions);
  EXPECT_EQ(r.recovery.failed, 0);
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_EQ(live[i]->tick(), kTicks);
    EXPECT_EQ(StateOf(*live[i]), StateOf(*reference[i])) << "session " << i;
    auto back = r.manager->Get(live[i]->tenant(), live[i]->id());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(StateOf(**back), StateOf(*live[i])) << "session " << i;
  }
}

// --- The write-ahead log's group commit ---

// Threads append (in one order, under a lock, as sessions do) and each syncs through its own
// record outside it, while another thread switches the log to new files (as snapshots do). Every
// record ends up in exactly one file, once, in sequence, with its values, and a sync never
// returns before the record it waited for is covered.
TEST(WriteAheadLogConcurrencyTest, GroupCommitAndLogSwitchesKeepEveryRecordOnceInOrder) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 60;
  const fs::path dir = FreshDirectory("wal");
  auto log_path = [&](uint64_t first_seq) { return (dir / absl::StrCat("wal-", first_seq)).string(); };
  auto first = AppendOnlyFile::Create(log_path(1), EncodeWalHeader("s", 1));
  ASSERT_TRUE(first.ok()) << first.status();
  std::atomic<int> syncs{0};
  WriteAheadLog wal(*std::move(first), 1, [&](double) { ++syncs; });

  std::mutex order;  // the session's lock: appends and switches in one order
  int64_t tick = 0;
  std::atomic<bool> done{false};
  std::atomic<int> switches{0};
  std::thread switcher([&] {
    RepeatUntil(done, 20000, std::chrono::microseconds(300), [&] {
      std::lock_guard<std::mutex> lock(order);
      if (!wal.file_has_records()) return;
      const uint64_t next_seq = wal.last_seq() + 1;
      auto next = AppendOnlyFile::Create(log_path(next_seq), EncodeWalHeader("s", next_seq));
      ASSERT_TRUE(next.ok()) << next.status();
      ASSERT_TRUE(wal.SwitchTo(*std::move(next)).ok());
      ++switches;
    });
  });
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int k = 0; k < kPerThread; ++k) {
        WalRecord record;
        record.worker = w;
        record.tick = k;
        const std::vector<float> values = {static_cast<float>(w), static_cast<float>(k)};
        uint64_t seq = 0;
        int64_t tick_after = 0;
        {
          std::lock_guard<std::mutex> lock(order);
          tick_after = ++tick;
          auto appended = wal.Append(record, ValueBytes(absl::Span<const float>(values)), tick_after);
          ASSERT_TRUE(appended.ok()) << appended.status();
          seq = *appended;
        }
        const absl::Status synced = wal.SyncThrough(seq);
        ASSERT_TRUE(synced.ok()) << synced;
        EXPECT_GE(wal.durable_tick(), tick_after) << "synced through " << seq << " but not durable";
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  switcher.join();

  constexpr uint64_t kRecords = kThreads * kPerThread;
  EXPECT_EQ(wal.last_seq(), kRecords);
  EXPECT_EQ(wal.durable_tick(), static_cast<int64_t>(kRecords));
  // One fdatasync per record at most, plus one per switch: never a sync for nothing.
  EXPECT_LE(syncs.load(), static_cast<int>(kRecords) + switches.load());

  std::vector<std::pair<uint64_t, std::string>> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files.emplace_back(std::stoull(entry.path().filename().string().substr(4)), entry.path().string());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(static_cast<int>(files.size()), switches.load() + 1);
  uint64_t expected_seq = 1;
  std::vector<int> next_k(kThreads, 0);
  for (const auto& [first_seq, path] : files) {
    auto bytes = ReadFile(path);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto contents = ParseWal(*bytes);
    ASSERT_TRUE(contents.ok()) << path << ": " << contents.status();
    EXPECT_EQ(contents->first_seq, first_seq);
    EXPECT_EQ(contents->torn_bytes, 0u);
    EXPECT_EQ(first_seq, expected_seq) << path << " does not continue the previous file";
    for (const WalRecord& record : contents->records) {
      ASSERT_EQ(record.seq, expected_seq++);
      ASSERT_GE(record.worker, 0);
      ASSERT_LT(record.worker, kThreads);
      EXPECT_EQ(record.tick, next_k[record.worker]++) << "worker " << record.worker << "'s records out of order";
      float values[2];
      ASSERT_EQ(record.values.size(), sizeof(values));
      std::memcpy(values, record.values.data(), sizeof(values));
      EXPECT_EQ(values[0], static_cast<float>(record.worker));
      EXPECT_EQ(values[1], static_cast<float>(record.tick));
    }
  }
  EXPECT_EQ(expected_seq, kRecords + 1);
  EXPECT_EQ(next_k, std::vector<int>(kThreads, kPerThread));
  fs::remove_all(dir);
}

// --- Many tenants, one manager ---

constexpr int64_t kSmall = 100;  // SGD in f32: 400 bytes of state
constexpr int64_t kSmallBytes = 400;

CreateSessionSpec SmallSpec(const std::string& tenant, Durability::Mode durability = Durability::Mode::kNone) {
  return SpecOf(tenant, SgdConfig{}, WorkerPolicy{}, durability, kSmall);
}

// Sixteen threads, two per tenant, each try to create six sessions against a per-tenant limit of
// five. Sessions are counted only when inserted, so concurrent creations pass the first check and
// are refused at the second: each tenant ends with exactly five, and the persisted files of every
// refused creation are gone.
TEST(SessionManagerConcurrencyTest, ConcurrentCreatesStopExactlyAtThePerTenantLimit) {
  constexpr int kTenants = 8;
  constexpr int kLimit = 5;
  ServerLimits limits;
  limits.max_sessions_per_tenant = kLimit;
  DataDirectory data("per-tenant", limits);
  std::atomic<bool> done{false};
  std::thread monitor([&] {
    RepeatUntil(done, 100000, std::chrono::microseconds(200),
                [&] { EXPECT_LE(data.manager().num_sessions(), kTenants * kLimit); });
  });
  std::mutex mu;
  std::map<std::string, std::set<std::string>> created;  // by tenant
  std::vector<std::thread> threads;
  for (int i = 0; i < 2 * kTenants; ++i) {
    threads.emplace_back([&, i] {
      const std::string tenant = absl::StrCat("tenant-", i % kTenants);
      for (int k = 0; k < 6; ++k) {
        auto s = data.manager().Create(SmallSpec(tenant, Durability::Mode::kPeriodic));
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          created[tenant].insert((*s)->id());
          continue;
        }
        EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
        EXPECT_EQ(s.status().message(), absl::StrCat("tenant '", tenant, "' holds 5 sessions, its limit "
                                                     "(--max_sessions_per_tenant 5)"));
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  monitor.join();

  std::set<std::string> all;
  for (int i = 0; i < kTenants; ++i) {
    const std::string tenant = absl::StrCat("tenant-", i);
    EXPECT_EQ(created[tenant].size(), static_cast<std::size_t>(kLimit)) << tenant;
    auto page = data.manager().List(tenant, 100, "");
    ASSERT_TRUE(page.ok());
    std::set<std::string> listed;
    for (const auto& s : page->sessions) listed.insert(s.id);
    EXPECT_EQ(listed, created[tenant]) << tenant;
    all.insert(created[tenant].begin(), created[tenant].end());
  }
  EXPECT_EQ(data.manager().num_sessions(), kTenants * kLimit);
  EXPECT_EQ(data.manager().total_state_bytes(), kTenants * kLimit * kSmallBytes);
  EXPECT_EQ(data.SessionsOnDisk(), all);
}

// The server's state limit fits 23 sessions; 64 concurrent creations of 8 tenants never hold more
// (reservations included) and exactly 23 succeed.
TEST(SessionManagerConcurrencyTest, ConcurrentCreatesNeverOvershootTheServersStateLimit) {
  constexpr int kFit = 23;
  ServerLimits limits;
  limits.max_total_state_bytes = kFit * kSmallBytes;
  SessionManager manager(limits);
  std::atomic<bool> done{false};
  std::thread monitor([&] {
    RepeatUntil(done, 100000, std::chrono::microseconds(100), [&] {
      EXPECT_LE(manager.total_state_bytes(), kFit * kSmallBytes);
      EXPECT_LE(manager.num_sessions(), kFit);
    });
  });
  std::atomic<int> succeeded{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 4; ++k) {
        auto s = manager.Create(SmallSpec(absl::StrCat("tenant-", i % 8)));
        if (s.ok()) {
          ++succeeded;
          continue;
        }
        ++refused;
        EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
        EXPECT_THAT(std::string(s.status().message()), HasSubstr("(--max_total_state_bytes)"));
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  monitor.join();
  EXPECT_EQ(succeeded.load(), kFit);
  EXPECT_EQ(refused.load(), 64 - kFit);
  EXPECT_EQ(manager.num_sessions(), kFit);
  EXPECT_EQ(manager.total_state_bytes(), kFit * kSmallBytes);
}

// Eight tenants create, list, get and delete at once against a server limit of 10 sessions and a
// per-tenant limit of 3. Each tenant's own thread is the only one changing its sessions, so every
// List it makes must show exactly what it holds, whatever the others do; nobody reaches another
// tenant's session; and when all is deleted, every count is back to zero.
TEST(SessionManagerConcurrencyTest, CreateListGetAndDeleteOfManyTenantsAtOnce) {
  constexpr int kTenants = 8;
  constexpr int kRounds = 40;
  ServerLimits limits;
  limits.max_sessions = 10;
  limits.max_sessions_per_tenant = 3;
  SessionManager manager(limits);
  std::mutex published_mu;
  std::vector<std::string> published;  // ids of every tenant's sessions, for the others to try
  std::atomic<bool> done{false};
  std::thread monitor([&] {
    RepeatUntil(done, 100000, std::chrono::microseconds(200),
                [&] { EXPECT_LE(manager.num_sessions(), limits.max_sessions); });
  });
  std::vector<std::set<std::string>> held(kTenants);
  std::vector<std::thread> threads;
  for (int i = 0; i < kTenants; ++i) {
    threads.emplace_back([&, i] {
      const std::string tenant = absl::StrCat("tenant-", i);
      std::set<std::string>& mine = held[i];
      for (int round = 0; round < kRounds; ++round) {
        if (round % 3 != 2) {
          auto s = manager.Create(SmallSpec(tenant));
          if (s.ok()) {
            mine.insert((*s)->id());
            std::lock_guard<std::mutex> lock(published_mu);
            published.push_back((*s)->id());
          } else {
            ASSERT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
            ASSERT_TRUE(mine.size() == 3 || absl::StrContains(s.status().message(), "(--max_sessions 10)"))
                << s.status();
          }
        } else if (!mine.empty()) {
          const std::string victim = *mine.begin();
          ASSERT_TRUE(manager.Delete(tenant, victim).ok());
          mine.erase(victim);
          EXPECT_EQ(manager.Get(tenant, victim).status().code(), absl::StatusCode::kNotFound);
        }
        // Pages of two, while others insert and erase around them.
        std::set<std::string> listed;
        std::string token;
        for (int page = 0; page < 10; ++page) {
          auto p = manager.List(tenant, 2, token);
          ASSERT_TRUE(p.ok()) << p.status();
          for (const auto& s : p->sessions) {
            EXPECT_EQ(s.tenant(), tenant);
            listed.insert(s.id);
          }
          token = p->next_page_token;
          if (token.empty()) break;
        }
        EXPECT_EQ(listed, mine) << tenant << " round " << round;
        std::vector<std::string> others;
        {
          std::lock_guard<std::mutex> lock(published_mu);
          others = published;
        }
        for (const std::string& id : others) {
          if (mine.count(id) != 0) continue;
          const absl::Status s = manager.Get(tenant, id).status();
          EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << id;
          EXPECT_EQ(manager.Delete(tenant, id).code(), absl::StatusCode::kNotFound) << id;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  monitor.join();

  int64_t total = 0;
  for (const auto& mine : held) total += static_cast<int64_t>(mine.size());
  EXPECT_EQ(manager.num_sessions(), total);
  EXPECT_EQ(manager.total_state_bytes(), total * kSmallBytes);
  for (int i = 0; i < kTenants; ++i) {
    for (const std::string& id : held[i]) ASSERT_TRUE(manager.Delete(absl::StrCat("tenant-", i), id).ok());
  }
  EXPECT_EQ(manager.num_sessions(), 0);
  EXPECT_EQ(manager.total_state_bytes(), 0);
  // Nothing is left counted against a tenant: three of them fill their quotas again (9 of 10).
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 3; ++k) EXPECT_TRUE(manager.Create(SmallSpec(absl::StrCat("tenant-", i))).ok());
  }
}

// Retries of one CreateSession arriving at once (the same tenant, request id and spec) make one
// session; the files of the creations that lost the race are removed. Another tenant's request
// with the same id is its own session.
TEST(SessionManagerConcurrencyTest, ConcurrentRetriesOfOneRequestMakeOneSession) {
  DataDirectory data("retries");
  std::mutex mu;
  std::map<std::string, std::set<std::string>> ids;  // by tenant
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&, i] {
      CreateSessionSpec spec = SmallSpec(i % 3 == 0 ? "bob" : "alice", Durability::Mode::kEveryTick);
      spec.request_id = "create-1";
      spec.fingerprint = "fp";
      auto s = data.manager().Create(spec);
      ASSERT_TRUE(s.ok()) << s.status();
      std::lock_guard<std::mutex> lock(mu);
      ids[spec.tenant].insert((*s)->id());
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ids["alice"].size(), 1u);
  ASSERT_EQ(ids["bob"].size(), 1u);
  EXPECT_NE(*ids["alice"].begin(), *ids["bob"].begin());
  EXPECT_EQ(data.manager().num_sessions(), 2);
  EXPECT_EQ(data.manager().total_state_bytes(), 2 * kSmallBytes);
  EXPECT_EQ(data.SessionsOnDisk(), (std::set<std::string>{*ids["alice"].begin(), *ids["bob"].begin()}));
}

// Two servers in one process (as tests and embedders run them) create sessions at once; ids are
// unique within each and the managers share nothing.
TEST(SessionManagerConcurrencyTest, TwoManagersCreatingAtOnceShareNothing) {
  SessionManager first(ServerLimits{}), second(ServerLimits{});
  std::vector<std::string> first_ids, second_ids;
  auto create = [](SessionManager& manager, std::vector<std::string>& ids) {
    for (int k = 0; k < 100; ++k) {
      auto s = manager.Create(SmallSpec(""));
      ASSERT_TRUE(s.ok()) << s.status();
      ids.push_back((*s)->id());
    }
  };
  std::thread a([&] { create(first, first_ids); });
  std::thread b([&] { create(second, second_ids); });
  a.join();
  b.join();
  EXPECT_EQ(std::set<std::string>(first_ids.begin(), first_ids.end()).size(), 100u);
  EXPECT_EQ(std::set<std::string>(second_ids.begin(), second_ids.end()).size(), 100u);
  EXPECT_EQ(first.num_sessions(), 100);
  EXPECT_EQ(second.num_sessions(), 100);
}

// --- Scrapes while sessions change ---

// The value of gauge `name` with label run=`run` ("" for the unlabelled gauges); -1 if absent.
double GaugeValue(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                  const std::string& run = "") {
  for (const auto& family : families) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      const bool match = run.empty() || std::any_of(metric.label.begin(), metric.label.end(), [&](const auto& l) {
                           return l.name == "run" && l.value == run;
                         });
      if (match) return metric.gauge.value;
    }
  }
  return -1;
}

// Prometheus scrapes (SessionCollector::Collect, on the exposer's threads) while four labelled
// sessions train and another thread creates and deletes a fifth: every scrape sees between four
// and five sessions with matching state bytes, no run's step goes back, and the last scrape
// shows exactly the end state.
TEST(SessionCollectorConcurrencyTest, ScrapesWhileSessionsTrainAndComeAndGoSeeConsistentGauges) {
  constexpr int kRuns = 4;
  constexpr int64_t kTicks = 50;
  ServerMetrics metrics("test");
  SessionManager manager(ServerLimits{}, &metrics);
  const SessionCollector collector(&manager);
  std::vector<std::shared_ptr<Session>> runs;
  for (int i = 0; i < kRuns; ++i) {
    CreateSessionSpec spec = SmallSpec("tenant");
    spec.metrics_run = absl::StrCat("run-", i);
    runs.push_back(*manager.Create(spec));
  }
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    std::vector<double> last_step(kRuns, 0);
    RepeatUntil(done, 100000, std::chrono::microseconds(200), [&] {
      const auto families = collector.Collect();
      const double sessions = GaugeValue(families, "basin_sessions");
      EXPECT_GE(sessions, kRuns);
      EXPECT_LE(sessions, kRuns + 1);
      // Counted at insertion and deletion under the manager's lock: never a session without its
      // bytes. (Scraped one after the other, so a change may fall between the two reads.)
      const double bytes = GaugeValue(families, "basin_state_bytes");
      EXPECT_GE(bytes, kRuns * kSmallBytes);
      EXPECT_LE(bytes, (kRuns + 1) * kSmallBytes);
      for (int i = 0; i < kRuns; ++i) {
        const double step = GaugeValue(families, "basin_run_step", absl::StrCat("run-", i));
        EXPECT_GE(step, last_step[i]) << "run-" << i << "'s step went back";
        last_step[i] = step;
      }
      ++scrapes;
    });
  });
  // The others start once the scraper has scraped: on a busy machine it could otherwise see only
  // the end.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (scrapes.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  if (scrapes.load() == 0) {
    done = true;
    scraper.join();
    FAIL() << "the scraper did not scrape within 10 s";
  }
  std::thread churn([&] {
    for (int k = 0; k < 20; ++k) {
      CreateSessionSpec spec = SmallSpec("tenant");
      spec.metrics_run = "churn";
      auto s = manager.Create(spec);
      ASSERT_TRUE(s.ok()) << s.status();
      ASSERT_TRUE(manager.Delete("tenant", (*s)->id()).ok());
    }
  });
  std::vector<std::thread> trainers;
  for (int i = 0; i < kRuns; ++i) {
    trainers.emplace_back([&, i] {
      for (int64_t t = 0; t < kTicks; ++t) {
        const QueryPoint<float> q = runs[i]->CopyQuery<float>();
        ASSERT_EQ(*runs[i]->SubmitGradient<float>(0, t, WorkerGradient(q, i), 1.0 + t, 1.0), TickOutcome::kApplied);
      }
    });
  }
  for (auto& t : trainers) t.join();
  churn.join();
  done = true;
  scraper.join();

  const auto families = collector.Collect();
  EXPECT_EQ(GaugeValue(families, "basin_sessions"), kRuns);
  EXPECT_EQ(GaugeValue(families, "basin_state_bytes"), kRuns * kSmallBytes);
  EXPECT_EQ(GaugeValue(families, "basin_run_step", "churn"), -1);
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(GaugeValue(families, "basin_run_step", absl::StrCat("run-", i)), kTicks);
    EXPECT_EQ(GaugeValue(families, "basin_run_loss", absl::StrCat("run-", i)), static_cast<double>(kTicks));
  }
}

}  // namespace
}  // namespace basin
