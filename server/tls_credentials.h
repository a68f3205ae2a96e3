#ifndef BASIN_SERVER_TLS_CREDENTIALS_H_
#define BASIN_SERVER_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace basin {

// PEM files of basin-server's --tls_cert, --tls_key and --tls_client_ca (docs/security.md).
struct TlsFiles {
  std::string cert;       // the server's certificate chain, leaf first
  std::string key;        // its private key
  std::string client_ca;  // mutual TLS: the CA(s) client certificates must chain to
};

// Plaintext when no file is named; TLS with `cert` and `key`; mutual TLS, where a client without
// a certificate that verifies against `client_ca` (signature, validity period) is refused in the
// handshake, with `client_ca` as well. The files are read and parsed here, so a missing, unreadable
// or malformed file, a key that does not match the certificate, or a client CA without a
// certificate is an InvalidArgument naming the flag and the path, before the server listens.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFrom(const TlsFiles& files);

}  // namespace basin

#endif  // BASIN_SERVER_TLS_CREDENTIALS_H_
