#include "server/session.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "core/state_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kDim = 300;

AnyOptimizer MakeOptimizer(OptimizerConfig config) {
  OptimizerSpec spec;
  spec.config = std::move(config);
  spec.seed = 5;
  std::vector<float> init(kDim);
  for (int64_t i = 0; i < kDim; ++i) init[i] = std::cos(0.2f * i);
  return AnyOptimizer(std::move(*CreateOptimizer<float>(spec, ParameterLayout::Flat(kDim), init)));
}

SgldConfig NoisySgld() {
  SgldConfig c;
  c.lr = 0.01;
  c.temperature = 0.1;
  return c;
}

// Worker w's gradient at tick t: different per worker so the mean matters.
std::vector<float> WorkerGradient(const std::vector<float>& q, int worker, int64_t tick) {
  std::vector<float> g(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) g[i] = q[i] * (1.0f + 0.1f * worker) + 0.01f * std::sin(tick + i * 0.1f);
  return g;
}

std::string StateOf(Session& s) {
  return s.WithOptimizer([](const auto& o) {
    using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
    return StateCodec<Real>::Encode(o);
  });
}

TEST(SessionTest, SyncQuorumOfFourEqualsOneWorkerSendingTheMean) {
  WorkerPolicy four{.num_workers = 4, .mode = WorkerPolicy::Mode::kSync, .quorum = 4};
  Session parallel("p", MakeOptimizer(NoisySgld()), four);
  Session single("s", MakeOptimizer(NoisySgld()), WorkerPolicy{});
  constexpr int kTicks = 25;

  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int64_t t = 0; t < kTicks; ++t) {
        const auto q = parallel.CopyQuery<float>();
        ASSERT_EQ(q.tick, t);
        auto outcome = parallel.SubmitGradient<float>(w, t, WorkerGradient(q.values, w, t), 1.0 + w, 1.0);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ASSERT_EQ(*outcome, TickOutcome::kApplied);
        ASSERT_TRUE(parallel.WaitForTickAfter(t, absl::Now() + absl::Seconds(10), nullptr));
      }
    });
  }
  for (auto& t : threads) t.join();

  for (int64_t t = 0; t < kTicks; ++t) {
    const auto q = single.CopyQuery<float>();
    // The mean as the server defines it: summed in double in worker order, rounded once.
    std::vector<double> sum(kDim, 0.0);
    for (int w = 0; w < 4; ++w) {
      const auto g = WorkerGradient(q.values, w, t);
      for (int64_t i = 0; i < kDim; ++i) sum[i] += g[i];
    }
    std::vector<float> mean(kDim);
    for (int64_t i = 0; i < kDim; ++i) mean[i] = static_cast<float>(sum[i] / 4);
    ASSERT_TRUE(single.SubmitGradient<float>(0, t, mean, 2.5, 1.0).ok());
  }
  EXPECT_EQ(parallel.tick(), kTicks);
  EXPECT_EQ(StateOf(parallel), StateOf(single));
  EXPECT_EQ(parallel.Stats().last_loss, 2.5);
}

// Gradients or batch sizes near the double range, all finite: the plain weighted sums overflow, the
// mean does not. The quorum closes on the mean; refused, it would be refused at every attempt to
// close it, and the session would stop (the snapshot fuzz target's recovered sessions found this).
TEST(SessionTest, AQuorumWhoseWeightedSumsOverflowStillClosesOnItsMean) {
  const WorkerPolicy two{.num_workers = 2, .mode = WorkerPolicy::Mode::kSync, .quorum = 2};
  const OptimizerSpec sgd{.config = SgdConfig{}, .seed = 1};
  auto model = [](const Session& session) {
    return session.WithOptimizer(
        [](const auto& o) { return std::vector<double>(o.Model().begin(), o.Model().end()); });
  };

  // f64 values whose sum is beyond the double range.
  Session large("large", AnyOptimizer(*CreateOptimizer<double>(sgd, ParameterLayout::Flat(2), {0, 0})), two);
  ASSERT_TRUE(large.SubmitGradient<double>(0, 0, std::vector<double>{1e308, -1e308}, 1.0, 1.0).ok());
  auto closed = large.SubmitGradient<double>(1, 0, std::vector<double>{1e308, 3e307}, 3.0, 1.0);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(large.tick(), 1);
  EXPECT_DOUBLE_EQ(model(large)[0], -0.01 * 1e308);
  EXPECT_DOUBLE_EQ(model(large)[1], -0.01 * -3.5e307);
  EXPECT_EQ(large.Stats().last_loss, 2.0);

  // Batch sizes whose total is beyond the double range.
  Session heavy("heavy", AnyOptimizer(*CreateOptimizer<float>(sgd, ParameterLayout::Flat(2), {0, 0})), two);
  ASSERT_TRUE(heavy.SubmitGradient<float>(0, 0, std::vector<float>{3, 1}, 1.0, 1e308).ok());
  closed = heavy.SubmitGradient<float>(1, 0, std::vector<float>{5, 1}, 3.0, 1e308);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(heavy.tick(), 1);
  EXPECT_FLOAT_EQ(static_cast<float>(model(heavy)[0]), -0.01f * 4);
  EXPECT_FLOAT_EQ(static_cast<float>(model(heavy)[1]), -0.01f * 1);
  EXPECT_EQ(heavy.Stats().last_loss, 2.0);
}

