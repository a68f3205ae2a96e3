#ifndef BASIN_SERVER_AUTH_H_
#define BASIN_SERVER_AUTH_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace basin {

// Bearer tokens and the tenants they stand for, from --auth_tokens_file (docs/security.md):
//
//   # comment
//   alice  3f0c8d0e6a1b4c2d9e7f5a3b1c0d2e4f
//   bob    9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
//
// One `tenant token` per line; blank lines and lines starting with '#' are skipped. A tenant may
// have several tokens (rotation); a token belongs to one tenant.
class TokenMap {
 public:
  // `source` names the text in error messages (the file's path). Errors name the line, never the
  // token: a tenant not 1–64 of [A-Za-z0-9_.-], a token shorter than 16 or with characters outside
  // printable ASCII, a line without exactly two fields, a token on two lines, no token at all.
  static absl::StatusOr<TokenMap> Parse(absl::string_view text, absl::string_view source);

  // The tenant `token` stands for, or nullptr. Every entry is compared in full whichever matches,
  // so the time taken says nothing about how close a guess came.
  const std::string* TenantOf(absl::string_view token) const;

  int size() const { return static_cast<int>(entries_.size()); }

 private:
  struct Entry {
    std::string token;
    std::string tenant;
  };
  std::vector<Entry> entries_;
};

// TokenMap::Parse of the file at `path`; an unreadable file is an error naming it.
absl::StatusOr<TokenMap> LoadTokens(const std::string& path);

// The caller's tenant. Without `tokens` (no --auth_tokens_file) every caller is the default tenant
// "". With them, the call's metadata must carry `authorization: Bearer <token>` of a known token:
// otherwise UNAUTHENTICATED (the message never repeats the token).
absl::StatusOr<std::string> TenantOf(const TokenMap* tokens, const grpc::ServerContext& context);

}  // namespace basin

#endif  // BASIN_SERVER_AUTH_H_
