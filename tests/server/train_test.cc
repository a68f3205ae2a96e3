// The Train stream end to end: basin-server on loopback, the C++ client, real TCP.
#include <barrier>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/cpp/basin_client.h"
#include "core/optimizer_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/basin_server.h"
#include "tests/testing/loopback_server.h"
#include "server/spec_mapping.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

// A minibatch-like gradient: a function of the point and the tick.
std::vector<float> GradientAt(const std::vector<float>& x, int64_t tick, int worker = 0) {
  std::vector<float> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    g[i] = (1.0f + 0.001f * static_cast<float>(i % 17)) * x[i] + 0.05f * std::sin(0.7f * tick + 0.01f * i + worker);
  }
  return g;
}

double LossAt(const std::vector<float>& x) {
  double l = 0;
  for (float v : x) l += 0.5 * v * v;
  return l;
}

class TrainTest : public ::basin::testing::LoopbackServerTest {
 protected:

  // Runs `ticks` ticks of one worker through the stream.
  void Drive(const std::string& id, int ticks, client::TrainOptions options = {}) {
    LoopbackServerTest::Drive(
        id, ticks,
        [](const client::Query& q, int) { return std::make_pair(GradientAt(q.values, q.tick), LossAt(q.values)); },
        options);
  }

  std::vector<float> Model(const std::string& id, v1::ParameterSet which = v1::PARAMETER_SET_MODEL) {
    auto values = client_->GetParameters(id, which);
    EXPECT_TRUE(values.ok()) << values.status();
    return values.ok() ? *values : std::vector<float>();
  }

  int64_t Tick(const std::string& id) { return client_->GetSession(id)->tick(); }

};

// The same ticks in-process with core, from the spec the server reports.
std::unique_ptr<Optimizer<float>> InProcess(const v1::Session& session, int ticks, std::vector<float> init = {}) {
  OptimizerSpec spec;
  spec.config = *OptimizerConfigFromProto(session.spec().optimizer());
  spec.samples = *SampleCollectionFromProto(session.spec().samples());
  spec.seed = session.spec().seed();
  auto layout = client::LayoutOf(session);
  auto o = *CreateOptimizer<float>(spec, *layout, init);
  for (int k = 0; k < ticks; ++k) {
    std::vector<float> q(o->Query().begin(), o->Query().end());
    EXPECT_TRUE(o->Tell(GradientAt(q, o->tick()), LossAt(q)).ok());
  }
  return o;
}

TEST_F(TrainTest, EveryOptimizerThroughTheServerIsBitwiseEqualToCoreInProcess) {
  const std::vector<std::string> optimizers = {
      "sgd { lr: 0.05 momentum: 0.9 nesterov: true weight_decay: 0.001 }",
      "sgld { lr: 0.01 temperature: 0.5 }",
      "sam { lr: 0.05 momentum: 0.5 rho: 0.1 }",
      "entropy_sgd { L: 3 noise: 0.01 gamma: 0.1 }",
      "entropy_sgd { variant: VARIANT_PYTORCH L: 2 noise: 0.01 }",
      "emcmc { lr: 0.01 temperature: 1 num_data: 100 eta: 0.5 momentum: 0.9 }",
      "emcmc { form: FORM_PAPER lr: 0.01 }",
  };
  for (const std::string& optimizer : optimizers) {
    SCOPED_TRACE(optimizer);
    const v1::Session session = CreateFromText(absl::StrCat(R"pb(spec { tensors { name: "w" shape: [ 20, 40 ] }
                                                                tensors { name: "b" shape: 200 }
                                                                seed: 77 optimizer { )pb",
                                                    optimizer, "} }"));
    constexpr int kTicks = 24;
    Drive(session.session_id(), kTicks);
    auto reference = InProcess(session, kTicks);
    const std::vector<float> model = Model(session.session_id());
    ASSERT_EQ(model.size(), reference->Model().size());
    EXPECT_EQ(std::memcmp(model.data(), reference->Model().data(), model.size() * 4), 0);
    if (!reference->Anchor().empty()) {
      const std::vector<float> anchor = Model(session.session_id(), v1::PARAMETER_SET_ANCHOR);
      EXPECT_EQ(std::memcmp(anchor.data(), reference->Anchor().data(), anchor.size() * 4), 0);
    }
    EXPECT_EQ(Tick(session.session_id()), kTicks);
  }
}

