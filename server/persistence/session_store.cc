#include "server/persistence/session_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status_macros.h"

namespace basin {
namespace {

constexpr absl::string_view kLogPrefix = "wal-";
constexpr absl::string_view kCheckpointSuffix = ".ckpt";

absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& directory) {
  BASIN_RETURN_IF_ERROR(MakeDirectories(directory + "/sessions"));
  BASIN_RETURN_IF_ERROR(MakeDirectories(directory + "/checkpoints"));
  BASIN_ASSIGN_OR_RETURN(std::unique_ptr<DirectoryLock> lock, DirectoryLock::Acquire(directory));
  return std::unique_ptr<SessionStore>(new SessionStore(directory, std::move(lock)));
}

std::string SessionStore::SessionDirectory(const std::string& id) const {
  return absl::StrCat(directory_, "/sessions/", id);
}

absl::StatusOr<std::vector<std::string>> SessionStore::SessionIds() const {
  return ListDirectory(directory_ + "/sessions");
}

absl::Status SessionStore::WriteSnapshot(const SessionImage& image) const {
  const std::string dir = SessionDirectory(image.id);
  if (!PathExists(dir)) {
    BASIN_RETURN_IF_ERROR(MakeDirectories(dir));
    BASIN_RETURN_IF_ERROR(WriteFileAtomically(dir + "/owner", image.tenant));
  }
  return WriteFileAtomically(dir + "/snapshot", EncodeSnapshot(image));
}

absl::StatusOr<std::string> SessionStore::Owner(const std::string& id) const {
  return ReadFile(SessionDirectory(id) + "/owner");
}

bool SessionStore::Unfinished(const std::string& id) const { return !PathExists(SessionDirectory(id) + "/snapshot"); }

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> SessionStore::Logs(const std::string& id) const {
  BASIN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(SessionDirectory(id)));
  std::vector<std::pair<uint64_t, std::string>> logs;
  for (const std::string& name : names) {
    uint64_t first = 0;
    if (!absl::StartsWith(name, kLogPrefix) || !absl::SimpleAtoi(name.substr(kLogPrefix.size()), &first)) continue;
    logs.emplace_back(first, absl::StrCat(SessionDirectory(id), "/", name));
  }
  std::sort(logs.begin(), logs.end());
  return logs;
}

absl::StatusOr<SessionStore::Loaded> SessionStore::Load(const std::string& id) const {
  const std::string path = SessionDirectory(id) + "/snapshot";
  BASIN_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  Loaded loaded;
  auto image = DecodeSnapshot(bytes);
  BASIN_RETURN_IF_ERROR(Prefixed(absl::StrCat(path, ": "), image.status()));
  loaded.image = *std::move(image);
  if (loaded.image.id != id) {
    return absl::DataLossError(absl::StrCat(path, ": holds session '", absl::CHexEscape(loaded.image.id),
                                            "', not '", id, "'"));
  }
  auto owner = Owner(id);
  if (!owner.ok()) return absl::DataLossError(absl::StrCat("the owner file: ", owner.status().message()));
  if (loaded.image.tenant != *owner) {
    return absl::DataLossError(absl::StrCat(path, ": belongs to tenant '", absl::CHexEscape(loaded.image.tenant),
                                            "' but the owner file names '", absl::CHexEscape(*owner), "'"));
  }
  BASIN_ASSIGN_OR_RETURN(auto logs, Logs(id));
  uint64_t expected = loaded.image.last_seq + 1;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const auto& [first, log_path] = logs[i];
    BASIN_ASSIGN_OR_RETURN(std::string log_bytes, ReadFile(log_path));
    auto contents = ParseWal(log_bytes);
    const bool header_cut_short = log_bytes.size() < EncodeWalHeader(id, first).size() ||
                                  log_bytes.find_first_not_of('\0') == std::string::npos;
    if (!contents.ok() && i + 1 == logs.size() && header_cut_short) {
      // The newest log, cut short before its header was whole: it holds no record.
      BASIN_RETURN_IF_ERROR(RemovePath(log_path));
      continue;
    }
    BASIN_RETURN_IF_ERROR(Prefixed(absl::StrCat(log_path, ": "), contents.status()));
    if (contents->session_id != id || contents->first_seq != first) {
      return absl::DataLossError(absl::StrCat(log_path, ": header names session '",
                                              absl::CHexEscape(contents->session_id), "' from record ",
                                              contents->first_seq));
    }
    if (contents->torn_bytes > 0) {
      if (i + 1 != logs.size()) {
        return absl::DataLossError(absl::StrCat(log_path, ": a torn record inside an older log"));
      }
      // Cut the torn tail so the next append does not land behind it.
      BASIN_RETURN_IF_ERROR(AppendOnlyFile::OpenAt(log_path, contents->valid_bytes).status());
      loaded.torn_bytes = contents->torn_bytes;
    }
    for (WalRecord& record : contents->records) {
      if (record.seq < expected) continue;  // the snapshot already includes it
      if (record.seq != expected) {
        return absl::DataLossError(absl::StrCat(log_path, ": record ", record.seq, " follows record ", expected - 1,
                                                ": records are missing"));
      }
      ++expected;
      loaded.records.push_back(std::move(record));
    }
  }
  return loaded;
}

