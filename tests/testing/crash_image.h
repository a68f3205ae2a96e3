#ifndef BASIN_TESTS_TESTING_CRASH_IMAGE_H_
#define BASIN_TESTS_TESTING_CRASH_IMAGE_H_

#include <filesystem>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/persistence/session_store.h"
#include "server/session_manager.h"

namespace basin::testing {

// A data directory as a SIGKILL would leave it, opened by a new "server": the live directory is
// copied to `copy` (damaged by `damage`, if given) and recovered by a fresh SessionManager.
struct Restarted {
  std::unique_ptr<SessionStore> store;
  std::unique_ptr<SessionManager> manager;
  SessionManager::Recovery recovery;
};

inline Restarted CrashImageOf(const std::filesystem::path& live, const std::filesystem::path& copy,
                              const std::function<void(const std::filesystem::path&)>& damage = {}) {
  std::filesystem::copy(live, copy, std::filesystem::copy_options::recursive);
  if (damage) damage(copy);
  Restarted r;
  auto store = SessionStore::Open(copy.string());
  EXPECT_TRUE(store.ok()) << store.status();
  r.store = *std::move(store);
  r.manager = std::make_unique<SessionManager>(ServerLimits{}, nullptr, r.store.get(), absl::Hours(1));
  r.recovery = r.manager->Recover();
  return r;
}

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_CRASH_IMAGE_H_
