// Malformed requests to every basin.v1.Optimizer RPC but Train (bad_train_input_test.cc), and
// hostile bytes below the protobuf layer: each is refused with the status docs/errors.md gives, a
// message naming the bad value, and a server left exactly as it was (ServerState: every session's
// Session, stats and checkpoint bytes). Cases an older test already shows are named in
// docs/errors.md and not repeated here.
#include <sys/resource.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/optimizer_config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/server/bad_input_fixture.h"

namespace basin::testing {
namespace {

using ::testing::HasSubstr;

void ExpectStatus(const grpc::Status& s, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(message));
}

v1::CreateSessionRequest Request(const std::string& text) {
  v1::CreateSessionRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
  return request;
}

// A valid request to vary: one tensor, SGD.
v1::CreateSessionRequest Valid() { return Request(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sgd {} } })pb"); }

class BadRequestTest : public BadInputTest {
 protected:
  grpc::Status Create(const v1::CreateSessionRequest& request) {
    v1::Session session;
    return client_->stub().CreateSession(Context().get(), request, &session);
  }
  void ExpectCreateRefused(const v1::CreateSessionRequest& request, grpc::StatusCode code,
                           const std::string& message) {
    SCOPED_TRACE(request.ShortDebugString().substr(0, 300));
    ExpectStatus(Create(request), code, message);
  }

  grpc::Status GetParameters(const v1::GetParametersRequest& request) {
    auto context = Context();
    auto reader = client_->stub().GetParameters(context.get(), request);
    v1::GetParametersResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  grpc::Status RunObjective(const std::string& text, std::vector<v1::RunObjectiveProgress>* progress = nullptr) {
    v1::RunObjectiveRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
    auto context = Context();
    auto reader = client_->stub().RunObjective(context.get(), request);
    v1::RunObjectiveProgress p;
    while (reader->Read(&p)) {
      if (progress != nullptr) progress->push_back(p);
    }
    return reader->Finish();
  }

  grpc::Status Import(const std::vector<v1::ImportSessionRequest>& requests) {
    auto context = Context();
    v1::Session session;
    auto writer = client_->stub().ImportSession(context.get(), &session);
    for (const auto& r : requests) {
      if (!writer->Write(r)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  static v1::ImportSessionRequest Data(std::string bytes) {
    v1::ImportSessionRequest r;
    r.set_data(std::move(bytes));
    return r;
  }
};

// --- CreateSession -------------------------------------------------------------------------------

TEST_F(BadRequestTest, CreateWithAnUnknownEnumValueIsInvalidArgument) {
  struct Case {
    std::function<void(v1::CreateSessionRequest&)> set;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.mutable_spec()->set_state_dtype(static_cast<v1::DType>(9)); },
       "spec.state_dtype must be F32 or F64, got 9"},
      {[](auto& r) { r.mutable_spec()->mutable_workers()->set_mode(static_cast<v1::WorkerPolicy::Mode>(7)); },
       "spec.workers.mode has no value 7"},
      {[](auto& r) { r.mutable_spec()->set_nonfinite_policy(static_cast<v1::NonFinitePolicy>(5)); },
       "spec.nonfinite_policy has no value 5"},
      {[](auto& r) {
         r.mutable_spec()->mutable_samples()->set_which(static_cast<v1::SampleCollection::Which>(8));
       },
       "spec.samples.which has no value 8"},
      {[](auto& r) {
         r.mutable_spec()->mutable_optimizer()->mutable_sgd()->mutable_lr_schedule()->set_kind(
             static_cast<v1::Schedule::Kind>(99));
       },
       "spec.optimizer: sgd.lr_schedule.kind has no value 99"},
      {[](auto& r) {
         r.mutable_spec()->mutable_optimizer()->mutable_sgld()->set_lr_convention(
             static_cast<v1::SgldConfig::LrConvention>(6));
       },
       "spec.optimizer: sgld.lr_convention has no value 6"},
      {[](auto& r) {
         r.mutable_spec()->mutable_optimizer()->mutable_entropy_sgd()->set_variant(
             static_cast<v1::EntropySgdConfig::Variant>(17));
       },
       "spec.optimizer: entropy_sgd.variant has no value 17"},
      {[](auto& r) {
         r.mutable_spec()->mutable_optimizer()->mutable_entropy_sgd()->set_noise_scaling(
             static_cast<v1::EntropySgdConfig::NoiseScaling>(4));
       },
       "spec.optimizer: entropy_sgd.noise_scaling has no value 4"},
      {[](auto& r) {
         r.mutable_spec()->mutable_optimizer()->mutable_emcmc()->set_form(static_cast<v1::EmcmcConfig::Form>(3));
       },
       "spec.optimizer: emcmc.form has no value 3"},
  };
  for (const Case& c : cases) {
    v1::CreateSessionRequest request = Valid();
    c.set(request);
    ExpectCreateRefused(request, grpc::StatusCode::INVALID_ARGUMENT, c.message);
  }
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateWithAShapeWhoseSizeOverflowsIsInvalidArgument) {
  // Every product here overflows int64 (or the layout's 2^34 elements) before it is allocated.
  ExpectCreateRefused(Request(R"pb(spec { tensors { name: "x" shape: [ 4611686018427387904, 4 ] } optimizer { sgd {} } })pb"),
                      grpc::StatusCode::INVALID_ARGUMENT,
                      "spec.tensors: tensor 'x' shape [4611686018427387904, 4] has more than 17179869184 elements");
  ExpectCreateRefused(
      Request(R"pb(spec { tensors { name: "x" shape: [ 4294967296, 4294967296, 4294967296 ] } optimizer { sgd {} } })pb"),
      grpc::StatusCode::INVALID_ARGUMENT, "shape [4294967296, 4294967296, 4294967296] has more than");
  ExpectCreateRefused(
      Request(R"pb(spec { tensors { name: "x" shape: 9223372036854775807 } optimizer { sgd {} } })pb"),
      grpc::StatusCode::INVALID_ARGUMENT, "shape [9223372036854775807] has more than 17179869184 elements");
  ExpectCreateRefused(Request(R"pb(spec {
                                     tensors { name: "a" shape: 17179869184 }
                                     tensors { name: "b" shape: 1 }
                                     optimizer { sgd {} }
                                   })pb"),
                      grpc::StatusCode::INVALID_ARGUMENT, "layout has more than 17179869184 elements (at tensor 'b')");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateWithBadTensorNamesOrEmptyLayoutsIsInvalidArgument) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"pb(tensors { name: "x" shape: 2 } tensors { name: "x" shape: 3 })pb", "tensor name 'x' appears twice"},
      {R"pb(tensors { name: "" shape: 2 })pb", "tensor 0 has an empty name"},
      {R"pb(tensors { name: "a" shape: 1 } tensors { name: "b c" shape: 2 })pb",
       "tensor 1 name has a byte 0x20 that is not printable ASCII"},
      {R"pb(tensors { name: "w\303\251" shape: 2 })pb", "tensor 0 name has a byte 0xc3 that is not printable ASCII"},
      {absl::StrCat(R"pb(tensors { name: ")pb", std::string(257, 'n'), R"pb(" shape: 2 })pb"),
       "tensor 0 name is 257 bytes long; the limit is 256"},
      {R"pb(tensors { name: "x" shape: [ 3, 0 ] })pb", "layout has zero elements"},
  };
  for (const auto& [tensors, message] : cases) {
    ExpectCreateRefused(Request(absl::StrCat("spec { ", tensors, " optimizer { sgd {} } }")),
                        grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("spec.tensors: ", message));
  }
  ExpectUnchanged();
}

