// Idle-session eviction over gRPC: a session no call uses for --idle_session_ttl leaves memory,
// stays visible (GetSession, ListSessions, GetSessionStats describe it without reloading it), and
// its next Train stream reloads it and continues bit for bit.
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_server.h"

namespace basin::testing {
namespace {

namespace fs = std::filesystem;

std::pair<std::vector<float>, double> Smooth(const client::Query& q, int) {
  std::vector<float> g(q.values.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = 0.5f * q.values[i] - 0.1f + 0.01f * std::sin(q.tick + 0.3f * i);
  return {g, 1.0};
}

class EvictionTest : public LoopbackServerTest {
 protected:
  EvictionTest() : dir_(fs::temp_directory_path() / absl::StrCat("basin-eviction-", ::getpid())) {
    fs::remove_all(dir_);
  }
  ~EvictionTest() override { fs::remove_all(dir_); }
  std::string DataDir() const override { return dir_.string(); }
  absl::Duration IdleSessionTtl() const override { return absl::Milliseconds(300); }

  // Waits (bounded) until the server holds `n` sessions on disk only.
  bool WaitForEvicted(int64_t n) {
    for (int i = 0; i < 100; ++i) {
      if (server_->sessions().num_evicted() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  fs::path dir_;
};

TEST_F(EvictionTest, AnIdleSessionLeavesMemoryStaysVisibleAndContinuesBitForBitAtItsNextUse) {
  const std::string spec = R"pb(tensors { name: "w" shape: 40 }
                               optimizer { emcmc { lr: 0.05 temperature: 0.01 } } seed: 9)pb";
  const v1::Session idle = CreateFromText(absl::StrCat("spec { ", spec, " durability { mode: MODE_EVERY_TICK } }"));
  const v1::Session reference = CreateFromText(absl::StrCat("spec { ", spec, " durability { mode: MODE_NONE } }"));
  Drive(idle.session_id(), 5, Smooth);
  Drive(reference.session_id(), 5, Smooth);

  ASSERT_TRUE(WaitForEvicted(1)) << "the every_tick session is evicted; durability none never is";
  auto described = client_->GetSession(idle.session_id());
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->tick(), 5);
  EXPECT_EQ(described->durable_tick(), 5);
  EXPECT_EQ(client_->GetStats(idle.session_id())->tick(), 5);
  EXPECT_EQ(client_->ListSessions()->size(), 2u);
  EXPECT_EQ(server_->sessions().num_evicted(), 1) << "describing it does not bring it back";

  Drive(idle.session_id(), 6, Smooth);  // reloads it
  Drive(reference.session_id(), 6, Smooth);
  EXPECT_EQ(*client_->ExportSession(idle.session_id()), *client_->ExportSession(reference.session_id()));
  EXPECT_EQ(client_->GetSession(idle.session_id())->tick(), 11);
}

TEST_F(EvictionTest, AnOpenStreamKeepsItsSessionInMemory) {
  const v1::Session session = CreateFromText(R"pb(spec { tensors { name: "w" shape: 8 } optimizer { sgd {} } })pb");
  auto stream = client_->Train(session.session_id());
  ASSERT_TRUE(stream.ok()) << stream.status();
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE(q.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // four TTLs with the stream idle
  EXPECT_EQ(server_->sessions().num_evicted(), 0);
  auto ack = (*stream)->Tell(q->tick, Smooth(*q, 0).first, 1.0);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->outcome(), v1::TickAck::OUTCOME_APPLIED);
  ASSERT_TRUE((*stream)->Close().ok());
  EXPECT_TRUE(WaitForEvicted(1));
}

}  // namespace
}  // namespace basin::testing
