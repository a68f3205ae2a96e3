#include "bench/soak/proc_status_sampler.h"

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace basin::soak {

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  ProcStatus status;
  bool rss = false, threads = false;
  std::string line;
  while (std::getline(file, line)) {
    // "VmRSS:\t   12345 kB", "Threads:\t80"
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      rest = absl::StripAsciiWhitespace(rest);
      rss = absl::ConsumeSuffix(&rest, " kB") && absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &status.rss_kib);
      if (!rss) return absl::DataLossError(absl::StrCat(path, ": unreadable line '", line, "'"));
    } else if (absl::ConsumePrefix(&rest, "Threads:")) {
      threads = absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &status.threads);
      if (!threads) return absl::DataLossError(absl::StrCat(path, ": unreadable line '", line, "'"));
    }
  }
  if (!rss || !threads) return absl::NotFoundError(absl::StrCat(path, " has no ", rss ? "Threads" : "VmRSS", " line"));
  return status;
}

ProcStatusSampler::ProcStatusSampler(pid_t pid, absl::Duration period)
    : pid_(pid), period_(period), start_(absl::Now()), thread_([this] { Loop(); }) {}

void ProcStatusSampler::Loop() {
  constexpr int64_t kMostSamples = 1'000'000;
  std::unique_lock<std::mutex> lock(mu_);
  for (int64_t n = 0; !stop_ && n < kMostSamples; ++n) {
    auto status = ReadProcStatus(pid_);
    if (status.ok()) {
      samples_.push_back(Sample{absl::Now() - start_, *status});
    } else if (error_.ok()) {
      error_ = status.status();
    }
    // On a fixed grid from the start, so the samples stay `period` apart however long a read took.
    stopped_.wait_until(lock, absl::ToChronoTime(start_ + period_ * (n + 1)), [this] { return stop_; });
  }
}

void ProcStatusSampler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stopped_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<ProcStatusSampler::Sample> ProcStatusSampler::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

absl::Status ProcStatusSampler::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace basin::soak
