// Sessions on disk: what a crash leaves (a copy of the data directory taken while the server
// runs: every write has reached the kernel, nothing more) recovers to exactly the state that was
// acknowledged. No gRPC here, so these run under TSan too.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "core/state_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session_manager.h"
#include "tests/testing/crash_image.h"

namespace basin {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
using testing::CrashImageOf;
using testing::Restarted;

constexpr int64_t kDim = 37;

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("basin-persistence-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto store = SessionStore::Open((root_ / "live").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    manager_ = std::make_unique<SessionManager>(ServerLimits{}, nullptr, store_.get(), absl::Hours(1));
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  // The data directory as a SIGKILL would leave it, opened by a new "server".
  Restarted CrashImage(const std::string& name, const std::function<void(const fs::path&)>& damage = {}) {
    return CrashImageOf(root_ / "live", root_ / name, damage);
  }

  std::shared_ptr<Session> Create(OptimizerConfig config, Durability::Mode mode, WorkerPolicy workers = {},
                                  std::string request_id = "", std::string tenant = "") {
    CreateSessionSpec spec;
    spec.tenant = std::move(tenant);
    spec.layout = ParameterLayout::Flat(kDim);
    spec.optimizer.config = std::move(config);
    spec.optimizer.seed = 11;
    spec.workers = workers;
    spec.durability.mode = mode;
    spec.durability_set = true;
    spec.request_id = request_id;
    spec.fingerprint = "fp";
    auto session = manager_->Create(std::move(spec));
    EXPECT_TRUE(session.ok()) << session.status();
    return session.value_or(nullptr);
  }

  fs::path root_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SessionManager> manager_;
};

// A deterministic gradient of (tick, worker).
std::vector<float> Gradient(int64_t tick, int worker) {
  std::vector<float> g(kDim);
  for (int64_t i = 0; i < kDim; ++i) g[i] = std::sin(0.1f * i + 0.7f * tick + 1.3f * worker);
  return g;
}

TickOutcome Submit(Session& s, int64_t tick, int worker = 0) {
  const std::vector<float> g = Gradient(tick, worker);
  auto outcome = s.SubmitGradient<float>(worker, tick, g, 0.25 * tick, 1 + worker);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(s.MakeDurable().ok());
  return outcome.value_or(TickOutcome::kDropped);
}

std::string State(const Session& s) {
  return s.WithOptimizer([](const auto& o) {
    using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
    return StateCodec<Real>::Encode(o);
  });
}

EmcmcConfig NoisyEmcmc() {
  EmcmcConfig c = EmcmcConfig::PaperDefaults();
  return c;
}

TEST_F(PersistenceTest, EveryTickCrashImageHoldsEveryAcknowledgedTickAndContinuesBitwise) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 25; ++t) ASSERT_EQ(Submit(*live, t), TickOutcome::kApplied);
  EXPECT_EQ(live->durable_tick(), 25);

  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ(r.recovery.replayed_records, 25);
  auto back = r.manager->Get("", live->id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->tick(), 25);
  EXPECT_EQ(State(**back), State(*live));
  // Both go on alike, noise included.
  for (int64_t t = 25; t < 30; ++t) {
    Submit(*live, t);
    Submit(**back, t);
  }
  EXPECT_EQ(State(**back), State(*live));
}

TEST_F(PersistenceTest, AcknowledgedQuorumContributionsSurviveAndAResendIsADuplicate) {
  auto live = Create(SgldConfig{}, Durability::Mode::kEveryTick, WorkerPolicy{3, WorkerPolicy::Mode::kSync, 3, 0});
  for (int w = 0; w < 3; ++w) Submit(*live, 0, w);
  Submit(*live, 1, 0);
  Submit(*live, 1, 2);  // tick 1 waits for worker 1

  Restarted r = CrashImage("crash");
  auto back = *r.manager->Get("", live->id());
  EXPECT_EQ(back->tick(), 1);
  EXPECT_EQ(Submit(*back, 1, 2), TickOutcome::kDuplicate);
  EXPECT_EQ(Submit(*back, 1, 1), TickOutcome::kApplied);
  EXPECT_EQ(Submit(*live, 1, 1), TickOutcome::kApplied);
  EXPECT_EQ(back->tick(), 2);
  EXPECT_EQ(State(*back), State(*live));
}

