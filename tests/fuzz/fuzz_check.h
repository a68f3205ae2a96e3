#ifndef BASIN_TESTS_FUZZ_FUZZ_CHECK_H_
#define BASIN_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

// A fuzz target's invariant. When it does not hold the input is a finding: abort() is what
// libFuzzer reports as a crash (saving the input) and what fails a corpus replay. GoogleTest's
// assertions do not fit here: they record and go on, and need a test to run in.
#define BASIN_FUZZ_CHECK(condition, ...)                                                    \
  do {                                                                                      \
    if (!(condition)) ::basin::fuzz::Fail(__FILE__, __LINE__, #condition, absl::StrCat(__VA_ARGS__)); \
  } while (false)

namespace basin::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n  %s\n", file, line, condition, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace basin::fuzz

#endif  // BASIN_TESTS_FUZZ_FUZZ_CHECK_H_
