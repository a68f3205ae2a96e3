#ifndef BASIN_SERVER_SERVER_CHECKPOINTS_H_
#define BASIN_SERVER_SERVER_CHECKPOINTS_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/persistence/session_store.h"
#include "server/session.h"

namespace basin {

// Checkpoints kept in the data directory (the Checkpoint, ListCheckpoints and DeleteCheckpoint
// RPCs and CreateSessionRequest.from_checkpoint), each tenant's apart from the others'.
class ServerCheckpoints {
 public:
  // `max_per_tenant` bounds how many one tenant keeps (0: no bound).
  ServerCheckpoints(SessionStore* store, int64_t max_per_tenant) : store_(store), max_per_tenant_(max_per_tenant) {}

  // Stores `session`'s checkpoint (ExportSession's bytes, taken under its lock) as
  // `checkpoint_id`; an empty id is chosen by the server. InvalidArgument for an id that is not
  // 1–64 of [A-Za-z0-9_.-] starting with a letter or digit, AlreadyExists for one in use,
  // ResourceExhausted over the tenant's bound. Returns the header (no checkpoint bytes).
  absl::StatusOr<StoredCheckpoint> Save(const std::string& tenant, const Session& session,
                                        const std::string& checkpoint_id);
  // The tenant's checkpoints, ordered by id: each one's header, or why it cannot be read (a
  // damaged file is listed, so that it can be seen and deleted, not hidden).
  struct Listed {
    std::string checkpoint_id;
    absl::StatusOr<StoredCheckpoint> header;
  };
  absl::StatusOr<std::vector<Listed>> List(const std::string& tenant) const;
  absl::StatusOr<StoredCheckpoint> Load(const std::string& tenant, const std::string& checkpoint_id) const;
  absl::Status Delete(const std::string& tenant, const std::string& checkpoint_id);

 private:
  SessionStore* const store_;
  const int64_t max_per_tenant_;
  // Save and Delete: an id is taken once, and a tenant's count stays within its bound.
  std::mutex mu_;
  absl::BitGen id_bits_;  // under mu_
};

}  // namespace basin

#endif  // BASIN_SERVER_SERVER_CHECKPOINTS_H_
