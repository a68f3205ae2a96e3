#ifndef BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_
#define BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <memory>
#include <string>

#include "client/cpp/basin_client.h"
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

  void SetUp() override {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.limits = Limits();
    options.metrics_listen = MetricsListen();
    auto server = BasinServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = client::Client::Connect(server_->address());
  }

  std::unique_ptr<BasinServer> server_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_LOOPBACK_SERVER_H_
