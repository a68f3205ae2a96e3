#ifndef BASIN_SERVER_PERSISTENCE_SESSION_STORE_H_
#define BASIN_SERVER_PERSISTENCE_SESSION_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/persistence/checkpoint_file.h"
#include "server/persistence/files.h"
#include "server/persistence/session_image.h"
#include "server/persistence/wal_format.h"

namespace basin {

// A data directory (docs/persistence.md):
//   LOCK                              held while a server uses the directory
//   sessions/<id>/owner               the tenant that owns it (so a damaged session is still its)
//   sessions/<id>/snapshot            the newest snapshot (SessionImage)
//   sessions/<id>/wal-<first seq>     logs of records after it (every_tick); normally one
//   checkpoints/<tenant>/<id>.ckpt    server-side checkpoints
class SessionStore {
 public:
  // Creates the directory if needed and locks it; FailedPrecondition if another server holds it.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(const std::string& directory);

  const std::string& directory() const { return directory_; }
  absl::StatusOr<std::vector<std::string>> SessionIds() const;

  // The first snapshot of a session also writes its owner file.
  absl::Status WriteSnapshot(const SessionImage& image) const;
  // The tenant in the owner file.
  absl::StatusOr<std::string> Owner(const std::string& id) const;
  // A session directory without a snapshot: a creation that died before it was acknowledged.
  bool Unfinished(const std::string& id) const;

  // A session as it is on disk: its snapshot and the log records after it, in order. A torn log
  // tail is cut off the file (it was never acknowledged); anything else damaged, or a snapshot of
  // another owner, is DataLoss.
  struct Loaded {
    SessionImage image;
    std::vector<WalRecord> records;
    uint64_t torn_bytes = 0;
  };
  absl::StatusOr<Loaded> Load(const std::string& id) const;

  // Starts a log whose first record will be `first_seq`.
  absl::StatusOr<std::unique_ptr<AppendOnlyFile>> StartLog(const std::string& id, uint64_t first_seq) const;
  // Removes the logs that hold only records ≤ `seq` (a durable snapshot covers them).
  absl::Status RemoveLogsThrough(const std::string& id, uint64_t seq) const;
  absl::Status Remove(const std::string& id) const;

  // Server-side checkpoints, per tenant. Ids are file names: the caller checks them.
  absl::Status WriteCheckpoint(const std::string& tenant, const StoredCheckpoint& checkpoint) const;
  // The header only (cheap: a few hundred bytes) or the whole checkpoint; NotFound if there is
  // none, DataLoss if it is damaged.
  absl::StatusOr<StoredCheckpoint> ReadCheckpoint(const std::string& tenant, const std::string& checkpoint_id,
                                                  bool header_only) const;
  absl::StatusOr<std::vector<std::string>> CheckpointIds(const std::string& tenant) const;
  bool HasCheckpoint(const std::string& tenant, const std::string& checkpoint_id) const;
  absl::Status RemoveCheckpoint(const std::string& tenant, const std::string& checkpoint_id) const;

 private:
  SessionStore(std::string directory, std::unique_ptr<DirectoryLock> lock)
      : directory_(std::move(directory)), lock_(std::move(lock)) {}
  std::string SessionDirectory(const std::string& id) const;
  std::string CheckpointDirectory(const std::string& tenant) const;
  std::string CheckpointPath(const std::string& tenant, const std::string& checkpoint_id) const;
  // The log files of a session with the first sequence number each starts at, oldest first.
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Logs(const std::string& id) const;

  std::string directory_;
  std::unique_ptr<DirectoryLock> lock_;
};

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_SESSION_STORE_H_
