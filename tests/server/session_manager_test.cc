#include "server/session_manager.h"

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CreateSessionSpec Spec(int64_t d = 10, std::string request_id = "", std::string fingerprint = "") {
  CreateSessionSpec spec;
  spec.layout = ParameterLayout::Flat(d);
  spec.optimizer.config = SgdConfig{};
  spec.request_id = std::move(request_id);
  spec.fingerprint = std::move(fingerprint);
  return spec;
}

TEST(SessionManagerTest, CreateGetListDelete) {
  SessionManager manager(ServerLimits{});
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    auto s = manager.Create(Spec());
    ASSERT_TRUE(s.ok()) << s.status();
    ids.insert((*s)->id());
  }
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_EQ(manager.total_state_bytes(), 7 * 10 * 4);

  // Pages of 3 visit every session once, in id order.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = manager.List("", 3, token);
    ASSERT_TRUE(page.ok());
    for (const auto& s : page->sessions) seen.push_back(s.id);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<std::string>(ids.begin(), ids.end()));

  const std::string victim = *ids.begin();
  ASSERT_TRUE(manager.Get("", victim).ok());
  ASSERT_TRUE(manager.Delete("", victim).ok());
  EXPECT_EQ(manager.Get("", victim).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(manager.Delete("", victim).message()), HasSubstr("no session '" + victim + "'"));
  EXPECT_EQ(manager.num_sessions(), 6);
  EXPECT_EQ(manager.total_state_bytes(), 6 * 10 * 4);
  EXPECT_EQ(manager.List("", 1001, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SessionManagerTest, RequestIdMakesCreateIdempotent) {
  SessionManager manager(ServerLimits{});
  auto first = manager.Create(Spec(10, "req-1", "spec A"));
  auto retry = manager.Create(Spec(10, "req-1", "spec A"));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_EQ((*first)->id(), (*retry)->id());
  EXPECT_EQ(manager.num_sessions(), 1);
  auto other = manager.Create(Spec(10, "req-1", "spec B"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("'req-1' was used for a different session spec"));
  ASSERT_TRUE(manager.Delete("", (*first)->id()).ok());
  EXPECT_EQ(manager.Create(Spec(10, "req-1", "spec A")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager.Create(Spec(10, std::string(129, 'r'), "x")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SessionManagerTest, LimitsAreResourceExhaustedNamingTheLimit) {
  ServerLimits limits;
  limits.max_sessions = 2;
  limits.max_parameters_per_session = 100;
  limits.max_total_state_bytes = 1000;
  limits.max_workers_per_session = 4;
  SessionManager manager(limits);
  auto expect = [](absl::Status s, const std::string& message) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
  };
  expect(manager.Create(Spec(101)).status(), "the layout has 101 parameters; the limit per session is 100 (--max_parameters_per_session)");
  CreateSessionSpec many_workers = Spec();
  many_workers.workers.num_workers = 5;
  expect(manager.Create(many_workers).status(), "workers.num_workers is 5; the limit per session is 4 (--max_workers_per_session)");
  ASSERT_TRUE(manager.Create(Spec(100)).ok());  // 400 bytes
  ASSERT_TRUE(manager.Create(Spec(100)).ok());  // 800 bytes
  EXPECT_EQ(manager.num_sessions(), 2);
  expect(manager.Create(Spec(10)).status(), "the server holds 2 sessions, its limit (--max_sessions 2)");
  ASSERT_TRUE(manager.Delete("", manager.List("", 1, "")->sessions[0].id).ok());
  CreateSessionSpec big = Spec(100);
  big.optimizer.config = EmcmcConfig{};  // θ and θa: 800 bytes
  expect(manager.Create(big).status(),
         "the session needs 800 bytes of state; the server holds 400 of its limit 1000 (--max_total_state_bytes)");
}

// Found by create_session_request_fuzz: the state was allocated, and initialized, before the
// limit refused it, so one request within max_parameters_per_session could need several times
// max_total_state_bytes of memory (f64, several state variables) before being refused.
TEST(SessionManagerTest, StateOverTheLimitIsRefusedBeforeItIsAllocated) {
  ServerLimits limits;
  limits.max_total_state_bytes = 1000;
  SessionManager manager(limits);
  CreateSessionSpec big = Spec(100);
  big.dtype = DType::kF64;
  EmcmcConfig with_momentum;
  with_momentum.momentum = 0.5;  // θ, θa and their momenta: 4 × 100 × 8 bytes
  big.optimizer.config = with_momentum;
  bool initialized = false;
  big.initialize = [&](AnyOptimizer&) {
    initialized = true;
    return absl::OkStatus();
  };
  const absl::Status refused = manager.Create(big).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("the session needs 3200 bytes of state; the server holds 0"));
  EXPECT_FALSE(initialized) << "the optimizer was built before the limit was checked";
  EXPECT_EQ(manager.total_state_bytes(), 0);
}

TEST(SessionManagerTest, InvalidSpecsAndInitializerErrorsCreateNothing) {
  SessionManager manager(ServerLimits{});
  CreateSessionSpec bad = Spec();
  EntropySgdConfig zero_inner_ticks;
  zero_inner_ticks.L = 0;
  bad.optimizer.config = zero_inner_ticks;
  EXPECT_EQ(manager.Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
  CreateSessionSpec async = Spec();
  async.optimizer.config = SamConfig{};
  async.workers = WorkerPolicy{.num_workers = 2, .mode = WorkerPolicy::Mode::kAsync};
  EXPECT_THAT(std::string(manager.Create(async).status().message()), HasSubstr("async needs an optimizer"));
  CreateSessionSpec failing = Spec();
  failing.initialize = [](AnyOptimizer&) { return absl::InvalidArgumentError("initial values for 'x' are short"); };
  EXPECT_THAT(std::string(manager.Create(failing).status().message()), HasSubstr("initial values for 'x' are short"));
  EXPECT_EQ(manager.num_sessions(), 0);
  EXPECT_EQ(manager.total_state_bytes(), 0);
}

CreateSessionSpec SpecOf(const std::string& tenant, int64_t d = 10, std::string request_id = "",
                         std::string fingerprint = "") {
  CreateSessionSpec spec = Spec(d, std::move(request_id), std::move(fingerprint));
  spec.tenant = tenant;
  return spec;
}

TEST(SessionManagerTest, ATenantSeesAndTouchesOnlyItsOwnSessions) {
  SessionManager manager(ServerLimits{});
  std::set<std::string> alice_ids, bob_ids;
  // Interleaved, so another tenant's sessions sit between a tenant's own in id order.
  for (int i = 0; i < 5; ++i) {
    alice_ids.insert((*manager.Create(SpecOf("alice")))->id());
    bob_ids.insert((*manager.Create(SpecOf("bob")))->id());
  }
  for (const auto& [tenant, ids] : {std::pair{"alice", alice_ids}, std::pair{"bob", bob_ids}}) {
    std::vector<std::string> seen;
    std::string token;
    int pages = 0;
    do {
      auto page = manager.List(tenant, 2, token);
      ASSERT_TRUE(page.ok());
      for (const auto& s : page->sessions) {
        EXPECT_EQ(s.tenant(), tenant);
        seen.push_back(s.id);
      }
      token = page->next_page_token;
      ASSERT_LT(++pages, 10);
    } while (!token.empty());
    EXPECT_EQ(pages, 3) << tenant;  // 2 + 2 + 1, the last page without a token
    EXPECT_EQ(seen, std::vector<std::string>(ids.begin(), ids.end())) << tenant;
  }
  EXPECT_TRUE(manager.List("carol", 0, "")->sessions.empty());
  EXPECT_TRUE(manager.List("", 0, "")->sessions.empty());

  // Bob's view of Alice's session is the view of an id that does not exist.
  const std::string alices = *alice_ids.begin();
  const absl::Status unknown = manager.Get("bob", "s-does-not-exist").status();
  const absl::Status foreign = manager.Get("bob", alices).status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(foreign.message(), absl::StrCat("no session '", alices, "'"));
  EXPECT_EQ(std::string(unknown.message()), absl::StrCat("no session '", "s-does-not-exist", "'"));
  const absl::Status deleted = manager.Delete("bob", alices);
  EXPECT_EQ(deleted.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(deleted.message(), foreign.message());
  EXPECT_EQ(manager.Get("", alices).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(manager.Get("alice", alices).ok());
  ASSERT_TRUE(manager.Delete("alice", alices).ok());
  EXPECT_EQ(manager.num_sessions(), 9);
}

TEST(SessionManagerTest, RequestIdsAndMetricsLabelsAcrossTenants) {
  SessionManager manager(ServerLimits{});
  auto alices = manager.Create(SpecOf("alice", 10, "job-1", "spec A"));
  auto bobs = manager.Create(SpecOf("bob", 10, "job-1", "spec B"));  // another tenant's request id
  ASSERT_TRUE(alices.ok() && bobs.ok());
  EXPECT_NE((*alices)->id(), (*bobs)->id());
  EXPECT_EQ((*manager.Create(SpecOf("alice", 10, "job-1", "spec A")))->id(), (*alices)->id());
  EXPECT_EQ((*manager.Create(SpecOf("bob", 10, "job-1", "spec B")))->id(), (*bobs)->id());
  EXPECT_EQ(manager.num_sessions(), 2);

  // A label is unique server-wide, and the refusal does not show another tenant's session id.
  CreateSessionSpec labelled = SpecOf("alice");
  labelled.metrics_run = "run-1";
  auto with_label = manager.Create(labelled);
  ASSERT_TRUE(with_label.ok());
  labelled.tenant = "bob";
  const absl::Status taken = manager.Create(labelled).status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(taken.message()), HasSubstr("metrics_run 'run-1' is in use by another tenant's session"));
  EXPECT_THAT(std::string(taken.message()), Not(HasSubstr((*with_label)->id())));
  labelled.tenant = "alice";
  EXPECT_THAT(std::string(manager.Create(labelled).status().message()), HasSubstr((*with_label)->id()));
}

TEST(SessionManagerTest, PerTenantQuotasNameTheTenantTheFlagTheLimitAndTheValue) {
  ServerLimits limits;
  limits.max_sessions_per_tenant = 2;
  limits.max_state_bytes_per_tenant = 600;  // SGD: 4 bytes per f32 parameter
  SessionManager manager(limits);
  ASSERT_TRUE(manager.Create(SpecOf("alice", 100)).ok());  // 400 bytes
  const absl::Status bytes = manager.Create(SpecOf("alice", 100)).status();
  EXPECT_EQ(bytes.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(bytes.message(),
            "the session needs 400 bytes of state; tenant 'alice' holds 400 of its limit 600 "
            "(--max_state_bytes_per_tenant)");
  ASSERT_TRUE(manager.Create(SpecOf("alice", 50)).ok());  // 600 bytes, two sessions
  const absl::Status sessions = manager.Create(SpecOf("alice", 1)).status();
  EXPECT_EQ(sessions.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sessions.message(), "tenant 'alice' holds 2 sessions, its limit (--max_sessions_per_tenant 2)");
  // Another tenant has its own quota; the default tenant "" is named as such.
  ASSERT_TRUE(manager.Create(SpecOf("bob", 100)).ok());
  ASSERT_TRUE(manager.Create(SpecOf("", 150)).ok());
  EXPECT_EQ(manager.Create(SpecOf("", 1)).status().message(),
            "the session needs 4 bytes of state; the default tenant holds 600 of its limit 600 "
            "(--max_state_bytes_per_tenant)");
  EXPECT_EQ(manager.num_sessions(), 4);
  // Deleting frees the tenant's quota.
  ASSERT_TRUE(manager.Delete("alice", manager.List("alice", 1, "")->sessions[0].id).ok());
  EXPECT_TRUE(manager.Create(SpecOf("alice", 1)).ok());
}

}  // namespace
}  // namespace basin
