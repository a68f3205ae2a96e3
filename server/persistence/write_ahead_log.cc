#include "server/persistence/write_ahead_log.h"

#include <chrono>

namespace basin {

absl::StatusOr<uint64_t> WriteAheadLog::Append(WalRecord record, absl::string_view values, int64_t tick_after) {
  std::lock_guard<std::mutex> lock(mu_);
  record.seq = next_seq_;
  const std::string prefix = EncodeWalRecordPrefix(record, values);
  absl::Status s = file_->Append({prefix, values});
  if (!s.ok()) return s;
  appended_tick_ = tick_after;
  return next_seq_++;
}

absl::Status WriteAheadLog::SyncLocked(std::unique_lock<std::mutex>& lock) {
  // Another thread's fdatasync may already be under way: wait for it, then see whether it
  // covered what we need.
  const uint64_t needed = next_seq_ - 1;
  while (syncing_) synced_.wait(lock);
  if (synced_seq_ >= needed) return absl::OkStatus();
  const uint64_t target = next_seq_ - 1;  // everything appended meanwhile rides along
  syncing_ = true;
  const int64_t tick = appended_tick_;
  std::shared_ptr<AppendOnlyFile> file = file_;
  lock.unlock();
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = file->DataSync();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  lock.lock();
  syncing_ = false;
  if (s.ok()) {
    synced_seq_ = std::max(synced_seq_, target);
    durable_tick_ = std::max(durable_tick_, tick);
  }
  synced_.notify_all();
  if (observe_sync_) observe_sync_(elapsed.count());
  return s;
}

absl::Status WriteAheadLog::SyncThrough(uint64_t seq) {
  std::unique_lock<std::mutex> lock(mu_);
  while (synced_seq_ < seq) {
    absl::Status s = SyncLocked(lock);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WriteAheadLog::SwitchTo(std::unique_ptr<AppendOnlyFile> next) {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Status s = SyncLocked(lock);
  if (!s.ok()) return s;
  std::string old = file_->path();
  file_ = std::move(next);
  file_first_seq_ = next_seq_;
  return old;
}

bool WriteAheadLog::file_has_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ > file_first_seq_;
}

uint64_t WriteAheadLog::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

uint64_t WriteAheadLog::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return file_->size();
}

int64_t WriteAheadLog::durable_tick() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_tick_;
}

}  // namespace basin
