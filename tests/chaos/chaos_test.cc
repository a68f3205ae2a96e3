// Chaos: four workers train one session (EMCMC, noise on, sync quorum of 4) through a real
// basin-server that is SIGKILLed at random moments and restarted on the same data directory and
// port. The workers reconnect and carry on from the query point they are given (their gradient is
// a pure function of it, so a resend is the same gradient). The end state must be bitwise the
// state of an uninterrupted run, and no acknowledged tick may be lost:
//   every_tick: a worker back after a restart is never before a tick it had acknowledged; a
//               contribution it had acknowledged to the open tick is a DUPLICATE when resent.
//   periodic:   a worker is never before the durable_tick the server had acknowledged; what is
//               lost in between is at most a snapshot interval's work.
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cpp/basin_client.h"
#include "core/state_codec.h"
#include "gtest/gtest.h"
#include "server/proto_convert.h"
#include "tests/testing/server_process.h"

namespace basin {
namespace {

namespace fs = std::filesystem;

constexpr int kWorkers = 4;
constexpr int kDim = 1000;

struct Scenario {
  const char* name;
  v1::Durability::Mode durability;
  int64_t ticks;
  int kills;
};

std::vector<float> GradientAt(const std::vector<float>& query, int worker) {
  std::vector<float> g(query.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = query[i] - std::sin(0.01f * static_cast<float>(i) + worker);
  return g;
}

double LossAt(const std::vector<float>& query, int worker) {
  double loss = 0;
  for (std::size_t i = 0; i < query.size(); ++i) {
    const double d = query[i] - std::sin(0.01 * static_cast<double>(i) + worker);
    loss += 0.5 * d * d;
  }
  return loss;
}

v1::CreateSessionRequest SessionRequest(v1::Durability::Mode durability) {
  v1::CreateSessionRequest request;
  v1::SessionSpec& spec = *request.mutable_spec();
  v1::TensorSpec& t = *spec.add_tensors();
  t.set_name("theta");
  t.add_shape(kDim);
  spec.mutable_optimizer()->mutable_emcmc()->set_temperature(1e-3);
  spec.set_seed(2026);
  spec.mutable_workers()->set_num_workers(kWorkers);
  spec.mutable_workers()->set_quorum(kWorkers);
  spec.mutable_durability()->set_mode(durability);
  spec.mutable_durability()->set_snapshot_interval_seconds(0.2);
  request.set_request_id("chaos");
  return request;
}

// The uninterrupted run, in process, through the same Session code.
std::string ReferenceState(v1::Durability::Mode durability, int64_t ticks) {
  SessionManager manager(ServerLimits{});
  auto spec = CreateSessionSpecFromProto(SessionRequest(durability));
  EXPECT_TRUE(spec.ok()) << spec.status();
  spec->durability_set = false;
  auto session = *manager.Create(*std::move(spec));
  for (int64_t t = 0; t < ticks; ++t) {
    const QueryPoint<float> q = session->CopyQuery<float>();
    for (int w = 0; w < kWorkers; ++w) {
      auto outcome = session->SubmitGradient<float>(w, t, GradientAt(q.values, w), LossAt(q.values, w), 1);
      EXPECT_TRUE(outcome.ok()) << outcome.status();
    }
  }
  return session->WithOptimizer([](const auto& o) {
    using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
    return StateCodec<Real>::Encode(o);
  });
}

class ChaosTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(ChaosTest, KilledAndRestartedServerLosesNoAcknowledgedTickAndEndsBitwiseEqual) {
  const Scenario scenario = GetParam();
  const fs::path data = fs::temp_directory_path() / absl::StrCat("basin-chaos-", scenario.name, "-", ::getpid());
  fs::remove_all(data);
  auto args = [&](int port) {
    return std::vector<std::string>{absl::StrCat("--listen=127.0.0.1:", port), "--metrics_listen=none",
                                    absl::StrCat("--data_dir=", data.string())};
  };
  auto server = std::make_unique<testing::ServerProcess>();
  ASSERT_TRUE(server->Start(BASIN_SERVER_BINARY, args(0))) << server->why();
  const std::string address = server->address();
  const int port = server->port();

  auto session = client::Client::Connect(address)->CreateSession(SessionRequest(scenario.durability));
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->session_id();

  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  std::atomic<int> finished{0};
  std::mutex mu;
  std::vector<std::string> violations;
  int64_t reconnects = 0, lost_ticks = 0;

  auto worker = [&](int w) {
    int64_t last_applied = -1;  // the newest tick this worker's gradient was acknowledged APPLIED for
    int64_t durable_seen = 0;   // the newest durable_tick an ack reported
    int64_t newest_query = -1;
    while (absl::Now() < deadline) {
      auto client = client::Client::Connect(address);  // a fresh channel: no reconnect backoff
      client::TrainOptions options;
      options.worker_id = w;
      auto stream = client->Train(id, options);
      if (!stream.ok()) {
        absl::SleepFor(absl::Milliseconds(20));
        continue;
      }
      bool first = true;
      while (true) {
        auto q = (*stream)->NextQuery();
        if (!q.ok()) break;
        if (first) {
          std::lock_guard<std::mutex> lock(mu);
          ++reconnects;
          if (newest_query > q->tick) lost_ticks += newest_query - q->tick;
          const int64_t floor = scenario.durability == v1::Durability::MODE_EVERY_TICK ? last_applied : durable_seen;
          if (q->tick < floor) {
            violations.push_back(absl::StrCat("worker ", w, " came back at tick ", q->tick, " below ", floor));
          }
          first = false;
        }
        newest_query = q->tick;
        if (q->tick >= scenario.ticks) {
          ++finished;
          return;
        }
        auto ack = (*stream)->Tell(q->tick, GradientAt(q->values, w), LossAt(q->values, w));
        if (!ack.ok()) break;
        if (scenario.durability == v1::Durability::MODE_EVERY_TICK && q->tick == last_applied &&
            ack->outcome() != v1::TickAck::OUTCOME_DUPLICATE) {
          std::lock_guard<std::mutex> lock(mu);
          violations.push_back(absl::StrCat("worker ", w, "'s acknowledged gradient for tick ", q->tick,
                                            " was lost: resent, it was ", v1::TickAck::Outcome_Name(ack->outcome())));
        }
        if (ack->outcome() == v1::TickAck::OUTCOME_APPLIED) last_applied = q->tick;
        durable_seen = std::max(durable_seen, ack->durable_tick());
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back(worker, w);

  std::mt19937 random(static_cast<unsigned>(::getpid()));
  int kills = 0;
  for (; kills < scenario.kills && finished < kWorkers && absl::Now() < deadline; ++kills) {
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(200, 700)(random)));
    server->Kill();
    server = std::make_unique<testing::ServerProcess>();
    // The port may take a moment to be free again.
    bool started = false;
    for (int attempt = 0; attempt < 50 && !started; ++attempt) {
      started = server->Start(BASIN_SERVER_BINARY, args(port));
      if (!started) absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_TRUE(started) << server->why();
  }
  for (auto& t : workers) t.join();
  ASSERT_EQ(finished.load(), kWorkers) << "the workers did not finish before the deadline";

  for (const std::string& v : violations) ADD_FAILURE() << v;
  auto checkpoint = client::Client::Connect(address)->ExportSession(id);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  v1::SessionCheckpoint parsed;
  ASSERT_TRUE(parsed.ParseFromString(*checkpoint));
  EXPECT_TRUE(parsed.state() == ReferenceState(scenario.durability, scenario.ticks))
      << "the state after " << kills << " kills differs from the uninterrupted run";
  std::printf("%s: %lld ticks, %d kills, %lld reconnects, %.1f ticks recomputed per restart on average\n",
              scenario.name, static_cast<long long>(scenario.ticks), kills, static_cast<long long>(reconnects),
              kills == 0 ? 0.0 : static_cast<double>(lost_ticks) / kWorkers / kills);
  EXPECT_GE(kills, 3);
  server->Kill();
  fs::remove_all(data);
}

INSTANTIATE_TEST_SUITE_P(Durability, ChaosTest,
                         ::testing::Values(Scenario{"every_tick", v1::Durability::MODE_EVERY_TICK, 800, 5},
                                           Scenario{"periodic", v1::Durability::MODE_PERIODIC, 6000, 5}),
                         [](const auto& info) { return std::string(info.param.name); });

// SIGTERM while a tick is in flight: the tick completes and is acknowledged, the process exits 0
// within the grace period, and every session (periodic, with an interval far beyond the test, so
// only the shutdown snapshot can have saved it) comes back at the acknowledged tick.
TEST(DrainTest, SigtermFinishesTheTickInFlightSnapshotsAndExitsZero) {
  const fs::path data = fs::temp_directory_path() / absl::StrCat("basin-drain-", ::getpid());
  fs::remove_all(data);
  const std::vector<std::string> args = {"--listen=127.0.0.1:0", "--metrics_listen=none",
                                         absl::StrCat("--data_dir=", data.string()), "--snapshot_interval=1h",
                                         "--drain_grace=5s"};
  testing::ServerProcess server;
  ASSERT_TRUE(server.Start(BASIN_SERVER_BINARY, args)) << server.why();
  auto client = client::Client::Connect(server.address());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::CreateSessionRequest request = SessionRequest(v1::Durability::MODE_PERIODIC);
    request.mutable_spec()->mutable_workers()->Clear();
    request.mutable_spec()->mutable_durability()->clear_snapshot_interval_seconds();
    request.set_request_id(absl::StrCat("drain-", i));
    auto session = client->CreateSession(request);
    ASSERT_TRUE(session.ok()) << session.status();
    ids.push_back(session->session_id());
  }
  // Ten ticks each, then one more query fetched: the tick in flight.
  std::vector<std::unique_ptr<client::TrainStream>> streams;
  std::vector<client::Query> in_flight;
  for (const std::string& id : ids) {
    auto stream = client->Train(id);
    ASSERT_TRUE(stream.ok()) << stream.status();
    for (int t = 0; t <= 10; ++t) {
      auto q = (*stream)->NextQuery();
      ASSERT_TRUE(q.ok()) << q.status();
      if (t == 10) {
        in_flight.push_back(*q);
        break;
      }
      ASSERT_TRUE((*stream)->Tell(q->tick, GradientAt(q->values, 0), LossAt(q->values, 0)).ok());
    }
    streams.push_back(*std::move(stream));
  }

  const absl::Time sigterm = absl::Now();
  server.Signal(SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(*client->Health("basin.v1.Optimizer"), "NOT_SERVING");
  EXPECT_EQ(client->CreateSession(SessionRequest(v1::Durability::MODE_PERIODIC)).status().code(),
            absl::StatusCode::kUnavailable);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const client::Query& q = in_flight[i];
    auto ack = streams[i]->Tell(q.tick, GradientAt(q.values, 0), LossAt(q.values, 0));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->outcome(), v1::TickAck::OUTCOME_APPLIED);
    EXPECT_EQ(ack->session_tick(), 11);
    EXPECT_EQ(streams[i]->NextQuery().status().code(), absl::StatusCode::kUnavailable);
  }
  const int status = server.WaitForExit(absl::Seconds(10));
  const absl::Duration took = absl::Now() - sigterm;
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, absl::Seconds(5)) << "the drain outlasted its grace period";
  std::printf("drain: exit 0 %s after SIGTERM\n", absl::FormatDuration(took).c_str());

  testing::ServerProcess restarted;
  ASSERT_TRUE(restarted.Start(BASIN_SERVER_BINARY, args)) << restarted.why();
  EXPECT_NE(restarted.output().find("3 sessions recovered"), std::string::npos) << restarted.output();
  auto again = client::Client::Connect(restarted.address());
  for (const std::string& id : ids) {
    auto session = again->GetSession(id);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ(session->tick(), 11);
    EXPECT_EQ(session->durable_tick(), 11);
  }
  restarted.Kill();
  fs::remove_all(data);
}

}  // namespace
}  // namespace basin
