// `basin`, the command-line client, run as a subprocess against basin-server on loopback.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cpp/basin_client.h"
#include "core/objectives/objective_driver.h"
#include "core/objectives/objective_spec.h"
#include "core/optimizer_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/basin_server.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/subprocess.h"
#include "server/spec_mapping.h"

namespace basin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using CliResult = ::basin::testing::SubprocessResult;

// Runs `basin ARGS`.
CliResult RunCli(const std::string& args) {
  return ::basin::testing::RunSubprocess(absl::StrCat(BASIN_CLI_PATH, " ", args));
}

// The text of the number after `"key":` in `object`, a flat JSON object.
std::string JsonField(const std::string& object, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const std::size_t at = object.find(needle);
  if (at == std::string::npos) return "";
  const std::size_t begin = at + needle.size();
  const std::size_t end = object.find_first_of(",}", begin);
  std::string value = object.substr(begin, end - begin);
  if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
  return value;
}

// The entries of `"runs":[...]` in `basin run --json` output, by optimizer name.
std::map<std::string, std::string> RunsByOptimizer(const std::string& json) {
  std::map<std::string, std::string> runs;
  std::size_t at = json.find("\"runs\":[");
  while (at != std::string::npos) {
    const std::size_t begin = json.find("{\"optimizer\":", at);
    if (begin == std::string::npos) break;
    const std::size_t end = json.find('}', begin);
    const std::string object = json.substr(begin, end - begin + 1);
    runs[JsonField(object, "optimizer")] = object;
    at = end;
  }
  return runs;
}

class CliTest : public ::basin::testing::LoopbackServerTest {
 protected:

  CliResult Cli(const std::string& args) { return RunCli(absl::StrCat("--target=", server_->address(), " ", args)); }

};

TEST_F(CliTest, HealthSaysServing) {
  const CliResult r = Cli("health");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(CliTest, RunTrainsEachOptimizerThroughItsOwnSessionToAGoodClassifier) {
  constexpr int kSteps = 60;
  const CliResult r = Cli(absl::StrCat("run --objective=logistic_regression --optimizer=sgd,entropy_sgd,emcmc "
                                       "--dimension=10 --num_examples=512 --batch_size=32 --steps=",
                                       kSteps, " --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const std::map<std::string, std::string> runs = RunsByOptimizer(r.out);
  ASSERT_EQ(runs.size(), 3u) << r.out;
  // Entropy-SGD (lua) takes L = 5 inner ticks plus one at x per step.
  const std::map<std::string, int> ticks_per_step = {{"sgd", 1}, {"entropy_sgd", 6}, {"emcmc", 1}};
  for (const auto& [name, expected_ticks_per_step] : ticks_per_step) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(runs.count(name)) << r.out;
    const std::string& run = runs.at(name);
    EXPECT_EQ(JsonField(run, "ok"), "true") << run;
    EXPECT_EQ(std::stoi(JsonField(run, "ticks_per_step")), expected_ticks_per_step);
    EXPECT_EQ(std::stoi(JsonField(run, "steps")), kSteps);
    EXPECT_EQ(std::stoi(JsonField(run, "ticks")), kSteps * expected_ticks_per_step);
    // Chance is about 0.5 (the zero model predicts one class); the loss starts at log 2.
    EXPECT_GT(std::stod(JsonField(run, "accuracy")), 0.75) << run;
    EXPECT_LT(std::stod(JsonField(run, "final_loss")), 0.6) << run;
    // The ticks really went through the server.
    auto session = client_->GetSession(JsonField(run, "session_id"));
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ(session->tick(), kSteps * expected_ticks_per_step);
    EXPECT_EQ(session->spec().tensors_size(), 2);  // logistic regression's "w" and "b"
  }

  const CliResult list = Cli("sessions list");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const auto& [name, run] : runs) {
    EXPECT_THAT(list.out, HasSubstr(JsonField(run, "session_id")));
  }

  const std::string entropy_id = JsonField(runs.at("entropy_sgd"), "session_id");
  const CliResult stats = Cli(absl::StrCat("stats ", entropy_id));
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, ::testing::ContainsRegex(absl::StrCat("tick +", kSteps * 6, "\n")));
  EXPECT_THAT(stats.out, ::testing::ContainsRegex(absl::StrCat("step +", kSteps, "\n")));
  const CliResult stats_json = Cli(absl::StrCat("stats ", entropy_id, " --json"));
  ASSERT_EQ(stats_json.exit_code, 0) << stats_json.err;
  EXPECT_THAT(stats_json.out, HasSubstr(absl::StrCat("\"ticks_per_step\":6")));
}