TEST_F(TrainTest, EightMillionParametersInThreeTensorsWithDefaultLimits) {
  const v1::Session session = CreateFromText(R"pb(spec {
                                            tensors { name: "embedding" shape: [ 5000, 1000 ] }
                                            tensors { name: "hidden" shape: [ 1000, 2999 ] }
                                            tensors { name: "bias" shape: 1000 }
                                            optimizer { sgd { lr: 0.1 } }
                                          })pb");
  ASSERT_EQ(session.num_parameters(), 8'000'000);
  std::vector<float> init(8'000'000);
  for (std::size_t i = 0; i < init.size(); ++i) init[i] = std::sin(0.001f * i);
  ASSERT_TRUE(client_->PutParameters(session.session_id(), v1::PARAMETER_SET_MODEL, init).ok());
  Drive(session.session_id(), 2);
  auto reference = InProcess(session, 2, init);
  const std::vector<float> model = Model(session.session_id());
  EXPECT_EQ(std::memcmp(model.data(), reference->Model().data(), model.size() * 4), 0);

  // Half-precision wires round-trip within their precision.
  for (auto [dtype, tolerance] : {std::pair{WireDType::kBF16, 1.0 / 256}, std::pair{WireDType::kF16, 1.0 / 2048}}) {
    auto half = client_->GetParameters(session.session_id(), v1::PARAMETER_SET_MODEL, 0, dtype);
    ASSERT_TRUE(half.ok()) << half.status();
    double worst = 0;
    for (std::size_t i = 0; i < model.size(); i += 997) {
      if (std::fabs(model[i]) < 1e-3) continue;  // below f16's normal range the error is absolute
      worst = std::max(worst, std::fabs(static_cast<double>((*half)[i]) - model[i]) / std::fabs(model[i]));
    }
    EXPECT_LE(worst, tolerance) << WireDTypeName(dtype);
    EXPECT_GT(worst, 0) << "the wire really carried " << WireDTypeName(dtype);
  }
}

TEST_F(TrainTest, HalfPrecisionGradientsAndQueriesTrain) {
  for (WireDType dtype : {WireDType::kBF16, WireDType::kF16}) {
    const v1::Session session =
        CreateFromText(R"pb(spec { tensors { name: "x" shape: 512 } optimizer { sgd { lr: 0.2 } } })pb");
    std::vector<float> init(512, 1.0f);
    ASSERT_TRUE(client_->PutParameters(session.session_id(), v1::PARAMETER_SET_MODEL, init).ok());
    client::TrainOptions options;
    options.query_dtype = dtype;
    options.gradient_dtype = dtype;
    options.max_chunk_bytes = 100;  // many chunks per tick
    Drive(session.session_id(), 30, options);
    const std::vector<float> model = Model(session.session_id());
    double norm = 0;
    for (float v : model) norm += v * v;
    EXPECT_LT(std::sqrt(norm), 0.05 * std::sqrt(512.0)) << WireDTypeName(dtype) << " did not train";
  }
}

