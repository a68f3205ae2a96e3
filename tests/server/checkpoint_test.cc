// ExportSession / ImportSession: a session continued from its checkpoint is bitwise the session
// continued in place, with noise on; damaged or hostile checkpoints are refused and create nothing.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_server.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

std::pair<std::vector<float>, double> GradientOf(const client::Query& q, int) {
  std::vector<float> g(q.values.size());
  double loss = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    g[i] = q.values[i] - 0.3f + 0.05f * std::sin(0.9f * static_cast<float>(q.tick + i));
    loss += 0.5 * g[i] * g[i];
  }
  return {g, loss};
}

class CheckpointTest : public ::basin::testing::LoopbackServerTest {
 protected:
  std::vector<float> Get(const std::string& id, v1::ParameterSet which) {
    auto values = client_->GetParameters(id, which);
    EXPECT_TRUE(values.ok()) << values.status();
    return values.value_or(std::vector<float>());
  }
};

TEST_F(CheckpointTest, AnImportedSessionContinuesBitwiseLikeTheOriginal) {
  for (const char* optimizer : {"emcmc {}", "sgld {}", "entropy_sgd { L: 3 }", "sam {}"}) {
    SCOPED_TRACE(optimizer);
    const v1::Session original = CreateFromText(absl::StrCat(
        "spec { tensors { name: 'w' shape: 5 shape: 3 } tensors { name: 'b' shape: 2 } optimizer { ", optimizer,
        " } seed: 11 samples { which: WHICH_MODEL thin: 2 max_samples: 3 } }"));
    // Mid-step for Entropy-SGD and SAM: 7 ticks.
    Drive(original.session_id(), 7, GradientOf);
    auto checkpoint = client_->ExportSession(original.session_id());
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    auto imported = client_->ImportSession(*checkpoint);
    ASSERT_TRUE(imported.ok()) << imported.status();
    EXPECT_NE(imported->session_id(), original.session_id());
    EXPECT_EQ(imported->tick(), 7);
    EXPECT_EQ(imported->spec().optimizer().DebugString(), client_->GetSession(original.session_id())->spec().optimizer().DebugString());

    Drive(original.session_id(), 9, GradientOf);
    Drive(imported->session_id(), 9, GradientOf);
    EXPECT_EQ(Get(original.session_id(), v1::PARAMETER_SET_MODEL), Get(imported->session_id(), v1::PARAMETER_SET_MODEL));
    EXPECT_EQ(Get(original.session_id(), v1::PARAMETER_SET_QUERY), Get(imported->session_id(), v1::PARAMETER_SET_QUERY));
    ASSERT_GT(client_->ListSamples(original.session_id())->samples_size(), 0);
    EXPECT_EQ(Get(original.session_id(), v1::PARAMETER_SET_SAMPLE), Get(imported->session_id(), v1::PARAMETER_SET_SAMPLE));
    EXPECT_EQ(client_->ListSamples(original.session_id())->DebugString(),
              client_->ListSamples(imported->session_id())->DebugString());
  }
}

TEST_F(CheckpointTest, WorkerPolicyAndLabelsTravelAsDocumented) {
  const v1::Session original = CreateFromText(
      "spec { tensors { name: 'w' shape: 4 } optimizer { sgd { lr: 0.1 } } metrics_run: 'orig' "
      "workers { num_workers: 3 mode: MODE_ASYNC max_staleness: 2 } }");
  auto checkpoint = client_->ExportSession(original.session_id());
  ASSERT_TRUE(checkpoint.ok());
  auto imported = client_->ImportSession(*checkpoint, "", "copy");
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->spec().workers().DebugString(), original.spec().workers().DebugString());
  EXPECT_EQ(imported->spec().metrics_run(), "copy");
  // The original's label is in use, so carrying it over would be refused.
  EXPECT_EQ(client_->ImportSession(*checkpoint, "", "orig").status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(CheckpointTest, ARequestIdMakesTheImportIdempotent) {
  const v1::Session original = CreateFromText("spec { tensors { name: 'w' shape: 4 } optimizer { sgd {} } }");
  auto checkpoint = client_->ExportSession(original.session_id());
  ASSERT_TRUE(checkpoint.ok());
  auto first = client_->ImportSession(*checkpoint, "import-1");
  auto again = client_->ImportSession(*checkpoint, "import-1");
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->session_id(), again->session_id());
  EXPECT_EQ(client_->ListSessions()->size(), 2u);
}

TEST_F(CheckpointTest, DamagedCheckpointsAreRefusedAndCreateNothing) {
  const v1::Session original = CreateFromText("spec { tensors { name: 'w' shape: 64 } optimizer { emcmc {} } }");
  Drive(original.session_id(), 3, GradientOf);
  auto checkpoint = client_->ExportSession(original.session_id());
  ASSERT_TRUE(checkpoint.ok());

  EXPECT_EQ(client_->ImportSession("").status().code(), absl::StatusCode::kInvalidArgument);
  auto garbage = client_->ImportSession("not a checkpoint at all");
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("not a basin checkpoint"));
  auto truncated = client_->ImportSession(checkpoint->substr(0, checkpoint->size() / 2));
  EXPECT_NE(truncated.status().code(), absl::StatusCode::kOk);
  // A flipped byte inside the state: the state codec's CRC catches it.
  std::string flipped = *checkpoint;
  flipped[flipped.size() - 40] ^= 0x10;
  auto damaged = client_->ImportSession(flipped);
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss) << damaged.status();
  EXPECT_THAT(damaged.status().message(), HasSubstr("checkpoint state"));
  EXPECT_EQ(client_->ListSessions()->size(), 1u);

  EXPECT_EQ(client_->ExportSession("s-none").status().code(), absl::StatusCode::kNotFound);
}

class SmallCheckpointLimitTest : public ::basin::testing::LoopbackServerTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_total_state_bytes = 4096;
    return limits;
  }
};

TEST_F(SmallCheckpointLimitTest, AnOversizedCheckpointIsResourceExhausted) {
  auto refused = client_->ImportSession(std::string(3 << 20, 'x'));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("8192 bytes"));
}

}  // namespace
}  // namespace basin
