#ifndef BASIN_BENCH_SOAK_CANCEL_SLOT_H_
#define BASIN_BENCH_SOAK_CANCEL_SLOT_H_

#include <mutex>

#include "client/cpp/basin_client.h"

namespace basin::soak {

// The Train stream a worker is using, where another thread can cancel it at any moment: while the
// worker waits for a query point, a quorum or an ack, or writes a gradient. The worker clears the
// slot before it destroys the stream, and asks whether a CANCELLED it sees was the soak's own.
class CancelSlot {
 public:
  void Set(client::TrainStream* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = stream;
    cancelled_ = false;
  }
  void Clear() { Set(nullptr); }
  // Cancels the stream in the slot, if any; returns whether there was one.
  bool Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr) return false;
    stream_->Cancel();
    cancelled_ = true;
    return true;
  }
  // Whether the stream in the slot was cancelled by the soak.
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  mutable std::mutex mu_;
  client::TrainStream* stream_ = nullptr;
  bool cancelled_ = false;
};

}  // namespace basin::soak

#endif  // BASIN_BENCH_SOAK_CANCEL_SLOT_H_