TEST(SessionTest, QuorumThreeOfFourDropsExactlyOneGradientPerTick) {
  WorkerPolicy policy{.num_workers = 4, .mode = WorkerPolicy::Mode::kSync, .quorum = 3};
  Session session("q", MakeOptimizer(SgdConfig{}), policy);
  constexpr int kTicks = 10;
  for (int64_t t = 0; t < kTicks; ++t) {
    const auto q = session.CopyQuery<float>();
    // Workers arrive in a rotating order; the last one is late.
    for (int k = 0; k < 4; ++k) {
      const int w = static_cast<int>((t + k) % 4);
      auto outcome = session.SubmitGradient<float>(w, t, WorkerGradient(q.values, w, t), 1.0, 1.0);
      ASSERT_TRUE(outcome.ok());
      EXPECT_EQ(*outcome, k < 3 ? TickOutcome::kApplied : TickOutcome::kDropped) << "tick " << t << " k " << k;
    }
  }
  EXPECT_EQ(session.tick(), kTicks);
  EXPECT_EQ(session.counters().gradients_dropped, kTicks);
}

TEST(SessionTest, DuplicatesAreAcknowledgedNotApplied) {
  Session session("d", MakeOptimizer(SgdConfig{}), WorkerPolicy{});
  const auto q = session.CopyQuery<float>();
  ASSERT_TRUE(session.SubmitGradient<float>(0, 0, WorkerGradient(q.values, 0, 0), 1, 1).ok());
  const std::string after_first = StateOf(session);
  auto again = session.SubmitGradient<float>(0, 0, WorkerGradient(q.values, 0, 0), 1, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, TickOutcome::kDuplicate);
  EXPECT_EQ(StateOf(session), after_first);
  EXPECT_EQ(session.counters().gradients_duplicate, 1);

  WorkerPolicy two{.num_workers = 2, .mode = WorkerPolicy::Mode::kSync, .quorum = 2};
  Session pair("p", MakeOptimizer(SgdConfig{}), two);
  ASSERT_TRUE(pair.SubmitGradient<float>(1, 0, WorkerGradient(q.values, 1, 0), 1, 1).ok());
  EXPECT_EQ(*pair.SubmitGradient<float>(1, 0, WorkerGradient(q.values, 1, 0), 1, 1), TickOutcome::kDuplicate);
  EXPECT_EQ(pair.tick(), 0);  // still waiting for worker 0
}

TEST(SessionTest, AsyncAppliesBoundedStalenessAndRefusesOlder) {
  WorkerPolicy policy{.num_workers = 2, .mode = WorkerPolicy::Mode::kAsync, .max_staleness = 2};
  Session session("a", MakeOptimizer(SgdConfig{}), policy);
  const auto q0 = session.CopyQuery<float>();
  for (int64_t t = 0; t < 3; ++t) {
    const auto q = session.CopyQuery<float>();
    ASSERT_TRUE(session.SubmitGradient<float>(0, t, WorkerGradient(q.values, 0, t), 1, 1).ok());
  }
  // Worker 1 computed at tick 0; the session is at 3: three ticks old, over the bound.
  const std::string before = StateOf(session);
  auto old = session.SubmitGradient<float>(1, 0, WorkerGradient(q0.values, 1, 0), 1, 1);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(old.status().message()), HasSubstr("gradient for tick 0 is 3 ticks old; the session allows 2"));
  EXPECT_EQ(StateOf(session), before);
  // Two ticks old is within the bound and counted.
  auto ok = session.SubmitGradient<float>(1, 1, WorkerGradient(q0.values, 1, 1), 1, 1);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(session.tick(), 4);
  EXPECT_EQ(session.counters().gradients_stale_applied, 1);
}

