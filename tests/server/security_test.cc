// TLS, mutual TLS, bearer tokens and tenants over real loopback TCP (docs/security.md), with
// certificates made for this run by tests/testing/make_test_certs.py: who gets in, who is kept
// out and with which status, what one tenant can do to another's sessions (nothing), what probes
// reach without a token, the per-tenant quotas, and the start-up errors of bad files.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cpp/basin_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/basin_server.h"
#include "tests/testing/http_get.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_certs.h"

namespace basin {
namespace {

using ::basin::testing::RunSubprocess;
using ::basin::testing::SubprocessResult;
using ::basin::testing::TestCerts;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-token-4f1c2b9e8d7a6c5b";
constexpr char kAliceRotatedToken[] = "alice-rotated-0a1b2c3d4e5f";
constexpr char kBobToken[] = "bob-token-9e8d7c6b5a4f3e2d";
constexpr char kWrongToken[] = "alice-token-4f1c2b9e8d7a6c5c";  // one character off
constexpr char kTokens[] =
    "# tenants of security_test\n"
    "alice  alice-token-4f1c2b9e8d7a6c5b\n"
    "\n"
    "bob\tbob-token-9e8d7c6b5a4f3e2d\n"
    "# rotation: a second token of alice\n"
    "alice  alice-rotated-0a1b2c3d4e5f\n";

constexpr char kSpec[] = R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sgd { lr: 0.1 } } })pb";

v1::CreateSessionRequest Request(const std::string& text = kSpec) {
  v1::CreateSessionRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
  return request;
}

std::string Bearer(const std::string& token) { return absl::StrCat("Bearer ", token); }

