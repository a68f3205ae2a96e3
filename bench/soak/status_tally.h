#ifndef BASIN_BENCH_SOAK_STATUS_TALLY_H_
#define BASIN_BENCH_SOAK_STATUS_TALLY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace basin::soak {

// The status every call of the soak ended with, counted by code, each either expected (OK,
// CANCELLED from the soak's own cancels, ABORTED for a stale async gradient) or not. The first
// few unexpected ones are kept with their messages.
class StatusTally {
 public:
  static constexpr int kKeptMessages = 20;

  void Expected(absl::StatusCode code) { ++expected_[code]; }
  void Unexpected(const absl::Status& status, absl::string_view what) {
    ++unexpected_[status.code()];
    if (messages_.size() < kKeptMessages) messages_.push_back(absl::StrCat(what, ": ", status.ToString()));
  }
  void Merge(const StatusTally& other) {
    for (const auto& [code, n] : other.expected_) expected_[code] += n;
    for (const auto& [code, n] : other.unexpected_) unexpected_[code] += n;
    for (const std::string& m : other.messages_) {
      if (messages_.size() < kKeptMessages) messages_.push_back(m);
    }
  }

  const std::map<absl::StatusCode, int64_t>& expected() const { return expected_; }
  const std::map<absl::StatusCode, int64_t>& unexpected() const { return unexpected_; }
  int64_t unexpected_total() const {
    int64_t n = 0;
    for (const auto& [code, count] : unexpected_) n += count;
    return n;
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::map<absl::StatusCode, int64_t> expected_;
  std::map<absl::StatusCode, int64_t> unexpected_;
  std::vector<std::string> messages_;
};

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_STATUS_TALLY_H_