TEST(SessionTest, BadSubmissionsChangeNothing) {
  WorkerPolicy two{.num_workers = 2, .mode = WorkerPolicy::Mode::kSync, .quorum = 2};
  Session session("b", MakeOptimizer(SgdConfig{}), two);
  const auto q = session.CopyQuery<float>();
  const std::string before = StateOf(session);
  auto expect = [&](absl::StatusOr<TickOutcome> r, absl::StatusCode code, const std::string& message) {
    EXPECT_EQ(r.status().code(), code);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(message));
  };
  auto g = WorkerGradient(q.values, 0, 0);
  expect(session.SubmitGradient<float>(2, 0, g, 1, 1), absl::StatusCode::kInvalidArgument,
         "worker id 2 is out of range: the session has 2 workers");
  expect(session.SubmitGradient<float>(0, 1, g, 1, 1), absl::StatusCode::kInvalidArgument,
         "gradient for tick 1 is from the future: the session is at tick 0");
  expect(session.SubmitGradient<float>(0, 0, g, 1, -1), absl::StatusCode::kInvalidArgument,
         "batch_size must be finite and > 0, got -1");
  g[7] = std::nanf("");
  expect(session.SubmitGradient<float>(0, 0, g, 1, 1), absl::StatusCode::kInvalidArgument, "element 7");
  expect(session.SubmitGradient<double>(0, 0, std::vector<double>(kDim), 1, 1), absl::StatusCode::kInternal,
         "gradient decoded as f64 for a f32 session");
  EXPECT_EQ(StateOf(session), before);
  // The refused worker may still contribute.
  ASSERT_TRUE(session.SubmitGradient<float>(0, 0, WorkerGradient(q.values, 0, 0), 1, 1).ok());
}

TEST(SessionTest, WaitEndsOnCancellationAndDeadline) {
  Session session("w", MakeOptimizer(SgdConfig{}), WorkerPolicy{});
  const absl::Time start = absl::Now();
  EXPECT_FALSE(session.WaitForTickAfter(0, absl::Now() + absl::Milliseconds(120), nullptr));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_FALSE(session.WaitForTickAfter(0, absl::InfiniteFuture(), [] { return true; }));
}

TEST(SessionTest, ClosingWakesQuorumWaitersAndRefusesGradients) {
  WorkerPolicy two{.num_workers = 2, .mode = WorkerPolicy::Mode::kSync, .quorum = 2};
  Session session("c", MakeOptimizer(SgdConfig{}), two);
  const auto q = session.CopyQuery<float>();
  ASSERT_TRUE(session.SubmitGradient<float>(0, 0, WorkerGradient(q.values, 0, 0), 1, 1).ok());
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    session.Close();
  });
  // Worker 1 never comes; closing the session ends the wait instead of the deadline.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(session.WaitForTickAfter(0, absl::Now() + absl::Seconds(30), nullptr));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  closer.join();
  auto refused = session.SubmitGradient<float>(1, 0, WorkerGradient(q.values, 1, 0), 1, 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("session 'c' was deleted"));
  EXPECT_EQ(session.tick(), 0);
}

TEST(WorkerPolicyTest, Validation) {
  EXPECT_THAT(std::string(WorkerPolicy{.num_workers = 0}.Check(1).message()), HasSubstr("num_workers must be >= 1"));
  EXPECT_THAT(std::string(WorkerPolicy{.num_workers = 2, .quorum = 3}.Check(1).message()),
              HasSubstr("quorum must be in [1, num_workers = 2], got 3"));
  EXPECT_THAT(std::string(WorkerPolicy{.num_workers = 2, .mode = WorkerPolicy::Mode::kAsync}.Check(2).message()),
              HasSubstr("async needs an optimizer with one tick per step"));
  EXPECT_TRUE((WorkerPolicy{.num_workers = 2, .mode = WorkerPolicy::Mode::kAsync, .max_staleness = 3}.Check(1).ok()));
}

}  // namespace
}  // namespace basin