TEST_F(PersistenceTest, PeriodicCrashImageIsTheLastSnapshotAndDurableTickSaysSo) {
  auto live = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  for (int64_t t = 0; t < 10; ++t) Submit(*live, t);
  EXPECT_EQ(live->durable_tick(), 0);
  EXPECT_EQ((*CrashImage("before").manager->Get("", live->id()))->tick(), 0);

  EXPECT_FALSE(live->SnapshotDue(absl::Now(), absl::Hours(1)));
  EXPECT_TRUE(live->SnapshotDue(absl::Now() + absl::Hours(2), absl::Hours(1)));
  EXPECT_EQ(manager_->SnapshotDue(absl::Now() + absl::Hours(2)), 0);
  EXPECT_EQ(live->durable_tick(), 10);
  const std::string at_ten = State(*live);
  for (int64_t t = 10; t < 13; ++t) Submit(*live, t);
  auto back = *CrashImage("after").manager->Get("", live->id());
  EXPECT_EQ(back->tick(), 10);
  EXPECT_EQ(State(*back), at_ten);
  EXPECT_FALSE(back->SnapshotDue(absl::InfiniteFuture(), absl::ZeroDuration()));  // nothing new
}

TEST_F(PersistenceTest, NoneIsNeverOnDisk) {
  auto none = Create(SgdConfig{}, Durability::Mode::kNone);
  Submit(*none, 0);
  EXPECT_FALSE(fs::exists(root_ / "live" / "sessions" / none->id()));
  EXPECT_EQ(manager_->SnapshotAll(), 0);
  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.recovered, 0);
  EXPECT_EQ(r.manager->Get("", none->id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PersistenceTest, TornLogTailIsCutAndEverythingBeforeItReplays) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 5; ++t) Submit(*live, t);
  fs::path log;
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    for (const auto& entry : fs::directory_iterator(dir / "sessions" / live->id())) {
      if (entry.path().filename().string().rfind("wal-", 0) == 0) log = entry.path();
    }
    std::ofstream(log, std::ios::app | std::ios::binary) << std::string("\x40\x00\x00\x00\x12\x34", 6);
  });
  auto back = r.manager->Get("", live->id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->tick(), 5);
  EXPECT_EQ(State(**back), State(*live));
  EXPECT_FALSE(fs::exists(log)) << "replayed logs give way to a snapshot and a new log";
}

TEST_F(PersistenceTest, ALogCutShortInItsHeaderHoldsNothingAndIsDropped) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 3; ++t) Submit(*live, t);
  ASSERT_TRUE(live->Snapshot().ok());
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    // A compaction that died while creating the next log: its header half written.
    std::ofstream(dir / "sessions" / live->id() / "wal-00000000000000000099", std::ios::binary) << "BASNWA";
  });
  EXPECT_EQ(r.recovery.failed, 0);
  EXPECT_EQ(State(**r.manager->Get("", live->id())), State(*live));
}

TEST_F(PersistenceTest, DamagedSnapshotOrLogIsReportedFailedWhileTheOthersRecover) {
  auto good = Create(SgdConfig{}, Durability::Mode::kEveryTick);
  auto bad_snapshot = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  auto bad_log = Create(SgdConfig{}, Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 4; ++t) {
    Submit(*good, t);
    Submit(*bad_log, t);
  }
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    auto flip = [](const fs::path& file, std::streamoff at) {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(at);
      char c;
      f.get(c);
      f.seekp(at);
      f.put(static_cast<char>(c ^ 0x55));
    };
    flip(dir / "sessions" / bad_snapshot->id() / "snapshot", 40);
    for (const auto& entry : fs::directory_iterator(dir / "sessions" / bad_log->id())) {
      if (entry.path().filename().string().rfind("wal-", 0) == 0) flip(entry.path(), 60);  // first record
    }
  });
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ(r.recovery.failed, 2);
  EXPECT_EQ((*r.manager->Get("", good->id()))->tick(), 4);
  auto snapshot_status = r.manager->Get("", bad_snapshot->id()).status();
  EXPECT_EQ(snapshot_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(snapshot_status.message()), HasSubstr("could not be recovered"));
  EXPECT_THAT(std::string(snapshot_status.message()), HasSubstr("checksum"));
  EXPECT_THAT(std::string(r.manager->Get("", bad_log->id()).status().message()), HasSubstr("the log is damaged"));
  EXPECT_EQ(r.manager->Failed().size(), 2u);
  // Left on disk until deleted.
  const fs::path failed_dir = fs::path(r.store->directory()) / "sessions" / bad_snapshot->id();
  EXPECT_TRUE(fs::exists(failed_dir));
  ASSERT_TRUE(r.manager->Delete("", bad_snapshot->id()).ok());
  EXPECT_FALSE(fs::exists(failed_dir));
  EXPECT_EQ(r.manager->Get("", bad_snapshot->id()).status().code(), absl::StatusCode::kNotFound);
}