TEST_F(TrainTest, FourWorkersWithQuorumFourEqualOneWorkerSendingTheMean) {
  const v1::Session parallel = CreateFromText(R"pb(spec {
                                             tensors { name: "x" shape: 300 }
                                             seed: 3
                                             optimizer { sgld { lr: 0.01 temperature: 0.1 } }
                                             workers { num_workers: 4 }
                                           })pb");
  const v1::Session single = CreateFromText(R"pb(spec {
                                           tensors { name: "x" shape: 300 }
                                           seed: 3
                                           optimizer { sgld { lr: 0.01 temperature: 0.1 } }
                                         })pb");
  ASSERT_EQ(parallel.spec().workers().quorum(), 4);
  constexpr int kTicks = 15;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      client::TrainOptions options;
      options.worker_id = w;
      auto stream = client_->Train(parallel.session_id(), options);
      ASSERT_TRUE(stream.ok()) << stream.status();
      for (int k = 0; k < kTicks; ++k) {
        auto q = (*stream)->NextQuery();
        ASSERT_TRUE(q.ok()) << q.status();
        auto ack = (*stream)->Tell(q->tick, GradientAt(q->values, q->tick, w), 1.0);
        ASSERT_TRUE(ack.ok()) << ack.status();
      }
      ASSERT_TRUE((*stream)->Close().ok());
    });
  }
  for (auto& t : threads) t.join();

  auto stream = client_->Train(single.session_id());
  ASSERT_TRUE(stream.ok());
  for (int k = 0; k < kTicks; ++k) {
    auto q = (*stream)->NextQuery();
    ASSERT_TRUE(q.ok());
    std::vector<double> sum(300, 0.0);
    for (int w = 0; w < 4; ++w) {
      const auto g = GradientAt(q->values, q->tick, w);
      for (int i = 0; i < 300; ++i) sum[i] += g[i];
    }
    std::vector<float> mean(300);
    for (int i = 0; i < 300; ++i) mean[i] = static_cast<float>(sum[i] / 4);
    ASSERT_TRUE((*stream)->Tell(q->tick, mean, 1.0).ok());
  }
  ASSERT_TRUE((*stream)->Close().ok());
  const auto a = Model(parallel.session_id());
  const auto b = Model(single.session_id());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
}

TEST_F(TrainTest, QuorumThreeOfFourDropsExactlyOneGradientPerTick) {
  const v1::Session session = CreateFromText(R"pb(spec {
                                            tensors { name: "x" shape: 50 }
                                            optimizer { sgd { lr: 0.01 } }
                                            workers { num_workers: 4 quorum: 3 }
                                          })pb");
  constexpr int kTicks = 12;
  std::barrier everyone_has_the_query(4);
  std::atomic<int> dropped{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      client::TrainOptions options;
      options.worker_id = w;
      auto stream = client_->Train(session.session_id(), options);
      ASSERT_TRUE(stream.ok());
      for (int k = 0; k < kTicks; ++k) {
        auto q = (*stream)->NextQuery();
        ASSERT_TRUE(q.ok()) << q.status();
        ASSERT_EQ(q->tick, k);
        everyone_has_the_query.arrive_and_wait();  // lockstep: all four answer every tick
        auto ack = (*stream)->Tell(q->tick, GradientAt(q->values, q->tick, w), 1.0);
        ASSERT_TRUE(ack.ok()) << ack.status();
        if (ack->outcome() == v1::TickAck::OUTCOME_DROPPED) ++dropped;
      }
      ASSERT_TRUE((*stream)->Close().ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(dropped.load(), kTicks);
  EXPECT_EQ(client_->GetStats(session.session_id())->gradients_dropped(), kTicks);
  EXPECT_EQ(Tick(session.session_id()), kTicks);
}

TEST_F(TrainTest, ThirtyTwoConcurrentSessionsGiveTheSameResultsAsAlone) {
  constexpr int kSessions = 32, kTicks = 10;
  std::vector<v1::Session> sessions;
  for (int s = 0; s < kSessions; ++s) {
    sessions.push_back(CreateFromText(absl::StrCat(R"pb(spec { tensors { name: "x" shape: 64 } seed: )pb", s,
                                           s % 2 ? " optimizer { emcmc { lr: 0.01 temperature: 1 num_data: 10 } } }"
                                                 : " optimizer { entropy_sgd { L: 2 noise: 0.1 } } }")));
  }
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&, s] { Drive(sessions[s].session_id(), kTicks); });
  }
  for (auto& t : threads) t.join();
  for (int s = 0; s < kSessions; ++s) {
    auto alone = InProcess(sessions[s], kTicks);
    const auto model = Model(sessions[s].session_id());
    EXPECT_EQ(std::memcmp(model.data(), alone->Model().data(), model.size() * 4), 0) << "session " << s;
  }
}