// The status of one call of every basin.v1.Optimizer method, made with `authorization` as the
// value of the `authorization` metadata ("" sends none); the methods that name a session name
// `session_id`.
std::map<std::string, grpc::Status> CallEveryMethod(v1::Optimizer::Stub& stub, const std::string& authorization,
                                                    const std::string& session_id) {
  auto context = [&] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!authorization.empty()) c->AddMetadata("authorization", authorization);
    return c;
  };
  std::map<std::string, grpc::Status> status;
  {
    v1::Session response;
    status["CreateSession"] = stub.CreateSession(context().get(), Request(), &response);
  }
  {
    v1::GetSessionRequest request;
    request.set_session_id(session_id);
    v1::Session response;
    status["GetSession"] = stub.GetSession(context().get(), request, &response);
  }
  {
    v1::ListSessionsResponse response;
    status["ListSessions"] = stub.ListSessions(context().get(), v1::ListSessionsRequest(), &response);
  }
  {
    v1::GetSessionStatsRequest request;
    request.set_session_id(session_id);
    v1::SessionStats response;
    status["GetSessionStats"] = stub.GetSessionStats(context().get(), request, &response);
  }
  {
    v1::ListSamplesRequest request;
    request.set_session_id(session_id);
    v1::ListSamplesResponse response;
    status["ListSamples"] = stub.ListSamples(context().get(), request, &response);
  }
  {
    auto c = context();
    auto stream = stub.Train(c.get());
    v1::TrainRequest attach;
    attach.mutable_attach()->set_session_id(session_id);
    stream->Write(attach);
    stream->WritesDone();
    v1::TrainResponse response;
    while (stream->Read(&response)) {
    }
    status["Train"] = stream->Finish();
  }
  {
    auto c = context();
    v1::PutParametersResponse response;
    auto writer = stub.PutParameters(c.get(), &response);
    v1::PutParametersRequest target;
    target.mutable_target()->set_session_id(session_id);
    target.mutable_target()->set_which(v1::PARAMETER_SET_MODEL);
    writer->Write(target);
    v1::PutParametersRequest chunk;
    chunk.mutable_chunk()->set_tensor("x");
    chunk.mutable_chunk()->set_dtype(v1::DTYPE_F32);
    chunk.mutable_chunk()->set_data(std::string(16, '\0'));
    writer->Write(chunk);
    writer->WritesDone();
    status["PutParameters"] = writer->Finish();
  }
  {
    v1::GetParametersRequest request;
    request.set_session_id(session_id);
    auto c = context();
    auto reader = stub.GetParameters(c.get(), request);
    v1::GetParametersResponse response;
    while (reader->Read(&response)) {
    }
    status["GetParameters"] = reader->Finish();
  }
  {
    v1::RunObjectiveRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
        R"pb(objective { kind: "quadratic" dimension: 4 } ticks: 3)pb", &request));
    request.set_session_id(session_id);
    auto c = context();
    auto reader = stub.RunObjective(c.get(), request);
    v1::RunObjectiveProgress progress;
    while (reader->Read(&progress)) {
    }
    status["RunObjective"] = reader->Finish();
  }
  {
    v1::ExportSessionRequest request;
    request.set_session_id(session_id);
    auto c = context();
    auto reader = stub.ExportSession(c.get(), request);
    v1::CheckpointChunk chunk;
    while (reader->Read(&chunk)) {
    }
    status["ExportSession"] = reader->Finish();
  }
  {
    auto c = context();
    v1::Session response;
    auto writer = stub.ImportSession(c.get(), &response);
    v1::ImportSessionRequest data;
    data.set_data("not a checkpoint");
    writer->Write(data);
    writer->WritesDone();
    status["ImportSession"] = writer->Finish();
  }
  {
    v1::DeleteSessionRequest request;
    request.set_session_id(session_id);
    v1::DeleteSessionResponse response;
    status["DeleteSession"] = stub.DeleteSession(context().get(), request, &response);
  }
  return status;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto made = TestCerts::Make();
    ASSERT_TRUE(made.ok()) << made.status();
    certs_ = made->release();
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(certs_, nullptr) << "no test certificates"; }

  // basin-server on an ephemeral loopback port with `options`.
  void Start(ServerOptions options) {
    options.listen = "127.0.0.1:0";
    auto server = BasinServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // The server's certificate and key; mutual TLS with the CA file `client_ca` ("" for none).
  static TlsFiles ServerTls(const std::string& client_ca = "") {
    return TlsFiles{certs_->Path("server.pem"), certs_->Path("server.key"), client_ca};
  }
  static std::string TokensFile() { return certs_->Write("tokens", kTokens); }

  static client::CallOptions WithToken(const std::string& token) {
    client::CallOptions options;
    options.timeout = absl::Seconds(10);
    options.bearer_token = token;
    return options;
  }

  // A TLS client of the server trusting ca.pem; `pair` names a client certificate and key
  // ("client", "expired_client", "other_client") for mutual TLS, "" for none.
  std::unique_ptr<client::Client> TlsClient(const std::string& pair = "", const std::string& token = "",
                                            const std::string& target_name = "") {
    client::TlsOptions tls;
    tls.root_certs = certs_->Read("ca.pem");
    if (!pair.empty()) {
      tls.client_cert_chain = certs_->Read(pair + ".pem");
      tls.client_key = certs_->Read(pair + ".key");
    }
    tls.target_name_override = target_name;
    auto connected = client::Client::Connect(server_->address(), tls, WithToken(token));
    EXPECT_TRUE(connected.ok()) << connected.status();
    return connected.ok() ? *std::move(connected) : nullptr;
  }
  std::unique_ptr<client::Client> PlainClient(const std::string& token = "") {
    return client::Client::Connect(server_->address(), WithToken(token));
  }

  static inline TestCerts* certs_ = nullptr;
  std::unique_ptr<BasinServer> server_;
};

// --- TLS -----------------------------------------------------------------------------------------