// A snapshot that decodes, checksum and all, but whose worker bookkeeping no session could hold: a
// worker whose last tick is ahead of the session would have its gradients answered DUPLICATE, and
// never applied, until the session caught up. Refused at recovery, as the state codec refuses
// fields its encoder would not write.
TEST_F(PersistenceTest, ASnapshotWithBookkeepingNoSessionCouldHoldIsReportedFailed) {
  auto ahead = Create(SgdConfig{}, Durability::Mode::kPeriodic, WorkerPolicy{2, WorkerPolicy::Mode::kAsync, 1, 3});
  auto waiting = Create(SgdConfig{}, Durability::Mode::kPeriodic, WorkerPolicy{3, WorkerPolicy::Mode::kSync, 3, 0});
  auto good = Create(SgdConfig{}, Durability::Mode::kPeriodic, WorkerPolicy{3, WorkerPolicy::Mode::kSync, 3, 0});
  for (const auto& s : {ahead, waiting, good}) {
    Submit(*s, 0, 0);
    Submit(*s, 0, 1);
    ASSERT_TRUE(s->Snapshot().ok());
  }
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    auto rewrite = [&](const std::string& id, const std::function<void(SessionImage&)>& change) {
      const fs::path file = dir / "sessions" / id / "snapshot";
      std::ifstream in(file, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto image = DecodeSnapshot(bytes);
      ASSERT_TRUE(image.ok()) << image.status();
      change(*image);
      std::ofstream(file, std::ios::binary | std::ios::trunc) << EncodeSnapshot(*image);
    };
    rewrite(ahead->id(), [](SessionImage& image) { image.last_tick_of_worker[1] = 1000; });
    rewrite(waiting->id(), [](SessionImage& image) { image.pending.begin()->second.weight = std::nan(""); });
  });
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ(r.recovery.failed, 2);
  EXPECT_THAT(std::string(r.manager->Get("", ahead->id()).status().message()),
              HasSubstr("worker 1 last sent tick 1000 at session tick 2"));
  EXPECT_THAT(std::string(r.manager->Get("", waiting->id()).status().message()),
              HasSubstr("pending gradient has loss 0 and weight nan"));
  EXPECT_EQ((*r.manager->Get("", good->id()))->tick(), 0);
}

TEST_F(PersistenceTest, SessionsComeBackToTheirTenantOnly) {
  auto alices = Create(SgdConfig{}, Durability::Mode::kEveryTick, {}, "req-1", "alice");
  auto bobs_damaged = Create(SgdConfig{}, Durability::Mode::kPeriodic, {}, "req-1", "bob");
  Submit(*alices, 0);
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    std::ofstream(dir / "sessions" / bobs_damaged->id() / "snapshot", std::ios::binary | std::ios::trunc) << "junk";
  });
  ASSERT_EQ(r.recovery.recovered, 1);
  ASSERT_EQ(r.recovery.failed, 1);
  EXPECT_EQ((*r.manager->Get("alice", alices->id()))->tick(), 1);
  EXPECT_EQ(r.manager->Get("bob", alices->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.manager->Get("", alices->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.manager->List("alice", 0, "")->sessions.size(), 1u);
  // Bob's list shows his failed session, with why.
  ASSERT_EQ(r.manager->List("bob", 0, "")->sessions.size(), 1u);
  EXPECT_EQ(r.manager->List("bob", 0, "")->sessions[0].id, bobs_damaged->id());
  EXPECT_THAT(r.manager->List("bob", 0, "")->sessions[0].failure, HasSubstr("not a basin snapshot"));
  // A failed session is DATA_LOSS to its owner only, and only its owner deletes it.
  EXPECT_EQ(r.manager->Get("bob", bobs_damaged->id()).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.manager->Get("alice", bobs_damaged->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.manager->Delete("alice", bobs_damaged->id()).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(r.manager->Delete("bob", bobs_damaged->id()).ok());
  // Request ids stay per tenant after the restart.
  CreateSessionSpec again;
  again.tenant = "alice";
  again.layout = ParameterLayout::Flat(kDim);
  again.optimizer.config = SgdConfig{};
  again.request_id = "req-1";
  again.fingerprint = "fp";
  EXPECT_EQ((*r.manager->Create(again))->id(), alices->id());
}

TEST_F(PersistenceTest, AnOwnerFileThatDisagreesWithTheSnapshotIsDataLoss) {
  auto live = Create(SgdConfig{}, Durability::Mode::kPeriodic, {}, "", "alice");
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    std::ofstream(dir / "sessions" / live->id() / "owner", std::ios::binary | std::ios::trunc) << "mallory";
  });
  EXPECT_EQ(r.recovery.failed, 1);
  // The owner file decides who may see the failure (the snapshot cannot be trusted).
  EXPECT_EQ(r.manager->Get("alice", live->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.manager->Get("mallory", live->id()).status().message()), HasSubstr("owner file"));
}

TEST_F(PersistenceTest, ACreationThatDiedBeforeItsFirstSnapshotIsRemoved) {
  auto live = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    fs::create_directories(dir / "sessions" / "s-unfinished");
    std::ofstream(dir / "sessions" / "s-unfinished" / "owner") << "";
  });
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ(r.recovery.failed, 0);
  EXPECT_FALSE(fs::exists(fs::path(r.store->directory()) / "sessions" / "s-unfinished"));
}