TEST_F(TrainTest, PipelinedTicksAndSamplesOverTheWire) {
  const v1::Session session = CreateFromText(R"pb(spec {
                                            tensors { name: "x" shape: 40 }
                                            seed: 12
                                            optimizer { emcmc { lr: 0.01 temperature: 1 num_data: 10 eta: 0.5 } }
                                            samples { which: WHICH_BOTH thin: 2 max_samples: 8 }
                                          })pb");
  auto stream = client_->Train(session.session_id());
  ASSERT_TRUE(stream.ok());
  // Pipelined: send each gradient without waiting; the ack is read on the way to the next query.
  for (int k = 0; k < 6; ++k) {
    auto q = (*stream)->NextQuery();
    ASSERT_TRUE(q.ok()) << q.status();
    ASSERT_EQ(q->tick, k);
    if (k > 0) {
      EXPECT_EQ((*stream)->last_ack().tick(), k - 1);
    }
    ASSERT_TRUE((*stream)->SendGradient(q->tick, GradientAt(q->values, q->tick), LossAt(q->values)).ok());
  }
  ASSERT_TRUE((*stream)->Close().ok());
  EXPECT_EQ(Tick(session.session_id()), 6);

  auto listed = client_->ListSamples(session.session_id());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->samples_size(), 6);  // θ and θa after steps 2, 4 and 6
  EXPECT_EQ(listed->samples(0).step(), 2);
  EXPECT_EQ(listed->samples(0).which(), v1::PARAMETER_SET_MODEL);
  EXPECT_EQ(listed->samples(1).which(), v1::PARAMETER_SET_ANCHOR);
  EXPECT_EQ(listed->samples(5).step(), 6);

  auto reference = InProcess(session, 6);
  ASSERT_EQ(reference->samples().size(), 6u);
  for (int i = 0; i < 6; ++i) {
    auto values = client_->GetParameters(session.session_id(), v1::PARAMETER_SET_SAMPLE, i);
    ASSERT_TRUE(values.ok()) << values.status();
    EXPECT_EQ(std::memcmp(values->data(), reference->samples()[i].values.data(), 40 * 4), 0) << "sample " << i;
  }
}

// --- Status codes, each leaving the state unchanged -------------------------------------------

class TrainErrorTest : public TrainTest {
 protected:
  void SetUp() override {
    TrainTest::SetUp();
    session_ = CreateFromText(R"pb(spec {
                            tensors { name: "w" shape: [ 4, 25 ] }
                            tensors { name: "b" shape: 28 }
                            optimizer { sgd { lr: 0.1 momentum: 0.9 } }
                            workers { num_workers: 2 mode: MODE_SYNC quorum: 1 }
                          })pb");
    id_ = session_.session_id();
    Drive(id_, 3);
    before_ = Model(id_);
  }

  void ExpectUnchanged() {
    EXPECT_EQ(Tick(id_), 3);
    EXPECT_EQ(Model(id_), before_);
  }

  // Sends raw requests on a fresh attached stream and returns the final status.
  grpc::Status Raw(const std::vector<v1::TrainRequest>& requests) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = client_->stub().Train(&context);
    for (const auto& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    v1::TrainResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  static v1::TrainRequest Attach(const std::string& id, int worker = 0) {
    v1::TrainRequest r;
    r.mutable_attach()->set_session_id(id);
    r.mutable_attach()->set_worker_id(worker);
    return r;
  }
  static v1::TrainRequest Chunk(int64_t tick, const std::string& tensor, int64_t offset, int64_t n, bool last,
                                v1::DType dtype = v1::DTYPE_F32) {
    v1::TrainRequest r;
    r.mutable_gradient()->set_tick(tick);
    r.mutable_gradient()->set_last(last);
    r.mutable_gradient()->set_loss(1);
    auto& c = *r.mutable_gradient()->mutable_chunk();
    c.set_tensor(tensor);
    c.set_offset(offset);
    c.set_dtype(dtype);
    c.set_data(std::string(static_cast<std::size_t>(n) * 4, '\0'));
    return r;
  }

  v1::Session session_;
  std::string id_;
  std::vector<float> before_;
};

