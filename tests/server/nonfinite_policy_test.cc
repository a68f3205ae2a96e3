// SessionSpec.nonfinite_policy over the wire: with SKIP, a gradient or loss holding NaN or Inf is
// acknowledged OUTCOME_SKIPPED, moves nothing (not even a sync quorum), is counted, and the worker
// gets the same tick's query point again; the run then goes on bit for bit as if it had never been
// sent. With REJECT (the default) it is INVALID_ARGUMENT (bad_train_input_test.cc).
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/bad_input_fixture.h"

namespace basin::testing {
namespace {

std::vector<float> GradientAt(const client::Query& q, int worker = 0) {
  std::vector<float> g(q.values.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    g[i] = q.values[i] * (1.0f + 0.1f * worker) - 0.2f + 0.03f * std::sin(0.5f * static_cast<float>(q.tick + i));
  }
  return g;
}

std::vector<float> Poisoned(std::vector<float> g, std::size_t at, float value) {
  g[at] = value;
  return g;
}

class NonFinitePolicyTest : public BadInputTest {
 protected:
  // Two sessions of the same spec and seed but the policy: SGLD (noise keyed by tick), 30 values.
  v1::Session Create(const std::string& policy, const std::string& workers = "") {
    return CreateFromText(absl::StrCat(R"pb(spec {
                                              tensors { name: "x" shape: 30 }
                                              optimizer { sgld { lr: 0.01 temperature: 0.1 } }
                                              seed: 21 nonfinite_policy: )pb",
                                       policy, " ", workers, " }"));
  }

  std::vector<float> Model(const std::string& id) {
    auto values = client_->GetParameters(id, v1::PARAMETER_SET_MODEL);
    EXPECT_TRUE(values.ok()) << values.status();
    return values.value_or(std::vector<float>());
  }

  // The fingerprint of one session with gradients_skipped reset and its checkpoint's policy
  // REJECT, to compare with a session of policy REJECT that skipped none.
  ServerState::OfSession WithoutSkips(const std::string& id) {
    ServerState::OfSession s = State().sessions[id];
    auto stats = Parse<v1::SessionStats>(s.stats);
    stats.set_gradients_skipped(0);
    s.stats = stats.SerializeAsString();
    auto checkpoint = Parse<v1::SessionCheckpoint>(s.checkpoint);
    EXPECT_EQ(checkpoint.nonfinite_policy(), v1::NONFINITE_POLICY_SKIP);
    checkpoint.set_nonfinite_policy(v1::NONFINITE_POLICY_REJECT);
    s.checkpoint = checkpoint.SerializeAsString();
    return s;
  }
};

TEST_F(NonFinitePolicyTest, TheSpecEchoesThePolicy) {
  EXPECT_EQ(session_.spec().nonfinite_policy(), v1::NONFINITE_POLICY_REJECT);  // unset: reject
  EXPECT_EQ(Create("NONFINITE_POLICY_SKIP").spec().nonfinite_policy(), v1::NONFINITE_POLICY_SKIP);
  EXPECT_EQ(Create("NONFINITE_POLICY_REJECT").spec().nonfinite_policy(), v1::NONFINITE_POLICY_REJECT);
}

TEST_F(NonFinitePolicyTest, ACheckpointCarriesThePolicy) {
  for (const char* policy : {"NONFINITE_POLICY_SKIP", "NONFINITE_POLICY_REJECT"}) {
    const v1::Session original = Create(policy);
    auto bytes = client_->ExportSession(original.session_id());
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto imported = client_->ImportSession(*bytes);
    ASSERT_TRUE(imported.ok()) << imported.status();
    EXPECT_EQ(imported->spec().nonfinite_policy(), original.spec().nonfinite_policy()) << policy;
  }
}

TEST_F(NonFinitePolicyTest, ASkippedGradientMovesNothingAndItsTickIsAskedForAgain) {
  const v1::Session skip = Create("NONFINITE_POLICY_SKIP");
  const v1::Session reference = Create("NONFINITE_POLICY_REJECT");
  Drive(skip.session_id(), 2, [](const client::Query& q, int) { return std::make_pair(GradientAt(q), 1.0); });
  Drive(reference.session_id(), 2, [](const client::Query& q, int) { return std::make_pair(GradientAt(q), 1.0); });
  Remember();

  auto stream = client_->Train(skip.session_id());
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->tick, 2);
  const float inf = std::numeric_limits<float>::infinity();
  // NaN and ±Inf in an element, and a non-finite loss: each skipped, each time the same query again.
  const std::vector<std::pair<std::vector<float>, double>> poisoned = {
      {Poisoned(GradientAt(*q), 4, std::nanf("")), 1.0},
      {Poisoned(GradientAt(*q), 29, inf), 1.0},
      {Poisoned(GradientAt(*q), 0, -inf), 1.0},
      {GradientAt(*q), std::nan("")},
      {GradientAt(*q), std::numeric_limits<double>::infinity()},
  };
  for (std::size_t k = 0; k < poisoned.size(); ++k) {
    SCOPED_TRACE(k);
    auto ack = (*stream)->Tell(q->tick, poisoned[k].first, poisoned[k].second);
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->outcome(), v1::TickAck::OUTCOME_SKIPPED);
    EXPECT_EQ(ack->tick(), 2);
    EXPECT_EQ(ack->session_tick(), 2);
    auto again = (*stream)->NextQuery();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->tick, q->tick);
    EXPECT_EQ(again->step, q->step);
    EXPECT_EQ(again->minibatch_key, q->minibatch_key);
    EXPECT_EQ(again->values, q->values);
  }
  // Nothing moved but the count.
  EXPECT_EQ(client_->GetStats(skip.session_id())->gradients_skipped(), 5);
  ServerState expected = before_;
  auto stats = Parse<v1::SessionStats>(expected.sessions[skip.session_id()].stats);
  stats.set_gradients_skipped(5);
  expected.sessions[skip.session_id()].stats = stats.SerializeAsString();
  ExpectSameState(expected, State());

  // The finite gradient is applied, and the run is the one that never saw the others.
  auto ack = (*stream)->Tell(q->tick, GradientAt(*q), 1.0);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->outcome(), v1::TickAck::OUTCOME_APPLIED);
  auto next = (*stream)->NextQuery();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->tick, 3);
  ASSERT_TRUE((*stream)->Close().ok());
  Drive(reference.session_id(), 1, [](const client::Query& q, int) { return std::make_pair(GradientAt(q), 1.0); });
  EXPECT_EQ(Model(skip.session_id()), Model(reference.session_id()));
  EXPECT_EQ(WithoutSkips(skip.session_id()).checkpoint, State().sessions[reference.session_id()].checkpoint);
}