absl::StatusOr<std::unique_ptr<AppendOnlyFile>> SessionStore::StartLog(const std::string& id,
                                                                        uint64_t first_seq) const {
  const std::string path = absl::StrFormat("%s/%s%020d", SessionDirectory(id), kLogPrefix, first_seq);
  if (PathExists(path)) BASIN_RETURN_IF_ERROR(RemovePath(path));  // an empty leftover of a crash
  return AppendOnlyFile::Create(path, EncodeWalHeader(id, first_seq));
}

absl::Status SessionStore::RemoveLogsThrough(const std::string& id, uint64_t seq) const {
  BASIN_ASSIGN_OR_RETURN(auto logs, Logs(id));
  // A log's records end where the next log starts.
  for (std::size_t i = 0; i + 1 < logs.size(); ++i) {
    if (logs[i + 1].first <= seq + 1) BASIN_RETURN_IF_ERROR(RemovePath(logs[i].second));
  }
  return absl::OkStatus();
}

absl::Status SessionStore::Remove(const std::string& id) const { return RemovePath(SessionDirectory(id)); }

std::string SessionStore::CheckpointDirectory(const std::string& tenant) const {
  // Hex, so any tenant name is a safe directory name.
  return absl::StrCat(directory_, "/checkpoints/t", absl::BytesToHexString(tenant));
}

std::string SessionStore::CheckpointPath(const std::string& tenant, const std::string& checkpoint_id) const {
  return absl::StrCat(CheckpointDirectory(tenant), "/", checkpoint_id, kCheckpointSuffix);
}

absl::Status SessionStore::WriteCheckpoint(const std::string& tenant, const StoredCheckpoint& checkpoint) const {
  const std::string dir = CheckpointDirectory(tenant);
  if (!PathExists(dir)) BASIN_RETURN_IF_ERROR(MakeDirectories(dir));
  return WriteFileAtomically(CheckpointPath(tenant, checkpoint.checkpoint_id), EncodeCheckpointFile(checkpoint));
}

absl::StatusOr<StoredCheckpoint> SessionStore::ReadCheckpoint(const std::string& tenant,
                                                              const std::string& checkpoint_id,
                                                              bool header_only) const {
  const std::string path = CheckpointPath(tenant, checkpoint_id);
  if (!PathExists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint '", checkpoint_id, "'"));
  BASIN_ASSIGN_OR_RETURN(std::string bytes, header_only ? ReadFile(path, kCheckpointHeaderMaxBytes) : ReadFile(path));
  auto checkpoint = header_only ? DecodeCheckpointHeader(bytes) : DecodeCheckpointFile(bytes);
  BASIN_RETURN_IF_ERROR(Prefixed(absl::StrCat("checkpoint '", checkpoint_id, "' (", path, "): "), checkpoint.status()));
  if (checkpoint->checkpoint_id != checkpoint_id) {
    return absl::DataLossError(absl::StrCat("checkpoint file ", path, " names checkpoint '",
                                            absl::CHexEscape(checkpoint->checkpoint_id), "'"));
  }
  return checkpoint;
}

absl::StatusOr<std::vector<std::string>> SessionStore::CheckpointIds(const std::string& tenant) const {
  const std::string dir = CheckpointDirectory(tenant);
  if (!PathExists(dir)) return std::vector<std::string>();
  BASIN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  std::vector<std::string> ids;
  for (const std::string& name : names) {
    if (absl::EndsWith(name, kCheckpointSuffix)) ids.push_back(name.substr(0, name.size() - kCheckpointSuffix.size()));
  }
  return ids;
}

bool SessionStore::HasCheckpoint(const std::string& tenant, const std::string& checkpoint_id) const {
  return PathExists(CheckpointPath(tenant, checkpoint_id));
}

absl::Status SessionStore::RemoveCheckpoint(const std::string& tenant, const std::string& checkpoint_id) const {
  const std::string path = CheckpointPath(tenant, checkpoint_id);
  if (!PathExists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint '", checkpoint_id, "'"));
  BASIN_RETURN_IF_ERROR(RemovePath(path));
  return SyncDirectory(CheckpointDirectory(tenant));
}

}  // namespace basin
