#ifndef BASIN_BENCH_SOAK_PROC_STATUS_SAMPLER_H_
#define BASIN_BENCH_SOAK_PROC_STATUS_SAMPLER_H_

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace basin::soak {

// What the soak watches of the server process, from /proc/<pid>/status.
struct ProcStatus {
  int64_t rss_kib = 0;  // VmRSS
  int64_t threads = 0;  // Threads
};

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid);

// Reads a process's ProcStatus every `period` on its own thread, from construction until Stop().
class ProcStatusSampler {
 public:
  struct Sample {
    absl::Duration at;  // since the sampler started
    ProcStatus status;
  };

  ProcStatusSampler(pid_t pid, absl::Duration period);
  ~ProcStatusSampler() { Stop(); }
  ProcStatusSampler(const ProcStatusSampler&) = delete;
  ProcStatusSampler& operator=(const ProcStatusSampler&) = delete;

  void Stop();
  std::vector<Sample> samples() const;
  // The first error reading the file (e.g. the process is gone); OK if none.
  absl::Status error() const;

 private:
  void Loop();

  const pid_t pid_;
  const absl::Duration period_;
  const absl::Time start_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  bool stop_ = false;
  std::vector<Sample> samples_;
  absl::Status error_;
  std::thread thread_;
};

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_PROC_STATUS_SAMPLER_H_
