#include "client/cpp/cli/connection.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/status_macros.h"

namespace basin::cli {
namespace {

absl::StatusOr<std::string> BearerToken(const ConnectionFlags& flags) {
  if (flags.token_file.empty()) return flags.token;
  if (!flags.token.empty()) return absl::InvalidArgumentError("--token and --token_file exclude each other");
  std::ifstream file(flags.token_file, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("--token_file ", flags.token_file, ": cannot read it: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << file.rdbuf();
  const std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("--token_file ", flags.token_file, " is empty"));
  return token;
}

}  // namespace

absl::StatusOr<std::unique_ptr<client::Client>> ConnectWith(const ConnectionFlags& flags) {
  client::CallOptions call;
  call.timeout = flags.timeout;
  BASIN_ASSIGN_OR_RETURN(call.bearer_token, BearerToken(flags));
  const bool tls = flags.tls || !flags.tls_ca.empty() || !flags.tls_cert.empty() || !flags.tls_key.empty() ||
                   !flags.tls_server_name.empty();
  if (!tls) return client::Client::Connect(flags.target, std::move(call));
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  BASIN_ASSIGN_OR_RETURN(client::TlsOptions options,
                         client::TlsOptionsFromFiles(flags.tls_ca, flags.tls_cert, flags.tls_key));
  options.target_name_override = flags.tls_server_name;
  return client::Client::Connect(flags.target, options, std::move(call));
}

}  // namespace basin::cli
