#include "server/tls_credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace basin {
namespace {

struct OpenSslFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;

// One file of one flag, for error messages: "--tls_key /etc/basin/tls.key".
struct Named {
  const char* flag;
  const std::string& path;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", what));
  }
};

// The oldest error OpenSSL queued, and the queue emptied.
std::string OpenSslError() {
  char text[256] = "unknown error";
  const unsigned long error = ERR_peek_error();
  if (error != 0) ERR_error_string_n(error, text, sizeof(text));
  ERR_clear_error();
  return text;
}

absl::StatusOr<std::string> ReadFile(const Named& file) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in) return file.Error(absl::StrCat("cannot read it: ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BioPtr MemoryBio(const std::string& pem) { return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

// Every certificate in `pem`; none, or one OpenSSL cannot parse, is an error.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const Named& file, const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  // Reading stops with "no start line" at the end of the text; any other reason is a bad block.
  const unsigned long stop = ERR_peek_last_error();
  if (!(ERR_GET_LIB(stop) == ERR_LIB_PEM && ERR_GET_REASON(stop) == PEM_R_NO_START_LINE)) {
    return file.Error(absl::StrCat("certificate ", certs.size() + 1, " does not parse: ", OpenSslError()));
  }
  ERR_clear_error();
  if (certs.empty()) return file.Error("no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
  return certs;
}

// A passphrase callback that offers none: an encrypted key fails instead of prompting on a terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<KeyPtr> ParsePrivateKey(const Named& file, const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return file.Error(absl::StrCat("no unencrypted PEM private key in it (", OpenSslError(), ")"));
  }
  return key;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFrom(const TlsFiles& files) {
  if (files.cert.empty() && files.key.empty()) {
    if (!files.client_ca.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_client_ca ", files.client_ca, " needs --tls_cert and --tls_key: mutual TLS is TLS"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_cert and --tls_key go together; got only ",
                                                   files.cert.empty() ? "--tls_key " : "--tls_cert ",
                                                   files.cert.empty() ? files.key : files.cert));
  }
  const Named cert_file{"--tls_cert", files.cert}, key_file{"--tls_key", files.key};
  auto cert_pem = ReadFile(cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto chain = ParseCertificates(cert_file, *cert_pem);
  if (!chain.ok()) return chain.status();
  auto key_pem = ReadFile(key_file);
  if (!key_pem.ok()) return key_pem.status();
  auto key = ParsePrivateKey(key_file, *key_pem);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(chain->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return key_file.Error(absl::StrCat("not the private key of the first certificate in --tls_cert ", files.cert));
  }

  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  if (!files.client_ca.empty()) {
    const Named ca_file{"--tls_client_ca", files.client_ca};
    auto ca_pem = ReadFile(ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    auto cas = ParseCertificates(ca_file, *ca_pem);
    if (!cas.ok()) return cas.status();
    options.pem_root_certs = *ca_pem;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace basin