TEST_F(PersistenceTest, TheNonFinitePolicySurvivesAndASkippedGradientIsNotLogged) {
  CreateSessionSpec spec;
  spec.layout = ParameterLayout::Flat(kDim);
  spec.optimizer.config = SgdConfig{};
  spec.durability.mode = Durability::Mode::kEveryTick;
  spec.durability_set = true;
  spec.nonfinite_policy = NonFinitePolicy::kSkip;
  auto live = *manager_->Create(std::move(spec));
  Submit(*live, 0);
  std::vector<float> bad = Gradient(1, 0);
  bad[3] = std::nanf("");
  ASSERT_EQ(*live->SubmitGradient<float>(0, 1, bad, 0.5, 1), TickOutcome::kSkipped);
  Submit(*live, 1);
  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.replayed_records, 2) << "the two applied gradients, not the skipped one";
  auto back = *r.manager->Get("", live->id());
  EXPECT_EQ(back->nonfinite_policy(), NonFinitePolicy::kSkip);
  EXPECT_EQ(State(*back), State(*live));
  EXPECT_EQ(*back->SubmitGradient<float>(0, 2, bad, 0.5, 1), TickOutcome::kSkipped);
  EXPECT_EQ(back->tick(), 2);
}

// --- Idle-session eviction ------------------------------------------------------------------------