TEST_F(SecurityTest, TlsServesTlsClientsAndRefusesPlaintextOnes) {
  ServerOptions options;
  options.tls = ServerTls();
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto tls = TlsClient();
  ASSERT_TRUE(tls->CreateSession(Request()).ok());
  EXPECT_EQ(*tls->Health(), "SERVING");

  // Plaintext to a TLS port: the handshake never happens.
  const absl::Status plain = PlainClient()->CreateSession(Request()).status();
  EXPECT_EQ(plain.code(), absl::StatusCode::kUnavailable) << plain;
  // TLS that does not trust the server's CA (the system's roots only).
  auto untrusting = client::Client::Connect(server_->address(), client::TlsOptions{}, WithToken(""));
  ASSERT_TRUE(untrusting.ok());
  EXPECT_EQ((*untrusting)->CreateSession(Request()).status().code(), absl::StatusCode::kUnavailable);
  // The name checked against the certificate: one it carries, and one it does not.
  EXPECT_EQ(*TlsClient("", "", "basin.test")->Health(), "SERVING");
  EXPECT_EQ(TlsClient("", "", "other.example")->Health().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
}

TEST_F(SecurityTest, ATlsClientCannotTalkToAPlaintextServer) {
  ASSERT_NO_FATAL_FAILURE(Start(ServerOptions{}));
  EXPECT_TRUE(PlainClient()->Health().ok());
  EXPECT_EQ(TlsClient()->Health().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SecurityTest, MutualTlsAdmitsOnlyValidCertificatesOfTheClientCa) {
  ServerOptions options;
  options.tls = ServerTls(certs_->Path("ca.pem"));
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto good = TlsClient("client");
  ASSERT_TRUE(good->CreateSession(Request()).ok());
  EXPECT_EQ(*good->Health(), "SERVING");
  for (const std::string pair : {"", "other_client", "expired_client"}) {
    auto refused = TlsClient(pair);
    const absl::Status s = refused->CreateSession(Request()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << "client certificate '" << pair << "': " << s;
    // The whole port is behind the handshake, health included.
    EXPECT_EQ(refused->Health().status().code(), absl::StatusCode::kUnavailable) << pair;
  }
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
  // The good certificate still works after the refusals.
  EXPECT_EQ(good->ListSessions()->size(), 1u);
}

TEST_F(SecurityTest, TlsFlagsThatDoNotGoTogetherOrBadFilesAreStartUpErrorsNamingTheFile) {
  const std::string cert = certs_->Path("server.pem"), key = certs_->Path("server.key");
  const std::string garbage = certs_->Write("garbage.pem", "this is not PEM\n");
  const std::string server_pem = certs_->Read("server.pem");
  const std::string truncated = certs_->Write("truncated.pem", server_pem.substr(0, server_pem.size() / 2));
  const std::string missing = certs_->Path("missing.pem");
  struct Case {
    TlsFiles files;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{cert, "", ""}, "--tls_cert and --tls_key go together; got only --tls_cert " + cert},
      {{"", key, ""}, "--tls_cert and --tls_key go together; got only --tls_key " + key},
      {{"", "", cert}, "--tls_client_ca " + cert + " needs --tls_cert and --tls_key"},
      {{missing, key, ""}, "--tls_cert " + missing + ": cannot read it: No such file or directory"},
      {{cert, missing, ""}, "--tls_key " + missing + ": cannot read it"},
      {{garbage, key, ""}, "--tls_cert " + garbage + ": no PEM certificate in it"},
      {{truncated, key, ""}, "--tls_cert " + truncated + ": certificate 1 does not parse"},
      {{cert, cert, ""}, "--tls_key " + cert + ": no unencrypted PEM private key in it"},
      {{cert, certs_->Path("client.key"), ""},
       "--tls_key " + certs_->Path("client.key") + ": not the private key of the first certificate in --tls_cert " +
           cert},
      {{cert, key, garbage}, "--tls_client_ca " + garbage + ": no PEM certificate in it"},
      {{cert, key, missing}, "--tls_client_ca " + missing + ": cannot read it"},
  };
  for (const Case& c : cases) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls = c.files;
    auto server = BasinServer::Start(options);
    ASSERT_FALSE(server.ok()) << c.message;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << server.status();
    EXPECT_THAT(std::string(server.status().message()), HasSubstr(c.message));
  }
}

// --- Tokens --------------------------------------------------------------------------------------

TEST_F(SecurityTest, EveryOptimizerMethodNeedsAKnownBearerToken) {
  ServerOptions options;
  options.auth_tokens_file = TokensFile();
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto alice = PlainClient(kAliceToken);
  auto session = alice->CreateSession(Request());
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->session_id();

  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Optimizer::NewStub(channel);
  struct Case {
    std::string authorization;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "no bearer token: send metadata `authorization: Bearer <token>`"},
      {Bearer(kWrongToken), "the bearer token is not valid on this server"},
      {Bearer(""), "is not of the form `Bearer <token>`"},
      {absl::StrCat("Basic ", kAliceToken), "is not of the form `Bearer <token>`"},
  };
  for (const Case& c : cases) {
    const auto status = CallEveryMethod(*stub, c.authorization, id);
    EXPECT_EQ(status.size(), 12u);
    for (const auto& [method, s] : status) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method << " with '" << c.authorization << "'";
      EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << method;
      EXPECT_THAT(s.error_message(), Not(HasSubstr(kWrongToken))) << method;  // never echoed
    }
  }
  // Nothing the refused calls asked for happened.
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
  auto unchanged = alice->GetSession(id);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->tick(), 0);

  // The right token, either of alice's, and the scheme in any case (RFC 6750).
  EXPECT_TRUE(PlainClient(kAliceRotatedToken)->GetSession(id).ok());
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("bearer ", kAliceToken));
  v1::GetSessionRequest request;
  request.set_session_id(id);
  v1::Session response;
  EXPECT_TRUE(stub->GetSession(&context, request, &response).ok());
  EXPECT_EQ(response.session_id(), id);
}

