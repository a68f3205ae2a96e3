#include "core/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/ThreadPool>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"

namespace basin {
namespace {

struct KernelPool {
  absl::Mutex mu;
  int threads ABSL_GUARDED_BY(mu) = 1;
  // Workers besides the caller; replaced (never destroyed while in use: a pass holds a reference)
  // when the thread count changes.
  std::shared_ptr<Eigen::ThreadPool> workers ABSL_GUARDED_BY(mu);
};

KernelPool& Pool() {
  static auto* pool = new KernelPool;  // never destroyed: passes may run during static destruction
  return *pool;
}

}  // namespace

void SetKernelThreads(int threads) {
  threads = std::max(1, threads);
  KernelPool& pool = Pool();
  absl::MutexLock lock(&pool.mu);
  if (threads == pool.threads) return;
  pool.threads = threads;
  pool.workers = threads > 1 ? std::make_shared<Eigen::ThreadPool>(threads - 1) : nullptr;
}

int KernelThreads() {
  KernelPool& pool = Pool();
  absl::MutexLock lock(&pool.mu);
  return pool.threads;
}

void ParallelFor(int64_t n, int64_t alignment, absl::FunctionRef<void(int64_t, int64_t)> body) {
  if (n <= 0) return;
  alignment = std::max<int64_t>(1, alignment);
  std::shared_ptr<Eigen::ThreadPool> workers;
  int threads = 1;
  if (n >= 2 * kMinElementsPerThread) {
    KernelPool& pool = Pool();
    absl::MutexLock lock(&pool.mu);
    threads = static_cast<int>(std::min<int64_t>(pool.threads, n / kMinElementsPerThread));
    workers = pool.workers;
  }
  if (threads <= 1 || workers == nullptr) {
    body(0, n);
    return;
  }
  // Equal pieces rounded up to the alignment; the last piece takes what is left.
  const int64_t units = (n + alignment - 1) / alignment;
  const int64_t units_per_piece = (units + threads - 1) / threads;
  const int64_t piece = units_per_piece * alignment;
  const int pieces = static_cast<int>((n + piece - 1) / piece);
  absl::BlockingCounter done(pieces - 1);
  for (int p = 1; p < pieces; ++p) {
    const int64_t begin = p * piece;
    const int64_t end = std::min(n, begin + piece);
    workers->Schedule([&body, &done, begin, end] {
      body(begin, end);
      done.DecrementCount();
    });
  }
  body(0, std::min(n, piece));
  done.Wait();
}

}  // namespace basin