TEST_F(CliTest, SamAndSgldRunWithPlainProgressWhenNotATerminal) {
  const CliResult r = Cli("run --optimizer=sam,sgld --dimension=5 --num_examples=256 --steps=20");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  // Not a terminal: no ANSI redraws, one line as each optimizer finishes, then the table.
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b[")));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("sam +tick 40/40 .*done"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("sgld +tick 20/20 .*done"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\nsam +40 +20 "));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\nsgld +20 +20 "));
}

// The CLI's loop (server query, gradient at the server's minibatch key, Tell) must be the
// in-process loop of core: the same models bit for bit. SAM catches a tick used as the minibatch
// key (its two ticks share one), Entropy-SGD a wrong tick count.
TEST_F(CliTest, RunIsBitwiseTheInProcessLoopOfCore) {
  constexpr int kSteps = 15;
  const CliResult r = Cli(absl::StrCat("run --optimizer=sam,entropy_sgd,sgld --objective=logistic_regression "
                                       "--dimension=5 --num_examples=200 --batch_size=16 --data_seed=3 "
                                       "--noise=0.1 --seed=9 --steps=",
                                       kSteps, " --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  ObjectiveSpec objective_spec;
  objective_spec.kind = "logistic_regression";
  objective_spec.dimension = 5;
  objective_spec.num_examples = 200;
  objective_spec.batch_size = 16;
  objective_spec.data_seed = 3;
  objective_spec.noise = 0.1;
  auto objective = MakeObjective(objective_spec);
  ASSERT_TRUE(objective.ok()) << objective.status();
  for (const auto& [name, run] : RunsByOptimizer(r.out)) {
    SCOPED_TRACE(name);
    auto session = client_->GetSession(JsonField(run, "session_id"));
    ASSERT_TRUE(session.ok()) << session.status();
    OptimizerSpec spec;
    spec.config = *OptimizerConfigFromProto(session->spec().optimizer());
    spec.seed = session->spec().seed();
    EXPECT_EQ(spec.seed, 9u);
    auto optimizer = CreateOptimizer<float>(spec, (*objective)->layout(), {});
    ASSERT_TRUE(optimizer.ok()) << optimizer.status();
    ASSERT_TRUE(DriveObjective(**optimizer, **objective, session->tick(), objective_spec.data_seed).ok());
    EXPECT_EQ((*optimizer)->step(), kSteps);
    auto model = client_->GetParameters(session->session_id(), v1::PARAMETER_SET_MODEL);
    ASSERT_TRUE(model.ok()) << model.status();
    const absl::Span<const float> expected = (*optimizer)->Model();
    ASSERT_EQ(model->size(), expected.size());
    EXPECT_EQ(std::memcmp(model->data(), expected.data(), expected.size() * sizeof(float)), 0);
  }
}

TEST_F(CliTest, SetReachesTheSessionSpecOfEveryOptimizerThatHasTheField) {
  const CliResult r = Cli(
      "run --optimizer=entropy_sgd,sgd --steps=2 --set L=3 --set=variant=paper,sgd.lr=0.5 --set momentum=0.25 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const std::map<std::string, std::string> runs = RunsByOptimizer(r.out);
  ASSERT_EQ(runs.size(), 2u) << r.out;
  auto esgd = client_->GetSession(JsonField(runs.at("entropy_sgd"), "session_id"));
  ASSERT_TRUE(esgd.ok()) << esgd.status();
  const v1::EntropySgdConfig& e = esgd->spec().optimizer().entropy_sgd();
  EXPECT_EQ(e.l(), 3);
  EXPECT_EQ(e.variant(), v1::EntropySgdConfig::VARIANT_PAPER);
  EXPECT_EQ(e.momentum(), 0.25);
  EXPECT_EQ(esgd->ticks_per_step(), 3);  // the paper's variant takes no extra tick at x
  auto sgd = client_->GetSession(JsonField(runs.at("sgd"), "session_id"));
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  EXPECT_EQ(sgd->spec().optimizer().sgd().lr(), 0.5);
  EXPECT_EQ(sgd->spec().optimizer().sgd().momentum(), 0.25);
}

TEST_F(CliTest, InvalidHyperParameterIsRefusedByTheServerNamingTheField) {
  const CliResult r = Cli("run --optimizer=entropy_sgd --set gamma=-1 --steps=5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, HasSubstr("entropy_sgd.gamma"));
  auto sessions = client_->ListSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
}

TEST_F(CliTest, RefusedSessionDeletesTheOnesAlreadyCreated) {
  const CliResult r = Cli("run --optimizer=sgd,entropy_sgd --set entropy_sgd.gamma=-1 --steps=5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("entropy_sgd.gamma"));
  auto sessions = client_->ListSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty()) << sessions->front().DebugString();
}

TEST_F(CliTest, SetOfAFieldNoChosenOptimizerHasIsAnError) {
  const CliResult r = Cli("run --optimizer=sgd --set gamma=1 --steps=5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, HasSubstr("gamma"));
  const CliResult bad_bool = Cli("run --optimizer=sgd --set nesterov=maybe --steps=5");
  EXPECT_NE(bad_bool.exit_code, 0);
  EXPECT_THAT(bad_bool.err, HasSubstr("true or false"));
  const CliResult bad_enum = Cli("run --optimizer=entropy_sgd --set variant=torch --steps=5");
  EXPECT_NE(bad_enum.exit_code, 0);
  EXPECT_THAT(bad_enum.err, HasSubstr("lua, paper, pytorch"));
}

TEST_F(CliTest, DeletedSessionIsNotFound) {
  const CliResult run = Cli("run --optimizer=sgd --steps=3 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string id = JsonField(RunsByOptimizer(run.out).at("sgd"), "session_id");
  ASSERT_FALSE(id.empty()) << run.out;

  const CliResult get = Cli(absl::StrCat("sessions get ", id));
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr(id));
  EXPECT_THAT(get.out, ::testing::ContainsRegex("tick +3\n"));

  const CliResult del = Cli(absl::StrCat("sessions delete ", id));
  EXPECT_EQ(del.exit_code, 0) << del.err;
  const CliResult gone = Cli(absl::StrCat("sessions get ", id));
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_THAT(gone.err, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(gone.err, HasSubstr(id));
  const CliResult stats = Cli(absl::StrCat("stats ", id));
  EXPECT_NE(stats.exit_code, 0);
  EXPECT_THAT(stats.err, HasSubstr("NOT_FOUND"));
}

TEST_F(CliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Cli("").exit_code, 2);
  EXPECT_EQ(Cli("frobnicate").exit_code, 2);
  EXPECT_EQ(Cli("sessions get").exit_code, 2);
  EXPECT_EQ(Cli("--set lr=1 health").exit_code, 2);
}

// A loopback port nothing listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(CliNoServerTest, ClosedPortFailsWithUnavailableWithinTheDeadline) {
  const std::string target = absl::StrCat("127.0.0.1:", ClosedPort());
  for (const std::string command : {"health", "sessions list", "run --optimizer=sgd --steps=3"}) {
    SCOPED_TRACE(command);
    const auto start = std::chrono::steady_clock::now();
    const CliResult r = RunCli(absl::StrCat("--target=", target, " --timeout=5s ", command));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
    EXPECT_EQ(r.out.find("SERVING"), std::string::npos);
  }
}

}  // namespace
}  // namespace basin
