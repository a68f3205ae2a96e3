#ifndef BASIN_TESTS_FUZZ_SESSION_CHECKS_H_
#define BASIN_TESTS_FUZZ_SESSION_CHECKS_H_

#include <cstddef>
#include <vector>

#include "server/session.h"
#include "tests/fuzz/fuzz_check.h"

namespace basin::fuzz {

// Any session a request made must take a tick: a zero gradient for its current tick is applied.
inline void CheckAcceptsAZeroGradient(Session& session) {
  auto submit = [&session](auto zero) {
    using Real = decltype(zero);
    const std::vector<Real> gradient(static_cast<std::size_t>(session.layout().num_elements()), zero);
    auto outcome = session.SubmitGradient<Real>(0, session.tick(), gradient, 0.0, 1.0);
    BASIN_FUZZ_CHECK(outcome.ok() && *outcome == TickOutcome::kApplied, "a zero gradient for the session's tick: ",
                     outcome.ok() ? "not applied" : outcome.status().ToString());
  };
  if (session.dtype() == DType::kF32) {
    submit(0.0f);
  } else {
    submit(0.0);
  }
}

}  // namespace basin::fuzz

#endif  // BASIN_TESTS_FUZZ_SESSION_CHECKS_H_