// "lr_schedule.step_size" = v → "lr_schedule { step_size: v }".
std::string Nested(const std::string& path, const std::string& value) {
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  std::string text = absl::StrCat(parts.back(), ": ", value);
  for (auto it = parts.rbegin() + 1; it != parts.rend(); ++it) text = absl::StrCat(*it, " { ", text, " }");
  return text;
}

// Every real and integer field out of range at 0, -1 or NaN, for each optimizer and the sample
// rule: the ranges are core's field tables, so a field the wire mapping lost (and left at its
// default) would be accepted and fail here.
TEST_F(BadRequestTest, CreateWithZeroNegativeOrNaNHyperParametersIsInvalidArgument) {
  int refused = 0;
  auto try_fields = [&](const std::string& scope, const auto& fields, auto text_of) {
    for (const auto& field : fields) {
      if (field.type != FieldType::kReal && field.type != FieldType::kInt) continue;
      std::vector<double> values = {0, -1};
      if (field.type == FieldType::kReal) values.push_back(std::nan(""));
      for (double v : values) {
        if (!std::isnan(v) && field.range.Contains(v)) continue;
        const std::string shown = std::isnan(v) ? "nan" : absl::StrCat(v);
        const std::string text = text_of(Nested(field.name, shown));
        const grpc::Status s = Create(Request(text));
        EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
        EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(scope, ".", field.name, " must be "))) << text;
        EXPECT_THAT(s.error_message(), ::testing::EndsWith(absl::StrCat(", got ", shown))) << text;
        ++refused;
      }
    }
  };
  for (const std::string& name : OptimizerNames()) {
    std::visit(
        [&](const auto& config) {
          try_fields(name, std::decay_t<decltype(config)>::Fields(), [&](const std::string& field) {
            return absl::StrCat(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { )pb", name, " { ", field,
                                " } } }");
          });
        },
        *DefaultConfig(name));
  }
  try_fields("samples", SampleCollection::Fields(), [](const std::string& field) {
    return absl::StrCat(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { emcmc {} } samples { which: WHICH_MODEL )pb",
                        field, " } }");
  });
  EXPECT_GE(refused, 60);  // lr, momentum, γ, L, η, temperature, schedules, thin, ... of five optimizers
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateWithABadWorkerPolicyIsRefused) {
  const std::vector<std::tuple<std::string, grpc::StatusCode, std::string>> cases = {
      {R"pb(workers { num_workers: -1 })pb", grpc::StatusCode::INVALID_ARGUMENT,
       "workers.num_workers must be >= 1, got -1"},
      {R"pb(workers { num_workers: 2 quorum: -1 })pb", grpc::StatusCode::INVALID_ARGUMENT,
       "workers.quorum must be in [1, num_workers = 2], got -1"},
      {R"pb(workers { num_workers: 2 mode: MODE_ASYNC max_staleness: -1 })pb", grpc::StatusCode::INVALID_ARGUMENT,
       "workers.max_staleness must be >= 0, got -1"},
      {R"pb(workers { num_workers: 65 })pb", grpc::StatusCode::RESOURCE_EXHAUSTED,
       "workers.num_workers is 65; the limit per session is 64"},
  };
  for (const auto& [workers, code, message] : cases) {
    ExpectCreateRefused(Request(absl::StrCat(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sgd {} } )pb",
                                             workers, " }")),
                        code, message);
  }
  ExpectCreateRefused(
      Request(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sam {} } workers { num_workers: 2 mode: MODE_ASYNC } })pb"),
      grpc::StatusCode::INVALID_ARGUMENT, "workers.mode = async needs an optimizer with one tick per step; this one has 2");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateWithBadInitialValuesIsInvalidArgument) {
  const std::string nan_bytes = F32(4, 2, std::nanf(""));
  const std::vector<std::pair<std::vector<v1::TensorChunk>, std::string>> cases = {
      {{Chunk("y", 0, F32(4))}, "initial_values: chunk of tensor 'y' at offset 0: no tensor of that name"},
      {{Chunk("x", 1, F32(3))}, "initial_values: chunk of tensor 'x' at offset 1 leaves a gap; expected tensor 'x' at offset 0"},
      {{Chunk("x", 0, F32(2)), Chunk("x", 1, F32(2))}, "chunk of tensor 'x' at offset 1 overlaps elements already received"},
      {{Chunk("x", 0, F32(5))}, "has 5 elements, running past the tensor's end at 4"},
      {{Chunk("x", 0, F32(3) + "ab")}, "has 14 bytes of data, not a whole number of f32 elements"},
      {{Chunk("x", 0, F32(4), static_cast<v1::DType>(11))}, "has unknown dtype 11"},
      {{Chunk("x", 0, F32(3))}, "initial_values: chunks end with tensor 'x' incomplete: its elements from offset 3 of 4 are missing"},
      {{Chunk("x", 0, nan_bytes)}, "initial_values: model element 2 (tensor 'x', index 2) is nan"},
  };
  for (const auto& [chunks, message] : cases) {
    v1::CreateSessionRequest request = Valid();
    for (const auto& c : chunks) *request.add_initial_values() = c;
    ExpectCreateRefused(request, grpc::StatusCode::INVALID_ARGUMENT, message);
  }
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateWithARequestIdOver128BytesIsInvalidArgument) {
  v1::CreateSessionRequest request = Valid();
  request.set_request_id(std::string(129, 'r'));
  ExpectCreateRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "request_id is 129 bytes long; the limit is 128");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, CreateOverTheParametersPerSessionLimitIsResourceExhausted) {
  ExpectCreateRefused(Request(R"pb(spec { tensors { name: "x" shape: [ 32768, 32769 ] } optimizer { sgd {} } })pb"),
                      grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "the layout has 1073774592 parameters; the limit per session is 1073741824");
  ExpectUnchanged();
}