TEST_F(TrainErrorTest, EveryRejectionHasItsCodeAndChangesNothing) {
  struct Case {
    std::vector<v1::TrainRequest> requests;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{Attach("s-nope")}, grpc::StatusCode::NOT_FOUND, "no session 's-nope'"},
      {{Chunk(3, "w", 0, 100, false)}, grpc::StatusCode::INVALID_ARGUMENT, "first Train message must be an attach"},
      {{Attach(id_, 2)}, grpc::StatusCode::INVALID_ARGUMENT, "worker_id 2 is out of range: the session has 2"},
      {{Attach(id_), Chunk(3, "nope", 0, 100, true)}, grpc::StatusCode::INVALID_ARGUMENT, "nope"},
      {{Attach(id_), Chunk(3, "b", 0, 28, true)}, grpc::StatusCode::INVALID_ARGUMENT, "tensor 'w'"},
      {{Attach(id_), Chunk(3, "w", 50, 50, true)}, grpc::StatusCode::INVALID_ARGUMENT, "offset"},
      {{Attach(id_), Chunk(3, "w", 0, 60, false), Chunk(3, "w", 50, 50, false)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "offset"},
      {{Attach(id_), Chunk(3, "w", 0, 100, true)}, grpc::StatusCode::INVALID_ARGUMENT, "'b'"},
      {{Attach(id_), Chunk(3, "w", 0, 100, false), Chunk(4, "b", 0, 28, true)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "a chunk for tick 4 arrived inside tick 3's gradient"},
      {{Attach(id_), Chunk(3, "w", 0, 100, false)}, grpc::StatusCode::INVALID_ARGUMENT,
       "the stream ended in the middle of tick 3's gradient"},
      {{Attach(id_), Chunk(9, "w", 0, 100, false), Chunk(9, "b", 0, 28, true)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "gradient for tick 9 is from the future: the session is at tick 3"},
      {{Attach(id_), Chunk(3, "w", 0, 100, false, static_cast<v1::DType>(42))}, grpc::StatusCode::INVALID_ARGUMENT,
       "42"},
      {{Attach(id_), Chunk(3, "w", 0, 2'000'000, false)}, grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const Case& c : cases) {
    grpc::Status s = Raw(c.requests);
    EXPECT_EQ(s.error_code(), c.code) << c.message << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    ExpectUnchanged();
  }
  // NaN in a gradient.
  v1::TrainRequest nan_chunk = Chunk(3, "b", 0, 28, true);
  const float nan = std::nanf("");
  std::memcpy(nan_chunk.mutable_gradient()->mutable_chunk()->mutable_data()->data() + 8, &nan, 4);
  grpc::Status s = Raw({Attach(id_), Chunk(3, "w", 0, 100, false), nan_chunk});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("tensor 'b', index 2) is nan"));
  ExpectUnchanged();
}

TEST_F(TrainErrorTest, ParametersAndStaleTicks) {
  // Anchor of an optimizer without one; a sample that does not exist.
  auto anchor = client_->GetParameters(id_, v1::PARAMETER_SET_ANCHOR);
  EXPECT_EQ(anchor.status().code(), absl::StatusCode::kFailedPrecondition);
  auto sample = client_->GetParameters(id_, v1::PARAMETER_SET_SAMPLE, 3);
  EXPECT_THAT(std::string(sample.status().message()), HasSubstr("sample_index 3 is out of range"));
  // A model of the wrong size.
  absl::Status put = client_->PutParameters(id_, v1::PARAMETER_SET_MODEL, std::vector<float>(99, 1.0f));
  EXPECT_EQ(put.code(), absl::StatusCode::kInvalidArgument);
  ExpectUnchanged();

  // Mid-step PutParameters is FAILED_PRECONDITION (SAM between its two ticks).
  const v1::Session sam = CreateFromText(R"pb(spec { tensors { name: "x" shape: 8 } optimizer { sam {} } })pb");
  auto stream = client_->Train(sam.session_id());
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE((*stream)->Tell(q->tick, GradientAt(q->values, 0), 1).ok());
  put = client_->PutParameters(sam.session_id(), v1::PARAMETER_SET_MODEL, std::vector<float>(8, 1.0f));
  EXPECT_EQ(put.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(put.message()), HasSubstr("between outer steps"));
  ASSERT_TRUE((*stream)->Close().ok());

  // Async: a gradient older than the bound is ABORTED and not applied.
  const v1::Session async = CreateFromText(R"pb(spec {
                                          tensors { name: "x" shape: 8 }
                                          optimizer { sgd {} }
                                          workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 1 }
                                        })pb");
  Drive(async.session_id(), 3);
  client::TrainOptions late;
  late.worker_id = 1;
  auto stale = client_->Train(async.session_id(), late);
  ASSERT_TRUE(stale.ok());
  auto now = (*stale)->NextQuery();
  ASSERT_EQ(now->tick, 3);
  auto ack = (*stale)->Tell(1, GradientAt(now->values, 1), 1);
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(ack.status().message()), HasSubstr("gradient for tick 1 is 2 ticks old"));
  EXPECT_EQ(Tick(async.session_id()), 3);
}

