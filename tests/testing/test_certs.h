#ifndef BASIN_TESTS_TESTING_TEST_CERTS_H_
#define BASIN_TESTS_TESTING_TEST_CERTS_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"

namespace basin::testing {

// The certificates tests/testing/make_test_certs.py writes (its docstring lists them: ca.pem,
// server.pem/.key, client.pem/.key, expired_client.pem/.key, other_ca.pem, other_client.pem/.key),
// made afresh in a temporary directory that goes away with this object. The test target defines
// BASIN_SYSTEM_PYTHON and BASIN_MAKE_TEST_CERTS (the interpreter and the script).
class TestCerts {
 public:
  static absl::StatusOr<std::unique_ptr<TestCerts>> Make() {
    char dir[] = "/tmp/basin_test_certs_XXXXXX";
    if (mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
    std::unique_ptr<TestCerts> certs(new TestCerts(dir));
    const SubprocessResult made = RunSubprocess(absl::StrCat(BASIN_SYSTEM_PYTHON, " ", BASIN_MAKE_TEST_CERTS, " ", dir));
    if (made.exit_code != 0) {
      return absl::InternalError(absl::StrCat("make_test_certs.py exited with ", made.exit_code, ": ", made.err));
    }
    return certs;
  }
  ~TestCerts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  const std::string& dir() const { return dir_; }
  // "ca.pem" → "/tmp/basin_test_certs_…/ca.pem"
  std::string Path(const std::string& file) const { return absl::StrCat(dir_, "/", file); }
  std::string Read(const std::string& file) const {
    std::ifstream in(Path(file), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Writes `contents` to `file` in the directory; returns its path.
  std::string Write(const std::string& file, const std::string& contents) const {
    std::ofstream(Path(file), std::ios::binary) << contents;
    return Path(file);
  }

 private:
  explicit TestCerts(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_TEST_CERTS_H_