// A server that holds 1 MiB of state.
class SmallServerTest : public BadRequestTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_total_state_bytes = int64_t{1} << 20;
    return limits;
  }
};

int64_t PeakResidentKiB() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST_F(SmallServerTest, StateOverTheServersLimitIsRefusedBeforeItIsAllocated) {
  // 2^27 f32 parameters with momentum: 1 GiB of state. The server (in this process) must refuse it
  // from the spec, not after allocating and zeroing it, which the peak resident size would show.
  const int64_t peak_before = PeakResidentKiB();
  ExpectCreateRefused(
      Request(R"pb(spec { tensors { name: "x" shape: 134217728 } optimizer { sgd { momentum: 0.9 } } })pb"),
      grpc::StatusCode::RESOURCE_EXHAUSTED, "the session needs 1073741824 bytes of state");
  EXPECT_LT(PeakResidentKiB() - peak_before, 256 << 10) << "KiB of peak resident memory added by a refused session";
  ExpectUnchanged();
}

// A server that holds one session: the fixture's.
class OneSessionServerTest : public BadRequestTest {
 protected:
  ServerLimits Limits() const override {
    ServerLimits limits;
    limits.max_sessions = 1;
    return limits;
  }
};

TEST_F(OneSessionServerTest, AnImportTheLimitsRefuseIsResourceExhausted) {
  auto checkpoint = client_->ExportSession(id_);
  ASSERT_TRUE(checkpoint.ok());
  ExpectStatus(Import({Data(*checkpoint)}), grpc::StatusCode::RESOURCE_EXHAUSTED,
               "the server holds 1 sessions, its limit (--max_sessions 1)");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, WhileDrainingNewSessionsAndRunsAreUnavailable) {
  auto checkpoint = client_->ExportSession(id_);
  ASSERT_TRUE(checkpoint.ok());
  // A worker mid-tick keeps the server draining (not yet shut down) until it finishes.
  auto stream = client_->Train(id_);
  ASSERT_TRUE(stream.ok());
  auto q = stream->get()->NextQuery();
  ASSERT_TRUE(q.ok());
  std::thread drain([&] { server_->Drain(absl::Seconds(10)); });
  for (int k = 0; k < 200 && client_->Health("basin.v1.Optimizer").value_or("") == "SERVING"; ++k) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(50));  // health flips just before the service starts draining
  const std::string unavailable = "the server is shutting down; retry on another replica";
  ExpectStatus(RunObjective(R"pb(objective { kind: "quadratic" } ticks: 1 spec { optimizer { sgd {} } })pb"),
               grpc::StatusCode::UNAVAILABLE, unavailable);
  ExpectStatus(RunObjective(absl::StrCat(R"pb(objective { kind: "quadratic" } ticks: 1 session_id: ")pb", id_, "\"")),
               grpc::StatusCode::UNAVAILABLE, unavailable);
  ExpectStatus(Import({Data(*checkpoint)}), grpc::StatusCode::UNAVAILABLE, unavailable);
  const int64_t sessions = server_->sessions().num_sessions();
  const int64_t tick = (*server_->sessions().Get("", id_))->tick();
  (*stream)->Tell(q->tick, SmoothGradient(*q, 0).first, 1.0).IgnoreError();
  (*stream)->Close().IgnoreError();
  drain.join();
  // The server is gone: what it held is read in-process.
  EXPECT_EQ(server_->sessions().num_sessions(), sessions);
  EXPECT_EQ((*server_->sessions().Get("", id_))->tick(), tick + 1) << "only the tick in flight";
}

