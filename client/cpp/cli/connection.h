#ifndef BASIN_CLIENT_CPP_CLI_CONNECTION_H_
#define BASIN_CLIENT_CPP_CLI_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cpp/basin_client.h"

namespace basin::cli {

// How `basin` reaches the server: its connection flags.
struct ConnectionFlags {
  std::string target;
  absl::Duration timeout;
  std::string token;       // --token
  std::string token_file;  // --token_file: the token, surrounding whitespace ignored
  bool tls = false;        // --tls: TLS with the system's roots; implied by every --tls_* flag
  std::string tls_ca;      // --tls_ca: PEM CA(s) the server's certificate must chain to
  std::string tls_cert;    // --tls_cert / --tls_key: a client certificate for mutual TLS
  std::string tls_key;
  std::string tls_server_name;  // --tls_server_name: the name the server's certificate carries
};

// A client as the flags say. Contradicting flags (--token with --token_file, --tls_cert without
// --tls_key) are InvalidArgument; an unreadable or empty file is an error naming it.
absl::StatusOr<std::unique_ptr<client::Client>> ConnectWith(const ConnectionFlags& flags);

}  // namespace basin::cli

#endif  // BASIN_CLIENT_CPP_CLI_CONNECTION_H_
