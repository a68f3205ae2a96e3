#ifndef BASIN_TESTS_TESTING_SUBPROCESS_H_
#define BASIN_TESTS_TESTING_SUBPROCESS_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace basin::testing {

struct SubprocessResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string out;
  std::string err;
};

// Runs the shell command line `command` under `timeout 60`, so a hang fails the test instead of
// stalling it; stdout and stderr are kept apart.
inline SubprocessResult RunSubprocess(const std::string& command) {
  char err_path[] = "/tmp/basin_test_stderr_XXXXXX";
  const int fd = mkstemp(err_path);
  EXPECT_GE(fd, 0);
  close(fd);
  const std::string line = absl::StrCat("timeout 60 ", command, " 2>", err_path);
  SubprocessResult result;
  FILE* pipe = popen(line.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << line;
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  const int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  std::ifstream err_file(err_path);
  std::stringstream err;
  err << err_file.rdbuf();
  result.err = err.str();
  std::remove(err_path);
  return result;
}

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_SUBPROCESS_H_
