#ifndef BASIN_SERVER_PERSISTENCE_WRITE_AHEAD_LOG_H_
#define BASIN_SERVER_PERSISTENCE_WRITE_AHEAD_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/persistence/files.h"
#include "server/persistence/wal_format.h"

namespace basin {

// One session's log of accepted changes, with group commit: records are appended in the
// session's order (under its lock) and made durable by SyncThrough outside it, where one
// fdatasync covers every record appended before it, whichever thread asked.
class WriteAheadLog {
 public:
  // `observe_sync` (may be empty) receives the seconds each fdatasync took.
  WriteAheadLog(std::unique_ptr<AppendOnlyFile> file, uint64_t next_seq, std::function<void(double)> observe_sync)
      : file_(std::move(file)),
        next_seq_(next_seq),
        file_first_seq_(next_seq),
        synced_seq_(next_seq - 1),
        observe_sync_(std::move(observe_sync)) {}

  // Appends a record with the next sequence number (which it returns); `tick_after` is the
  // session's tick once the record is applied, reported by durable_tick() when it is synced.
  absl::StatusOr<uint64_t> Append(WalRecord record, absl::string_view values, int64_t tick_after);
  // Returns once every record up to `seq` is on disk.
  absl::Status SyncThrough(uint64_t seq);
  // Syncs what was appended, then continues in `next` (a new file after a snapshot that covers
  // every record so far); returns the old file's path.
  absl::StatusOr<std::string> SwitchTo(std::unique_ptr<AppendOnlyFile> next);

  uint64_t last_seq() const;     // the newest record appended; next_seq − 1
  bool file_has_records() const; // whether the current file holds any record
  uint64_t bytes() const;        // of the current file
  int64_t durable_tick() const;  // the tick after the newest synced record; -1 before any

 private:
  // Syncs the current file up to what was appended; `lock` is held on entry and exit.
  absl::Status SyncLocked(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mu_;
  std::condition_variable synced_;
  std::shared_ptr<AppendOnlyFile> file_;
  uint64_t next_seq_;
  uint64_t file_first_seq_;
  uint64_t synced_seq_;         // records ≤ this are durable
  int64_t appended_tick_ = -1;  // tick_after of the newest record
  int64_t durable_tick_ = -1;
  bool syncing_ = false;
  std::function<void(double)> observe_sync_;
};

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_WRITE_AHEAD_LOG_H_