TEST_F(NonFinitePolicyTest, APipelinedSkippedGradientGetsItsQueryPointAgain) {
  const v1::Session skip = Create("NONFINITE_POLICY_SKIP");
  auto stream = client_->Train(skip.session_id());
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*stream)->SendGradient(q->tick, Poisoned(GradientAt(*q), 1, std::nanf("")), 1.0).ok());
  auto again = (*stream)->NextQuery();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*stream)->last_ack().outcome(), v1::TickAck::OUTCOME_SKIPPED);
  EXPECT_EQ(again->tick, 0);
  ASSERT_TRUE((*stream)->SendGradient(again->tick, GradientAt(*again), 1.0).ok());
  auto next = (*stream)->NextQuery();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*stream)->last_ack().outcome(), v1::TickAck::OUTCOME_APPLIED);
  EXPECT_EQ(next->tick, 1);
  ASSERT_TRUE((*stream)->Close().ok());
}

TEST_F(NonFinitePolicyTest, ASkippedGradientIsNotPartOfASyncQuorum) {
  const v1::Session skip = Create("NONFINITE_POLICY_SKIP", "workers { num_workers: 2 }");
  const v1::Session reference = Create("NONFINITE_POLICY_REJECT", "workers { num_workers: 2 }");
  for (const v1::Session* session : {&skip, &reference}) {
    client::TrainOptions second;
    second.worker_id = 1;
    auto w0 = client_->Train(session->session_id());
    auto w1 = client_->Train(session->session_id(), second);
    ASSERT_TRUE(w0.ok() && w1.ok());
    auto q0 = (*w0)->NextQuery();
    auto q1 = (*w1)->NextQuery();
    ASSERT_TRUE(q0.ok() && q1.ok());
    if (session == &skip) {
      auto skipped = (*w0)->Tell(0, Poisoned(GradientAt(*q0, 0), 7, std::nanf("")), 1.0);
      ASSERT_TRUE(skipped.ok()) << skipped.status();
      EXPECT_EQ(skipped->outcome(), v1::TickAck::OUTCOME_SKIPPED);
      q0 = (*w0)->NextQuery();
      ASSERT_TRUE(q0.ok());
      ASSERT_EQ(q0->tick, 0);
    }
    // Worker 1 joins the open tick; the quorum of two is complete only with worker 0's real one.
    auto joined = (*w1)->Tell(0, GradientAt(*q1, 1), 1.0);
    ASSERT_TRUE(joined.ok()) << joined.status();
    EXPECT_EQ(joined->outcome(), v1::TickAck::OUTCOME_APPLIED);
    EXPECT_EQ(client_->GetSession(session->session_id())->tick(), 0);
    auto completed = (*w0)->Tell(0, GradientAt(*q0, 0), 1.0);
    ASSERT_TRUE(completed.ok()) << completed.status();
    EXPECT_EQ(completed->outcome(), v1::TickAck::OUTCOME_APPLIED);
    EXPECT_EQ(completed->session_tick(), 1);
    ASSERT_TRUE((*w0)->Close().ok());
    ASSERT_TRUE((*w1)->Close().ok());
  }
  EXPECT_EQ(client_->GetStats(skip.session_id())->gradients_skipped(), 1);
  EXPECT_EQ(WithoutSkips(skip.session_id()).checkpoint, State().sessions[reference.session_id()].checkpoint);
}

TEST_F(NonFinitePolicyTest, AnAsyncWorkerMaySendTheSkippedTickAgain) {
  const v1::Session skip = Create("NONFINITE_POLICY_SKIP", "workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 2 }");
  client::TrainOptions second;
  second.worker_id = 1;
  auto stream = client_->Train(skip.session_id(), second);
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE(q.ok());
  auto skipped = (*stream)->Tell(q->tick, GradientAt(*q), std::nan(""));
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->outcome(), v1::TickAck::OUTCOME_SKIPPED);
  auto again = (*stream)->NextQuery();
  ASSERT_TRUE(again.ok());
  auto applied = (*stream)->Tell(again->tick, GradientAt(*again), 1.0);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->outcome(), v1::TickAck::OUTCOME_APPLIED) << "a skipped tick is not a duplicate";
  ASSERT_TRUE((*stream)->Close().ok());
  const auto stats = client_->GetStats(skip.session_id());
  EXPECT_EQ(stats->tick(), 1);
  EXPECT_EQ(stats->gradients_skipped(), 1);
  EXPECT_EQ(stats->gradients_duplicate(), 0);
}

}  // namespace
}  // namespace basin::testing
