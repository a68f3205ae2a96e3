#include "server/server_checkpoints.h"

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status_macros.h"
#include "server/session_checkpoint.h"

namespace basin {
namespace {

// Ids become file names: no separators, no leading dot, bounded.
absl::Status CheckCheckpointId(const std::string& id) {
  if (id.empty() || id.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint_id must be 1 to 64 characters, got ", id.size()));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(id[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint_id '", absl::CHexEscape(id), "' must start with a letter or a digit"));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint_id '", absl::CHexEscape(id), "' may hold only letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

std::string DescribeTenant(const std::string& tenant) {
  return tenant.empty() ? "the default tenant" : absl::StrCat("tenant '", tenant, "'");
}

}  // namespace

absl::StatusOr<StoredCheckpoint> ServerCheckpoints::Save(const std::string& tenant, const Session& session,
                                                         const std::string& checkpoint_id) {
  if (!checkpoint_id.empty()) BASIN_RETURN_IF_ERROR(CheckCheckpointId(checkpoint_id));
  const EncodedCheckpoint encoded = EncodeCheckpoint(session);
  StoredCheckpoint stored;
  stored.session_id = session.id();
  stored.optimizer = std::string(OptimizerName(session.spec().config));
  stored.tick = encoded.tick;
  stored.size = encoded.bytes.size();
  stored.checkpoint = encoded.bytes;

  std::lock_guard<std::mutex> lock(mu_);
  BASIN_ASSIGN_OR_RETURN(std::vector<std::string> held, store_->CheckpointIds(tenant));
  if (max_per_tenant_ > 0 && static_cast<int64_t>(held.size()) >= max_per_tenant_) {
    return absl::ResourceExhaustedError(absl::StrCat(DescribeTenant(tenant), " holds ", held.size(),
                                                     " checkpoints, its limit (--max_checkpoints_per_tenant ",
                                                     max_per_tenant_, "); delete one first"));
  }
  stored.checkpoint_id = checkpoint_id;
  if (stored.checkpoint_id.empty()) {
    do {
      stored.checkpoint_id = absl::StrFormat("ck-%012x", absl::Uniform<uint64_t>(id_bits_) & 0xffffffffffffULL);
    } while (store_->HasCheckpoint(tenant, stored.checkpoint_id));
  } else if (store_->HasCheckpoint(tenant, stored.checkpoint_id)) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint '", stored.checkpoint_id,
                                                 "' exists; delete it first or choose another id"));
  }
  BASIN_RETURN_IF_ERROR(store_->WriteCheckpoint(tenant, stored));
  stored.checkpoint.clear();
  return stored;
}

absl::StatusOr<std::vector<ServerCheckpoints::Listed>> ServerCheckpoints::List(const std::string& tenant) const {
  BASIN_ASSIGN_OR_RETURN(std::vector<std::string> ids, store_->CheckpointIds(tenant));
  std::vector<Listed> listed;
  listed.reserve(ids.size());
  for (std::string& id : ids) {
    auto header = store_->ReadCheckpoint(tenant, id, /*header_only=*/true);
    // Deleted between the listing and the read: not there any more.
    if (header.status().code() == absl::StatusCode::kNotFound) continue;
    listed.push_back(Listed{std::move(id), std::move(header)});
  }
  return listed;
}

absl::StatusOr<StoredCheckpoint> ServerCheckpoints::Load(const std::string& tenant,
                                                         const std::string& checkpoint_id) const {
  BASIN_RETURN_IF_ERROR(CheckCheckpointId(checkpoint_id));
  return store_->ReadCheckpoint(tenant, checkpoint_id, /*header_only=*/false);
}

absl::Status ServerCheckpoints::Delete(const std::string& tenant, const std::string& checkpoint_id) {
  BASIN_RETURN_IF_ERROR(CheckCheckpointId(checkpoint_id));
  std::lock_guard<std::mutex> lock(mu_);
  return store_->RemoveCheckpoint(tenant, checkpoint_id);
}

}  // namespace basin