TEST_F(SecurityTest, HealthReflectionAndMetricsNeedNoToken) {
  ServerOptions options;
  options.auth_tokens_file = TokensFile();
  options.metrics_listen = "127.0.0.1:0";
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto anonymous = PlainClient();
  EXPECT_EQ(anonymous->ListSessions().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(*anonymous->Health(), "SERVING");
  EXPECT_EQ(*anonymous->Health("basin.v1.Optimizer"), "SERVING");

  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.push_back(s.name());
  EXPECT_THAT(services, ::testing::Contains("basin.v1.Optimizer"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  const std::string metrics = ::basin::testing::HttpGet(server_->metrics_address(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("200 OK"));
  EXPECT_THAT(metrics, HasSubstr("grpc_server_handled_total{grpc_code=\"Unauthenticated\",grpc_method=\"ListSessions\""));
}

TEST_F(SecurityTest, BadTokenFilesAreStartUpErrorsNamingFileAndLine) {
  struct Case {
    std::string contents;
    std::string message;  // after "--auth_tokens_file PATH"
  };
  const std::vector<Case> cases = {
      {"", " holds no `tenant token` line"},
      {"# only a comment\n\n", " holds no `tenant token` line"},
      {"alice alice-token-0123456789\nbob alice-token-0123456789\n",
       " line 2: the token of tenant 'bob' appears on an earlier line too"},
      {"alice alice-token-0123456789\nalice alice-token-0123456789\n",
       " line 2: the token of tenant 'alice' appears on an earlier line too"},
      {"# tenants\nal!ce alice-token-0123456789\n", " line 2: tenant 'al!ce' must be 1-64 of [A-Za-z0-9_.-]"},
      {"alice\n", " line 1: expected `tenant token`, found 1 fields"},
      {"alice alice-token-0123456789 extra\n", " line 1: expected `tenant token`, found 3 fields"},
      {"alice short-token\n", " line 1: the token of tenant 'alice' is 11 characters long; it must be 16-1024"},
      {"alice alice-token-\x01-0123456789\n", " line 1: the token of tenant 'alice' holds a character outside"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string path = certs_->Write(absl::StrCat("tokens-", n++), c.contents);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.auth_tokens_file = path;
    auto server = BasinServer::Start(options);
    ASSERT_FALSE(server.ok()) << c.contents;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << server.status();
    EXPECT_THAT(std::string(server.status().message()), HasSubstr(absl::StrCat("--auth_tokens_file ", path, c.message)));
    // A token never appears in a message, also not a rejected one.
    EXPECT_THAT(std::string(server.status().message()), Not(HasSubstr("token-0123456789")));
    EXPECT_THAT(std::string(server.status().message()), Not(HasSubstr("short-token")));
  }
  ServerOptions missing;
  missing.auth_tokens_file = certs_->Path("no-such-tokens");
  auto server = BasinServer::Start(missing);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr(absl::StrCat("--auth_tokens_file ", missing.auth_tokens_file, ": cannot read it")));
}

TEST_F(SecurityTest, TheServerBinaryExitsWithTheStartUpError) {
  const std::string tokens = certs_->Write("duplicate-tokens", "alice alice-token-0123456789\nbob alice-token-0123456789\n");
  const SubprocessResult bad_tokens = RunSubprocess(
      absl::StrCat(BASIN_SERVER_PATH, " --listen=127.0.0.1:0 --metrics_listen=none --data_dir=none --auth_tokens_file=", tokens));
  EXPECT_EQ(bad_tokens.exit_code, 1);
  EXPECT_THAT(bad_tokens.err, HasSubstr(absl::StrCat("--auth_tokens_file ", tokens, " line 2")));
  EXPECT_THAT(bad_tokens.out, Not(HasSubstr("listening")));
  const SubprocessResult half_tls = RunSubprocess(absl::StrCat(
      BASIN_SERVER_PATH, " --listen=127.0.0.1:0 --metrics_listen=none --data_dir=none --tls-cert=", certs_->Path("server.pem")));
  EXPECT_EQ(half_tls.exit_code, 1);
  EXPECT_THAT(half_tls.err, HasSubstr("--tls_cert and --tls_key go together"));
}

// --- Tenants -------------------------------------------------------------------------------------

TEST_F(SecurityTest, ATenantCannotSeeOrTouchAnotherTenantsSessions) {
  ServerOptions options;
  options.tls = ServerTls();
  options.auth_tokens_file = TokensFile();
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto alice = TlsClient("", kAliceToken);
  auto bob = TlsClient("", kBobToken);
  v1::CreateSessionRequest request = Request();
  request.set_request_id("job-1");
  auto created = alice->CreateSession(request);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->session_id();
  {
    auto stream = alice->Train(id);
    ASSERT_TRUE(stream.ok()) << stream.status();
    for (int k = 0; k < 3; ++k) {
      auto q = (*stream)->NextQuery();
      ASSERT_TRUE(q.ok()) << q.status();
      ASSERT_TRUE((*stream)->Tell(q->tick, std::vector<float>{1, 2, 3, 4}, 1.0).ok());
    }
    ASSERT_TRUE((*stream)->Close().ok());
  }
  const std::vector<float> model = *alice->GetParameters(id, v1::PARAMETER_SET_MODEL);
  const std::string checkpoint = *alice->ExportSession(id);
  // Bob's request id is his own: the same one makes him a session of his.
  auto bobs = bob->CreateSession(request);
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_NE(bobs->session_id(), id);

  grpc::SslCredentialsOptions trust_ca;
  trust_ca.pem_root_certs = certs_->Read("ca.pem");
  auto channel = grpc::CreateChannel(server_->address(), grpc::SslCredentials(trust_ca));
  auto stub = v1::Optimizer::NewStub(channel);
  const auto as_bob = CallEveryMethod(*stub, Bearer(kBobToken), id);
  const auto unknown = CallEveryMethod(*stub, Bearer(kBobToken), "s-000000000000-0000");
  for (const std::string method : {"GetSession", "GetSessionStats", "ListSamples", "Train", "PutParameters",
                                   "GetParameters", "RunObjective", "ExportSession", "DeleteSession"}) {
    const grpc::Status& s = as_bob.at(method);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << method << ": " << s.error_message();
    // Word for word what an unknown id gets: nothing tells bob the session exists.
    EXPECT_EQ(s.error_message(), absl::StrCat("no session '", id, "'")) << method;
    EXPECT_EQ(unknown.at(method).error_message(), "no session 's-000000000000-0000'") << method;
  }
  // Bob's own calls went through: his list holds his sessions only (three: each CallEveryMethod
  // created one; its import was refused as not a checkpoint).
  EXPECT_TRUE(as_bob.at("CreateSession").ok());
  EXPECT_EQ(as_bob.at("ImportSession").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto bob_sees = bob->ListSessions();
  ASSERT_TRUE(bob_sees.ok());
  EXPECT_EQ(bob_sees->size(), 3u);
  for (const v1::Session& s : *bob_sees) EXPECT_NE(s.session_id(), id);

  // Alice's session is as she left it.
  auto alice_sees = alice->ListSessions();
  ASSERT_TRUE(alice_sees.ok());
  ASSERT_EQ(alice_sees->size(), 1u);
  EXPECT_EQ((*alice_sees)[0].session_id(), id);
  EXPECT_EQ((*alice_sees)[0].tick(), 3);
  EXPECT_EQ(*alice->GetParameters(id, v1::PARAMETER_SET_MODEL), model);
  EXPECT_EQ(*alice->ExportSession(id), checkpoint);
  EXPECT_EQ((*alice->GetStats(id)).tick(), 3);
  // A checkpoint alice hands to bob becomes bob's own session, not access to hers.
  auto imported = bob->ImportSession(checkpoint);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_NE(imported->session_id(), id);
  EXPECT_EQ(alice->GetSession(imported->session_id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->sessions().num_sessions(), 5);
}

TEST_F(SecurityTest, PerTenantQuotasAreResourceExhaustedNamingTheLimitAndTheValue) {
  ServerOptions options;
  options.auth_tokens_file = TokensFile();
  options.limits.max_sessions_per_tenant = 2;
  options.limits.max_state_bytes_per_tenant = 100;  // SGD keeps 4 bytes per f32 parameter
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto alice = PlainClient(kAliceToken);
  auto bob = PlainClient(kBobToken);
  auto first = alice->CreateSession(Request());  // 16 bytes
  ASSERT_TRUE(first.ok()) << first.status();
  const absl::Status big =
      alice->CreateSession(Request(R"pb(spec { tensors { name: "x" shape: 25 } optimizer { sgd {} } })pb")).status();
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(big.message(),
            "the session needs 100 bytes of state; tenant 'alice' holds 16 of its limit 100 "
            "(--max_state_bytes_per_tenant)");
  ASSERT_TRUE(alice->CreateSession(Request()).ok());
  const absl::Status third = alice->CreateSession(Request()).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.message(), "tenant 'alice' holds 2 sessions, its limit (--max_sessions_per_tenant 2)");
  // Imports and server-side runs are sessions too.
  const std::string checkpoint = *alice->ExportSession(first->session_id());
  EXPECT_EQ(alice->ImportSession(checkpoint).status().message(), third.message());
  // Bob's quota is his own: alice's sessions do not use it up.
  EXPECT_TRUE(bob->CreateSession(Request()).ok());
  EXPECT_TRUE(bob->ImportSession(checkpoint).ok());
  EXPECT_EQ(bob->CreateSession(Request()).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server_->sessions().num_sessions(), 4);
  // A deleted session gives its room back.
  ASSERT_TRUE(alice->DeleteSession(first->session_id()).ok());
  EXPECT_TRUE(alice->ImportSession(checkpoint).ok());
}

// --- The basin CLI -------------------------------------------------------------------------------

TEST_F(SecurityTest, TheCliSpeaksMutualTlsWithABearerToken) {
  ServerOptions options;
  options.tls = ServerTls(certs_->Path("ca.pem"));
  options.auth_tokens_file = TokensFile();
  ASSERT_NO_FATAL_FAILURE(Start(options));
  auto alice = TlsClient("client", kAliceToken);
  auto created = alice->CreateSession(Request());
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string alice_token = certs_->Write("alice.token", absl::StrCat(kAliceToken, "\n"));
  const std::string bob_token = certs_->Write("bob.token", kBobToken);
  const std::string tls = absl::StrCat(" --tls_ca=", certs_->Path("ca.pem"), " --tls_cert=", certs_->Path("client.pem"),
                                       " --tls_key=", certs_->Path("client.key"));
  auto cli = [&](const std::string& args) {
    return RunSubprocess(absl::StrCat(BASIN_CLI_PATH, " --target=", server_->address(), " --timeout=10s ", args));
  };

  const SubprocessResult as_alice = cli(absl::StrCat(tls, " --token_file=", alice_token, " sessions list"));
  EXPECT_EQ(as_alice.exit_code, 0) << as_alice.err;
  EXPECT_THAT(as_alice.out, HasSubstr(created->session_id()));
  const SubprocessResult as_bob = cli(absl::StrCat(tls, " --token_file=", bob_token, " sessions list"));
  EXPECT_EQ(as_bob.exit_code, 0) << as_bob.err;
  EXPECT_THAT(as_bob.out, Not(HasSubstr(created->session_id())));
  const SubprocessResult bob_deletes =
      cli(absl::StrCat(tls, " --token_file=", bob_token, " sessions delete ", created->session_id()));
  EXPECT_EQ(bob_deletes.exit_code, 1);
  EXPECT_THAT(bob_deletes.err, HasSubstr(absl::StrCat("NOT_FOUND: no session '", created->session_id(), "'")));
  const SubprocessResult by_name =
      cli(absl::StrCat(tls, " --tls_server_name=basin.test --token=", kAliceToken, " stats ", created->session_id()));
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;

  const SubprocessResult no_token = cli(absl::StrCat(tls, " sessions list"));
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("UNAUTHENTICATED: no bearer token"));
  const SubprocessResult no_certificate =
      cli(absl::StrCat("--tls_ca=", certs_->Path("ca.pem"), " --token_file=", alice_token, " sessions list"));
  EXPECT_EQ(no_certificate.exit_code, 1);
  EXPECT_THAT(no_certificate.err, HasSubstr("UNAVAILABLE"));
  const SubprocessResult health = cli(tls + " health");  // a probe needs the certificate, not a token
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("SERVING"));

  const SubprocessResult both = cli(absl::StrCat(tls, " --token=x --token_file=", alice_token, " health"));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("--token and --token_file exclude each other"));
  const SubprocessResult half = cli(absl::StrCat("--tls_cert=", certs_->Path("client.pem"), " health"));
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_THAT(half.err, HasSubstr("--tls_cert and --tls_key go together"));
  EXPECT_EQ(server_->sessions().num_sessions(), 1);
}

}  // namespace
}  // namespace basin
