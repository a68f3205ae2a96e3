#include "server/auth.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace basin {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 1024;
constexpr size_t kMaxTenantLength = 64;

// Looks at every byte of the longer string whatever the contents, so the time does not depend on
// where the first difference is.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  size_t difference = a.size() ^ b.size();
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<size_t>(x ^ y);
  }
  return difference == 0;
}

bool IsTenantName(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) return false;
  return std::all_of(tenant.begin(), tenant.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool IsTokenText(absl::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c <= '~'; });
}

}  // namespace

absl::StatusOr<TokenMap> TokenMap::Parse(absl::string_view text, absl::string_view source) {
  TokenMap map;
  std::set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto error = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(source, " line ", line_number, ": ", what));
    };
    if (fields.size() != 2) {
      return error(absl::StrCat("expected `tenant token`, found ", fields.size(), " fields"));
    }
    const absl::string_view tenant = fields[0], token = fields[1];
    if (!IsTenantName(tenant)) {
      return error(absl::StrCat("tenant '", absl::CEscape(tenant.substr(0, kMaxTenantLength + 1)),
                                "' must be 1-", kMaxTenantLength, " of [A-Za-z0-9_.-]"));
    }
    if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
      return error(absl::StrCat("the token of tenant '", tenant, "' is ", token.size(), " characters long; it must be ",
                                kMinTokenLength, "-", kMaxTokenLength, " (e.g. `openssl rand -hex 32`)"));
    }
    if (!IsTokenText(token)) {
      return error(absl::StrCat("the token of tenant '", tenant, "' holds a character outside printable ASCII"));
    }
    if (!seen.insert(std::string(token)).second) {
      return error(absl::StrCat("the token of tenant '", tenant,
                                "' appears on an earlier line too; each token stands for one tenant"));
    }
    map.entries_.push_back(Entry{std::string(token), std::string(tenant)});
  }
  if (map.entries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " holds no `tenant token` line; without tokens no call could be authenticated"));
  }
  return map;
}

const std::string* TokenMap::TenantOf(absl::string_view token) const {
  const std::string* tenant = nullptr;
  for (const Entry& entry : entries_) {
    if (ConstantTimeEquals(token, entry.token)) tenant = &entry.tenant;
  }
  return tenant;
}

absl::StatusOr<TokenMap> LoadTokens(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot read it: ", std::strerror(errno)));
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat(path, ": reading it failed: ", std::strerror(errno)));
  return TokenMap::Parse(text.str(), path);
}

absl::StatusOr<std::string> TenantOf(const TokenMap* tokens, const grpc::ServerContext& context) {
  if (tokens == nullptr) return std::string();
  const auto& metadata = context.client_metadata();
  const auto [begin, end] = metadata.equal_range("authorization");
  if (begin == end) {
    return absl::UnauthenticatedError("no bearer token: send metadata `authorization: Bearer <token>`");
  }
  if (std::next(begin) != end) {
    return absl::UnauthenticatedError("more than one `authorization` metadata entry; send one bearer token");
  }
  const absl::string_view value(begin->second.data(), begin->second.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError("the `authorization` metadata is not of the form `Bearer <token>`");
  }
  const std::string* tenant = tokens->TenantOf(absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size())));
  if (tenant == nullptr) return absl::UnauthenticatedError("the bearer token is not valid on this server");
  return *tenant;
}

}  // namespace basin
