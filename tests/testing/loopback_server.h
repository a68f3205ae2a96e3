#ifndef BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_
#define BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/cpp/basin_client.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/basin_server.h"

namespace basin::testing {

// A basin-server in the test process on an ephemeral loopback port, and a client of it.
class LoopbackServerTest : public ::testing::Test {
 protected:
  // Override to change the server's limits before it starts.
  virtual ServerLimits Limits() const { return ServerLimits{}; }
  // Override to serve GET /metrics over HTTP (e.g. "127.0.0.1:0"); empty: not exposed.
  virtual std::string MetricsListen() const { return ""; }
  // Override to persist sessions in a data directory; empty: memory only.
  virtual std::string DataDir() const { return ""; }
  // Override to evict idle persisted sessions (ServerOptions::idle_session_ttl).
  virtual absl::Duration IdleSessionTtl() const { return absl::ZeroDuration(); }

  void SetUp() override {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.limits = Limits();
    options.metrics_listen = MetricsListen();
    options.data_dir = DataDir();
    options.idle_session_ttl = IdleSessionTtl();
    auto server = BasinServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = client::Client::Connect(server_->address());
  }

  // A session from a CreateSessionRequest in text format; a failure is a test failure and gives
  // an empty Session.
  v1::Session CreateFromText(const std::string& text) {
    v1::CreateSessionRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
    auto session = client_->CreateSession(request);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.value_or(v1::Session());
  }

  // What a worker sends for query `q`, the k-th of its stream: the gradient and the loss.
  using GradientFn = std::function<std::pair<std::vector<float>, double>(const client::Query& q, int k)>;

  // `ticks` ticks of one worker through its own Train stream, each applied.
  void Drive(const std::string& session_id, int ticks, const GradientFn& gradient,
             client::TrainOptions options = {}) {
    auto stream = client_->Train(session_id, options);
    ASSERT_TRUE(stream.ok()) << stream.status();
    for (int k = 0; k < ticks; ++k) {
      auto q = (*stream)->NextQuery();
      ASSERT_TRUE(q.ok()) << q.status();
      const auto [g, loss] = gradient(*q, k);
      auto ack = (*stream)->Tell(q->tick, g, loss);
      ASSERT_TRUE(ack.ok()) << ack.status();
      ASSERT_EQ(ack->outcome(), v1::TickAck::OUTCOME_APPLIED);
    }
    ASSERT_TRUE((*stream)->Close().ok());
  }

  std::unique_ptr<BasinServer> server_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_