TEST_F(TrainErrorTest, CancellationAndDeadlineMidTickLeaveThePreviousTick) {
  // Cancel after half the chunks.
  {
    grpc::ClientContext context;
    auto stream = client_->stub().Train(&context);
    ASSERT_TRUE(stream->Write(Attach(id_)));
    ASSERT_TRUE(stream->Write(Chunk(3, "w", 0, 100, false)));
    v1::TrainResponse response;
    ASSERT_TRUE(stream->Read(&response));  // the query point arrives, so the server is mid-tick
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // A deadline that passes between chunks.
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    auto stream = client_->stub().Train(&context);
    ASSERT_TRUE(stream->Write(Attach(id_)));
    ASSERT_TRUE(stream->Write(Chunk(3, "w", 0, 100, false)));
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    stream->Write(Chunk(3, "b", 0, 28, true));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  absl::SleepFor(absl::Milliseconds(100));  // let the server's handlers unwind
  ExpectUnchanged();
}

TEST_F(TrainErrorTest, DeletingASessionEndsItsStreams) {
  auto stream = client_->Train(id_);
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(client_->DeleteSession(id_).ok());
  auto ack = (*stream)->Tell(q->tick, GradientAt(q->values, q->tick), 1);
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ack.status().message()), HasSubstr(id_));
}

TEST_F(TrainErrorTest, DuplicateTickIsAcknowledgedOnce) {
  auto stream = client_->Train(id_);
  ASSERT_TRUE(stream.ok());
  auto q = (*stream)->NextQuery();
  ASSERT_EQ(q->tick, 3);
  ASSERT_EQ((*stream)->Tell(3, GradientAt(q->values, 3), 1)->outcome(), v1::TickAck::OUTCOME_APPLIED);
  const auto after = Model(id_);
  auto next = (*stream)->NextQuery();
  ASSERT_EQ(next->tick, 4);
  // A retry of tick 3 (say, after a lost ack) is not applied twice.
  auto again = (*stream)->Tell(3, GradientAt(q->values, 3), 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome(), v1::TickAck::OUTCOME_DUPLICATE);
  EXPECT_EQ(Model(id_), after);
  EXPECT_EQ(client_->GetStats(id_)->gradients_duplicate(), 1);
  ASSERT_TRUE((*stream)->Close().ok());
}

}  // namespace
}  // namespace basin