TEST_F(PersistenceTest, IdleSessionsAreEvictedAndComeBackAtTheirNextUseBitForBit) {
  // Two identical noisy runs; one is evicted between ticks, the other never.
  auto evictee = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  auto periodic = Create(NoisyEmcmc(), Durability::Mode::kPeriodic);
  auto reference = Create(NoisyEmcmc(), Durability::Mode::kNone);
  for (int64_t t = 0; t < 6; ++t) {
    Submit(*evictee, t);
    Submit(*periodic, t);
    Submit(*reference, t);
  }
  const std::string id = evictee->id();
  const std::string state = State(*evictee);
  const std::string periodic_id = periodic->id();
  evictee.reset();  // the test's references: a held session is in use
  periodic.reset();
  const absl::Time later = absl::Now() + absl::Hours(1);
  EXPECT_EQ(manager_->EvictIdle(later, absl::Minutes(30)), 2) << "durability none stays: it has no files";
  EXPECT_EQ(manager_->num_evicted(), 2);
  EXPECT_EQ(manager_->num_sessions(), 3);
  EXPECT_EQ(manager_->EvictIdle(later, absl::Minutes(30)), 0);

  // Described and listed without coming back.
  auto described = manager_->Describe("", id);
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_FALSE(described->resident);
  EXPECT_EQ(described->stats.tick, 6);
  EXPECT_EQ(manager_->List("", 0, "")->sessions.size(), 3u);
  EXPECT_EQ(manager_->num_evicted(), 2);

  auto back = manager_->Get("", id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(manager_->num_evicted(), 1);
  EXPECT_EQ(State(**back), state);
  for (int64_t t = 6; t < 10; ++t) {
    Submit(**back, t);
    Submit(*reference, t);
  }
  // The same run as one never evicted (the noise position came back with the state).
  EXPECT_EQ(State(**back), State(*reference));
  EXPECT_EQ((*manager_->Get("", periodic_id))->tick(), 6);
}

TEST_F(PersistenceTest, ListingPagesThroughResidentEvictedAndFailedSessionsInIdOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(Create(SgdConfig{}, Durability::Mode::kPeriodic)->id());
  Restarted r = CrashImage("crash", [&](const fs::path& dir) {
    std::ofstream(dir / "sessions" / ids[2] / "snapshot", std::ios::binary | std::ios::trunc) << "junk";
  });
  ASSERT_EQ(r.recovery.failed, 1);
  auto held = r.manager->Get("", ids[0]);  // held (as by a stream): stays resident
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(r.manager->EvictIdle(absl::Now() + absl::Minutes(30), absl::Minutes(20)), 4);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> seen;
  int failed = 0, evicted = 0;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    auto listed = r.manager->List("", 1, token);
    ASSERT_TRUE(listed.ok()) << listed.status();
    for (const SessionSummary& s : listed->sessions) {
      seen.push_back(s.id);
      failed += s.failure.empty() ? 0 : 1;
      evicted += !s.resident && s.failure.empty() ? 1 : 0;
    }
    token = listed->next_page_token;
    if (token.empty()) break;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(evicted, 4);
}

TEST_F(PersistenceTest, ASessionInUseOrUsedRecentlyIsNotEvicted) {
  auto held = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  auto recent = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  const std::string recent_id = recent->id();
  recent.reset();
  Submit(*held, 0);
  // `held` is referenced (as a Train stream holds its session); `recent` was used just now.
  EXPECT_EQ(manager_->EvictIdle(absl::Now() + absl::Hours(1), absl::Minutes(30)), 1);
  ASSERT_TRUE(manager_->Get("", recent_id).ok());
  EXPECT_EQ(manager_->EvictIdle(absl::Now(), absl::Minutes(30)), 0) << "just used";
  EXPECT_EQ(manager_->EvictIdle(absl::Now() + absl::Hours(1), absl::ZeroDuration()), 0) << "ttl 0: never";
  EXPECT_EQ(manager_->num_evicted(), 0);
}

TEST_F(PersistenceTest, EvictedSessionsAreTheirTenantsDeletedWithTheirFilesAndSurviveARestart) {
  auto alices = Create(SgdConfig{}, Durability::Mode::kEveryTick, {}, "", "alice");
  auto doomed = Create(SgdConfig{}, Durability::Mode::kEveryTick, {}, "", "alice");
  Submit(*alices, 0);
  const std::string id = alices->id(), doomed_id = doomed->id();
  alices.reset();
  doomed.reset();
  ASSERT_EQ(manager_->EvictIdle(absl::Now() + absl::Hours(1), absl::Minutes(1)), 2);
  EXPECT_EQ(manager_->Get("bob", id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Describe("bob", id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Delete("bob", id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager_->List("bob", 0, "")->sessions.empty());

  ASSERT_TRUE(manager_->Delete("alice", doomed_id).ok());
  EXPECT_FALSE(fs::exists(root_ / "live" / "sessions" / doomed_id));
  EXPECT_EQ(manager_->Get("alice", doomed_id).status().code(), absl::StatusCode::kNotFound);

  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ((*r.manager->Get("alice", id))->tick(), 1);
}

TEST_F(PersistenceTest, ConcurrentUsesOfAnEvictedSessionReloadItOnce) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 3; ++t) Submit(*live, t);
  const std::string id = live->id();
  live.reset();
  ASSERT_EQ(manager_->EvictIdle(absl::Now() + absl::Hours(1), absl::Minutes(1)), 1);
  std::vector<std::shared_ptr<Session>> got(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] { got[i] = manager_->Get("", id).value_or(nullptr); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& session : got) {
    ASSERT_NE(session, nullptr);
    EXPECT_EQ(session, got[0]) << "one reload, one session object";
  }
  EXPECT_EQ(got[0]->tick(), 3);
  EXPECT_EQ(Submit(*got[0], 3), TickOutcome::kApplied);
}

TEST_F(PersistenceTest, AnEvictedSessionWhoseFilesWereDamagedIsReportedFailedAtItsNextUse) {
  auto live = Create(SgdConfig{}, Durability::Mode::kPeriodic);
  const std::string id = live->id();
  live.reset();
  ASSERT_EQ(manager_->EvictIdle(absl::Now() + absl::Hours(1), absl::Minutes(1)), 1);
  std::ofstream(root_ / "live" / "sessions" / id / "snapshot", std::ios::binary | std::ios::trunc) << "junk";
  const absl::Status s = manager_->Get("", id).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("could not be recovered"));
  EXPECT_EQ(manager_->num_sessions(), 0);
  EXPECT_TRUE(manager_->Delete("", id).ok());
}

TEST_F(PersistenceTest, ParametersSetBetweenTicksAreLogged) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  Submit(*live, 0);
  std::vector<float> model(kDim, 0.5f), anchor(kDim, -0.25f);
  ASSERT_TRUE(live->SetParameters<float>(false, model).ok());
  ASSERT_TRUE(live->SetParameters<float>(true, anchor).ok());
  EXPECT_EQ(live->SetParameters<float>(false, std::vector<float>(3)).code(), absl::StatusCode::kInvalidArgument);
  Submit(*live, 1);
  auto back = *CrashImage("crash").manager->Get("", live->id());
  EXPECT_EQ(State(*back), State(*live));
}