// --- The session RPCs ----------------------------------------------------------------------------

TEST_F(BadRequestTest, AnUnknownSessionIsNotFoundInEveryRpc) {
  for (const std::string id : {"s-000000000000-0000", ""}) {
    SCOPED_TRACE(id);
    const std::string message = absl::StrCat("no session '", id, "'");
    v1::DeleteSessionRequest del;
    del.set_session_id(id);
    v1::DeleteSessionResponse deleted;
    ExpectStatus(client_->stub().DeleteSession(Context().get(), del, &deleted), grpc::StatusCode::NOT_FOUND, message);
    v1::GetSessionStatsRequest stats_request;
    stats_request.set_session_id(id);
    v1::SessionStats stats;
    ExpectStatus(client_->stub().GetSessionStats(Context().get(), stats_request, &stats), grpc::StatusCode::NOT_FOUND,
                 message);
    v1::ListSamplesRequest samples_request;
    samples_request.set_session_id(id);
    v1::ListSamplesResponse samples;
    ExpectStatus(client_->stub().ListSamples(Context().get(), samples_request, &samples), grpc::StatusCode::NOT_FOUND,
                 message);
    v1::GetParametersRequest get;
    get.set_session_id(id);
    ExpectStatus(GetParameters(get), grpc::StatusCode::NOT_FOUND, message);
    ExpectStatus(RawPut(id, v1::PARAMETER_SET_MODEL, {Chunk("x", 0, F32(4))}), grpc::StatusCode::NOT_FOUND, message);
    if (!id.empty()) {  // RunObjective without a session id creates one
      ExpectStatus(RunObjective(absl::StrCat(R"pb(objective { kind: "quadratic" } ticks: 1 session_id: ")pb", id, "\"")),
                   grpc::StatusCode::NOT_FOUND, message);
    }
    v1::ExportSessionRequest export_request;
    export_request.set_session_id(id);
    auto context = Context();
    auto reader = client_->stub().ExportSession(context.get(), export_request);
    v1::CheckpointChunk chunk;
    while (reader->Read(&chunk)) {
    }
    ExpectStatus(reader->Finish(), grpc::StatusCode::NOT_FOUND, message);
  }
  ExpectUnchanged();
}

TEST_F(BadRequestTest, ListSessionsWithAPageSizeOutOfRangeIsInvalidArgument) {
  for (int size : {-1, 1001}) {
    v1::ListSessionsRequest request;
    request.set_page_size(size);
    v1::ListSessionsResponse response;
    ExpectStatus(client_->stub().ListSessions(Context().get(), request, &response), grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("page_size must be in [0, 1000], got ", size));
  }
  ExpectUnchanged();
}

// --- PutParameters -------------------------------------------------------------------------------

TEST_F(BadRequestTest, PutWithoutATargetFirstIsInvalidArgument) {
  v1::PutParametersRequest chunk;
  *chunk.mutable_chunk() = Chunk("w", 0, F32(100));
  ExpectStatus(RawPut({chunk}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got a message holding 'chunk'");
  ExpectStatus(RawPut({}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got none");
  ExpectStatus(RawPut({v1::PutParametersRequest()}), grpc::StatusCode::INVALID_ARGUMENT,
               "the first PutParameters message must be a target, got an empty message");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutWithASecondTargetIsInvalidArgument) {
  std::vector<v1::PutParametersRequest> requests(3);
  requests[0].mutable_target()->set_session_id(id_);
  *requests[1].mutable_chunk() = Chunk("w", 0, F32(100));
  requests[2].mutable_target()->set_session_id(id_);
  ExpectStatus(RawPut(requests), grpc::StatusCode::INVALID_ARGUMENT,
               "a PutParameters message after the target must be a chunk, got a message holding 'target'");
  requests[2].Clear();
  ExpectStatus(RawPut(requests), grpc::StatusCode::INVALID_ARGUMENT,
               "a PutParameters message after the target must be a chunk, got an empty message");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutToATargetOtherThanModelOrAnchorIsInvalidArgument) {
  const std::vector<v1::TensorChunk> values = {Chunk("w", 0, F32(100)), Chunk("b", 0, F32(28))};
  ExpectStatus(RawPut(id_, v1::PARAMETER_SET_QUERY, values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got PARAMETER_SET_QUERY");
  ExpectStatus(RawPut(id_, v1::PARAMETER_SET_SAMPLE, values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got PARAMETER_SET_SAMPLE");
  ExpectStatus(RawPut(id_, static_cast<v1::ParameterSet>(9), values), grpc::StatusCode::INVALID_ARGUMENT,
               "target.which must be MODEL or ANCHOR, got 9");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutWithBadChunksIsInvalidArgument) {
  const std::vector<std::pair<std::vector<v1::TensorChunk>, std::string>> cases = {
      {{Chunk("v", 0, F32(100))}, "chunk of tensor 'v' at offset 0: no tensor of that name in the layout"},
      {{Chunk("b", 0, F32(28))}, "chunk of tensor 'b' at offset 0 skips elements of an earlier tensor; expected tensor 'w' at offset 0"},
      {{Chunk("w", 0, F32(100)), Chunk("b", 0, F32(28)), Chunk("w", 0, F32(100))},
       "chunk of tensor 'w' at offset 0 is out of layout order"},
      {{Chunk("w", 0, F32(50)), Chunk("w", 60, F32(40))}, "chunk of tensor 'w' at offset 60 leaves a gap; expected tensor 'w' at offset 50"},
      {{Chunk("w", 0, F32(50)), Chunk("w", 40, F32(60))}, "chunk of tensor 'w' at offset 40 overlaps elements already received"},
      {{Chunk("w", -4, F32(4))}, "chunk of tensor 'w' at offset -4 has a negative offset"},
      {{Chunk("w", 0, F32(99) + "xyz")}, "has 399 bytes of data, not a whole number of f32 elements"},
      {{Chunk("w", 0, F32(100), static_cast<v1::DType>(42))}, "chunk of tensor 'w' at offset 0 has unknown dtype 42"},
      {{Chunk("w", 0, F32(100))}, "chunks end with tensor 'b' incomplete: its elements from offset 0 of 28 are missing"},
      {{Chunk("w", 0, F32(100)), Chunk("b", 0, F32(28, 3, std::nanf("")))}, "model element 103 (tensor 'b', index 3) is nan"},
      {{Chunk("w", 0, F32(100, 0, std::numeric_limits<float>::infinity())), Chunk("b", 0, F32(28))},
       "model element 0 (tensor 'w', index 0) is inf"},
  };
  for (const auto& [chunks, message] : cases) {
    ExpectStatus(RawPut(id_, v1::PARAMETER_SET_MODEL, chunks), grpc::StatusCode::INVALID_ARGUMENT, message);
  }
  ExpectStatus(RawPut(id_, v1::PARAMETER_SET_ANCHOR, {Chunk("w", 0, F32(100)), Chunk("b", 0, F32(28, 0, -INFINITY))}),
               grpc::StatusCode::INVALID_ARGUMENT, "anchor element 100 (tensor 'b', index 0) is -inf");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, PutToTheAnchorOfAnOptimizerWithoutOneIsFailedPrecondition) {
  const v1::Session sgd = CreateFromText(R"pb(spec { tensors { name: "x" shape: 4 } optimizer { sgd {} } })pb");
  Remember();
  ExpectStatus(RawPut(sgd.session_id(), v1::PARAMETER_SET_ANCHOR, {Chunk("x", 0, F32(4))}),
               grpc::StatusCode::FAILED_PRECONDITION, "sgd has no anchor");
  ExpectUnchanged();
}

// --- GetParameters -------------------------------------------------------------------------------

TEST_F(BadRequestTest, GetParametersWithBadFieldsIsInvalidArgument) {
  auto request = [&](auto set) {
    v1::GetParametersRequest r;
    r.set_session_id(id_);
    set(r);
    return r;
  };
  ExpectStatus(GetParameters(request([](auto& r) { r.set_which(static_cast<v1::ParameterSet>(9)); })),
               grpc::StatusCode::INVALID_ARGUMENT, "which has no value 9");
  ExpectStatus(GetParameters(request([](auto& r) { r.set_dtype(static_cast<v1::DType>(42)); })),
               grpc::StatusCode::INVALID_ARGUMENT, "dtype has no value 42");
  for (int64_t bytes : {int64_t{-8}, int64_t{7}, (int64_t{4} << 20) + 8}) {
    ExpectStatus(GetParameters(request([&](auto& r) { r.set_max_chunk_bytes(bytes); })),
                 grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("max_chunk_bytes must be 0 (1 MiB) or in [8, 4194304], got ", bytes));
  }
  for (int index : {-1, 6}) {
    ExpectStatus(GetParameters(request([&](auto& r) {
                   r.set_which(v1::PARAMETER_SET_SAMPLE);
                   r.set_sample_index(index);
                 })),
                 grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("sample_index ", index, " is out of range: the session holds 6 samples"));
  }
  ExpectUnchanged();
}

// --- RunObjective --------------------------------------------------------------------------------

TEST_F(BadRequestTest, RunObjectiveWithBadFieldsIsInvalidArgument) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"pb(objective { kind: "quadratic" } ticks: 100000001)pb", "ticks must be in [1, 1e8], got 100000001"},
      {R"pb(objective { kind: "quadratic" } ticks: -5)pb", "ticks must be in [1, 1e8], got -5"},
      {R"pb(objective { kind: "quadratic" } ticks: 1 report_every: -1)pb", "report_every must be >= 0, got -1"},
      {R"pb(objective { kind: "cubic" } ticks: 1)pb",
       "kind must be one of quadratic, two_mode, logistic_regression, sigmoid_entropy, got 'cubic'"},
      {R"pb(objective { kind: "quadratic" dimension: -3 } ticks: 1)pb", "quadratic.dimension must be >= 1, got -3"},
      {R"pb(objective { kind: "quadratic" condition_number: 0 } ticks: 1)pb",
       "quadratic.condition_number must be finite and >= 1, got 0"},
      {R"pb(objective { kind: "quadratic" noise: nan } ticks: 1)pb", "quadratic.noise must be finite and >= 0, got nan"},
      {R"pb(objective { kind: "logistic_regression" num_examples: -5 } ticks: 1)pb",
       "logistic_regression.num_examples must be >= 1, got -5"},
      {R"pb(objective { kind: "logistic_regression" batch_size: -1 } ticks: 1)pb",
       "logistic_regression.batch_size must be >= 0 (0 = full batch), got -1"},
      {R"pb(objective { kind: "sigmoid_entropy" num_outputs: -2 } ticks: 1)pb",
       "sigmoid_entropy.num_outputs must be >= 1, got -2"},
      {R"pb(objective { kind: "quadratic" } ticks: 1 spec { optimizer { sgd { lr: -1 } } })pb",
       "spec.optimizer: sgd.lr must be >= 0, got -1"},
      {R"pb(objective { kind: "quadratic" dimension: 3 } ticks: 1
            spec { tensors { name: "x" shape: 4 } optimizer { sgd {} } })pb",
       "spec.tensors do not match objective quadratic's layout"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    ExpectStatus(RunObjective(text), grpc::StatusCode::INVALID_ARGUMENT, message);
  }
  ExpectUnchanged();
}

// --- Checkpoints ---------------------------------------------------------------------------------

TEST_F(BadRequestTest, ExportWithAChunkSizeOutOfRangeIsInvalidArgument) {
  for (int64_t bytes : {int64_t{-1}, int64_t{7}, (int64_t{4} << 20) + 1}) {
    v1::ExportSessionRequest request;
    request.set_session_id(id_);
    request.set_max_chunk_bytes(bytes);
    auto context = Context();
    auto reader = client_->stub().ExportSession(context.get(), request);
    v1::CheckpointChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    ExpectStatus(reader->Finish(), grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("max_chunk_bytes must be 0 (1 MiB) or in [8, 4194304], got ", bytes));
  }
  ExpectUnchanged();
}

TEST_F(BadRequestTest, ImportWithAHeaderAfterDataIsInvalidArgument) {
  auto checkpoint = client_->ExportSession(id_);
  ASSERT_TRUE(checkpoint.ok());
  v1::ImportSessionRequest header;
  header.mutable_header()->set_request_id("late");
  ExpectStatus(Import({Data(*checkpoint), header}), grpc::StatusCode::INVALID_ARGUMENT,
               "the import header must be the first message");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, ImportWithABadHeaderIsRefused) {
  auto checkpoint = client_->ExportSession(id_);
  ASSERT_TRUE(checkpoint.ok());
  v1::ImportSessionRequest header;
  header.mutable_header()->set_request_id(std::string(129, 'r'));
  ExpectStatus(Import({header, Data(*checkpoint)}), grpc::StatusCode::INVALID_ARGUMENT,
               "request_id is 129 bytes long; the limit is 128");
  header.mutable_header()->set_request_id("");
  header.mutable_header()->set_metrics_run("a b");
  ExpectStatus(Import({header, Data(*checkpoint)}), grpc::StatusCode::INVALID_ARGUMENT,
               "metrics_run 'a b' may hold only letters, digits");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, ImportOfAnotherFormatOrABadWorkerPolicyIsInvalidArgument) {
  auto bytes = client_->ExportSession(id_);
  ASSERT_TRUE(bytes.ok());
  v1::SessionCheckpoint checkpoint;
  ASSERT_TRUE(checkpoint.ParseFromString(*bytes));

  v1::SessionCheckpoint other = checkpoint;
  other.set_format_version(2);
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "checkpoint format version 2 is not 1, the one this server reads");
  other = checkpoint;
  other.mutable_workers()->set_mode(static_cast<v1::WorkerPolicy::Mode>(9));
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "checkpoint workers.mode has no value 9");
  other = checkpoint;
  other.mutable_workers()->set_quorum(5);
  ExpectStatus(Import({Data(other.SerializeAsString())}), grpc::StatusCode::INVALID_ARGUMENT,
               "workers.quorum must be in [1, num_workers = 2], got 5");
  ExpectUnchanged();
}

TEST_F(BadRequestTest, ImportOfATruncatedCheckpointIsRefused) {
  auto bytes = client_->ExportSession(id_);
  ASSERT_TRUE(bytes.ok());
  for (std::size_t keep : {std::size_t{1}, std::size_t{10}, bytes->size() / 2, bytes->size() - 1}) {
    SCOPED_TRACE(keep);
    const grpc::Status s = Import({Data(bytes->substr(0, keep))});
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT || s.error_code() == grpc::StatusCode::DATA_LOSS)
        << s.error_code() << " " << s.error_message();
    EXPECT_THAT(s.error_message(), ::testing::AnyOf(HasSubstr(absl::StrCat("the ", keep, " bytes received are not a basin checkpoint")),
                                                    HasSubstr("checkpoint state: ")));
  }
  ExpectUnchanged();
}

// --- Below protobuf: bytes that are not a message, messages over the limit -------------------------

class HostileBytesTest : public BadRequestTest {
 protected:
  // Sends each of `messages` as one raw gRPC message to `method`, half-closes, reads everything and
  // returns the status. Unary and streaming methods alike: the framing is the same.
  grpc::Status RawBytes(const std::string& method, const std::vector<std::string>& messages) {
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    grpc::GenericStub stub(channel);
    grpc::CompletionQueue cq;
    auto context = Context();
    auto call = stub.PrepareCall(context.get(), method, &cq);
    auto done = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      return cq.Next(&tag, &ok) && ok;
    };
    call->StartCall(reinterpret_cast<void*>(1));
    bool open = done();
    for (std::size_t i = 0; open && i < messages.size(); ++i) {
      grpc::Slice slice(messages[i]);
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, reinterpret_cast<void*>(2));
      open = done();
    }
    if (open) {
      call->WritesDone(reinterpret_cast<void*>(3));
      done();
    }
    grpc::ByteBuffer response;
    for (int reads = 0; reads < 1000; ++reads) {
      call->Read(&response, reinterpret_cast<void*>(4));
      if (!done()) break;
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    done();
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  // The server still answers: health, and a real call on the fixture's session.
  void ExpectHealthy() {
    auto health = client_->Health("basin.v1.Optimizer");
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, "SERVING");
    Drive(id_, 1, SmoothGradient);
    Remember();
  }
};

TEST_F(HostileBytesTest, BytesThatAreNotAProtobufMessageAreRefused) {
  // A field with wire type 7 (none exists), and a length-delimited field longer than the message.
  const std::vector<std::string> garbage = {std::string("\x0f\xff\xff\xff", 4), std::string("\x0a\x7f\x01", 3)};
  const std::string attach = Attach(id_).SerializeAsString();
  const std::string first_chunk = Gradient(kTicks, Chunk("w", 0, F32(100)), false).SerializeAsString();
  for (const std::string& bad : garbage) {
    struct Case {
      std::string method;
      std::vector<std::string> messages;
      grpc::StatusCode code;
      std::string message;
    };
    // A request that does not parse fails the call in gRPC (INTERNAL). In a client stream, gRPC's
    // synchronous API reads it as the end of the stream: the status is what an end there gets.
    const std::vector<Case> cases = {
        {"CreateSession", {bad}, grpc::StatusCode::INTERNAL, ""},
        {"GetSession", {bad}, grpc::StatusCode::INTERNAL, ""},
        {"GetParameters", {bad}, grpc::StatusCode::INTERNAL, ""},
        {"RunObjective", {bad}, grpc::StatusCode::INTERNAL, ""},
        {"ExportSession", {bad}, grpc::StatusCode::INTERNAL, ""},
        {"ImportSession", {bad}, grpc::StatusCode::INVALID_ARGUMENT, "the 0 bytes received are not a basin checkpoint"},
        {"PutParameters", {bad}, grpc::StatusCode::INVALID_ARGUMENT,
         "the first PutParameters message must be a target, got none"},
        {"Train", {bad}, grpc::StatusCode::OK, ""},
        {"Train", {attach, bad}, grpc::StatusCode::OK, ""},
        {"Train", {attach, first_chunk, bad}, grpc::StatusCode::INVALID_ARGUMENT,
         "the stream ended in the middle of tick 3's gradient; the tick was not applied"},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(absl::StrCat(c.method, " with ", c.messages.size(), " messages"));
      ExpectStatus(RawBytes(absl::StrCat("/basin.v1.Optimizer/", c.method), c.messages), c.code, c.message);
      ExpectUnchanged();
    }
  }
  ExpectHealthy();
}

TEST_F(HostileBytesTest, AMessageOverTheServersLimitIsResourceExhausted) {
  // The limit is the chunk limit (4 MiB) plus 64 KiB of framing.
  v1::CreateSessionRequest request = Valid();
  request.mutable_spec()->set_metrics_run(std::string(5 << 20, 'm'));
  ExpectStatus(Create(request), grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max");
  ExpectUnchanged();
  v1::TrainRequest huge = Gradient(kTicks, Chunk("w", 0, std::string(5 << 20, '\0')), false);
  ExpectStatus(RawTrain({Attach(id_), huge}), grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max");
  ExpectUnchanged();
  ExpectHealthy();
}

}  // namespace
}  // namespace basin::testing