TEST_F(PersistenceTest, SnapshotsCompactTheLogAndRecoveryReadsTheNewOne) {
  auto live = Create(NoisyEmcmc(), Durability::Mode::kEveryTick);
  for (int64_t t = 0; t < 6; ++t) Submit(*live, t);
  ASSERT_TRUE(live->Snapshot().ok());
  for (int64_t t = 6; t < 9; ++t) Submit(*live, t);
  int logs = 0;
  for (const auto& entry : fs::directory_iterator(root_ / "live" / "sessions" / live->id())) {
    logs += entry.path().filename().string().rfind("wal-", 0) == 0;
  }
  EXPECT_EQ(logs, 1);
  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.replayed_records, 3);
  EXPECT_EQ(State(**r.manager->Get("", live->id())), State(*live));
}

TEST_F(PersistenceTest, RequestIdsSurviveARestart) {
  auto live = Create(SgdConfig{}, Durability::Mode::kPeriodic, {}, "create-1");
  Restarted r = CrashImage("crash");
  CreateSessionSpec again;
  again.layout = ParameterLayout::Flat(kDim);
  again.optimizer.config = SgdConfig{};
  again.request_id = "create-1";
  again.fingerprint = "fp";
  auto replayed = r.manager->Create(again);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ((*replayed)->id(), live->id());
  again.fingerprint = "other";
  EXPECT_EQ(r.manager->Create(again).status().code(), absl::StatusCode::kAlreadyExists);
}

// The fingerprint is the create request's bytes, initial values included (the Python client sends
// a model that fits one chunk inside the request): longer than the snapshot's other strings. A
// snapshot holding one over 4 KiB used to be refused at start-up as DATA_LOSS.
TEST_F(PersistenceTest, ASessionCreatedWithItsValuesInTheRequestRecoversAndKeepsItsRequestId) {
  CreateSessionSpec spec;
  spec.layout = ParameterLayout::Flat(kDim);
  spec.optimizer.config = SgdConfig{};
  spec.durability.mode = Durability::Mode::kPeriodic;
  spec.durability_set = true;
  spec.request_id = "with-values";
  spec.fingerprint = std::string(64 << 10, 'v');
  auto live = manager_->Create(spec);
  ASSERT_TRUE(live.ok()) << live.status();
  Restarted r = CrashImage("crash");
  EXPECT_EQ(r.recovery.recovered, 1);
  EXPECT_EQ(r.recovery.failed, 0);
  auto replayed = r.manager->Create(spec);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ((*replayed)->id(), (*live)->id());
}

TEST_F(PersistenceTest, DeleteRemovesTheFiles) {
  auto live = Create(SgdConfig{}, Durability::Mode::kEveryTick);
  Submit(*live, 0);
  const fs::path dir = root_ / "live" / "sessions" / live->id();
  ASSERT_TRUE(fs::exists(dir));
  ASSERT_TRUE(manager_->Delete("", live->id()).ok());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(CrashImage("crash").recovery.recovered, 0);
}

TEST_F(PersistenceTest, OneServerPerDataDirectory) {
  auto second = SessionStore::Open((root_ / "live").string());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use by another basin-server"));
}

TEST(PersistenceWithoutStoreTest, AskingForDurabilityIsRefusedDefaultIsNone) {
  SessionManager manager(ServerLimits{});
  CreateSessionSpec spec;
  spec.layout = ParameterLayout::Flat(3);
  spec.optimizer.config = SgdConfig{};
  spec.durability.mode = Durability::Mode::kEveryTick;
  spec.durability_set = true;
  auto refused = manager.Create(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("needs a data directory"));
  spec.durability_set = false;
  auto created = manager.Create(spec);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)->settings().durability.mode, Durability::Mode::kNone);
}

}  // namespace
}  // namespace basin
