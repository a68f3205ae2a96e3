#ifndef BASIN_TESTS_SERVER_BAD_INPUT_FIXTURE_H_
#define BASIN_TESTS_SERVER_BAD_INPUT_FIXTURE_H_

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_server.h"

namespace basin::testing {

// Everything a client can observe of the server's sessions, by id: the Session (tick, step, phase,
// spec), its stats (counters, losses, norms) and its checkpoint (every state variable bit for bit,
// the noise position and the samples). Two equal states are the same server as far as any RPC
// can tell.
struct ServerState {
  struct OfSession {
    std::string session;     // v1::Session, serialized
    std::string stats;       // v1::SessionStats, serialized
    std::string checkpoint;  // ExportSession's bytes
  };
  std::map<std::string, OfSession> sessions;
};

// A server holding one session with history, and the means to send it malformed requests and
// check that nothing changed. The session is EMCMC (model, anchor, both momenta, noise, samples)
// with two sync workers and quorum 1, three ticks in; its layout is w [4, 25] then b [28].
class BadInputTest : public LoopbackServerTest {
 protected:
  void SetUp() override {
    LoopbackServerTest::SetUp();
    session_ = CreateFromText(R"pb(spec {
                                     tensors { name: "w" shape: [ 4, 25 ] }
                                     tensors { name: "b" shape: 28 }
                                     optimizer { emcmc { lr: 0.01 momentum: 0.9 temperature: 1 num_data: 100 } }
                                     samples { which: WHICH_BOTH max_samples: 4 }
                                     seed: 5
                                     workers { num_workers: 2 quorum: 1 }
                                   })pb");
    id_ = session_.session_id();
    Drive(id_, kTicks, SmoothGradient);
    before_ = State();
  }

  // A gradient that depends on the point and the tick, and its loss.
  static std::pair<std::vector<float>, double> SmoothGradient(const client::Query& q, int) {
    std::vector<float> g(q.values.size());
    double loss = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      g[i] = q.values[i] - 0.25f + 0.01f * static_cast<float>((q.tick * 7 + static_cast<int64_t>(i)) % 13);
      loss += 0.5 * g[i] * g[i];
    }
    return {g, loss};
  }

  ServerState State() {
    ServerState state;
    auto sessions = client_->ListSessions();
    EXPECT_TRUE(sessions.ok()) << sessions.status();
    if (!sessions.ok()) return state;
    for (const v1::Session& s : *sessions) {
      auto stats = client_->GetStats(s.session_id());
      auto checkpoint = client_->ExportSession(s.session_id());
      EXPECT_TRUE(stats.ok() && checkpoint.ok()) << s.session_id();
      state.sessions[s.session_id()] = {s.SerializeAsString(), stats.ok() ? stats->SerializeAsString() : "",
                                        checkpoint.value_or("")};
    }
    return state;
  }

  // The server is as it was after SetUp (or the last Remember()).
  void ExpectUnchanged() { ExpectSameState(before_, State()); }
  // Takes the current state as the one later refusals must leave.
  void Remember() { before_ = State(); }

  static void ExpectSameState(const ServerState& expected, const ServerState& actual) {
    std::vector<std::string> expected_ids, actual_ids;
    for (const auto& [id, s] : expected.sessions) expected_ids.push_back(id);
    for (const auto& [id, s] : actual.sessions) actual_ids.push_back(id);
    ASSERT_EQ(actual_ids, expected_ids) << "the set of sessions changed";
    for (const auto& [id, e] : expected.sessions) {
      const ServerState::OfSession& a = actual.sessions.at(id);
      EXPECT_EQ(Parse<v1::Session>(a.session).DebugString(), Parse<v1::Session>(e.session).DebugString()) << id;
      EXPECT_EQ(Parse<v1::SessionStats>(a.stats).DebugString(), Parse<v1::SessionStats>(e.stats).DebugString())
          << id;
      EXPECT_TRUE(a.checkpoint == e.checkpoint) << id << ": the checkpoint (state, noise, samples) changed";
    }
  }

  template <typename Message>
  static Message Parse(const std::string& bytes) {
    Message m;
    EXPECT_TRUE(m.ParseFromString(bytes));
    return m;
  }

  // --- raw requests ------------------------------------------------------------------------------

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  // Writes `requests` on a new Train stream, half-closes it, reads every response and returns the
  // final status.
  grpc::Status RawTrain(const std::vector<v1::TrainRequest>& requests,
                        std::vector<v1::TrainResponse>* responses = nullptr) {
    auto context = Context();
    auto stream = client_->stub().Train(context.get());
    for (const auto& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    v1::TrainResponse response;
    while (stream->Read(&response)) {
      if (responses != nullptr) responses->push_back(response);
    }
    return stream->Finish();
  }

  static v1::TrainRequest Attach(const std::string& id, int worker = 0) {
    v1::TrainRequest r;
    r.mutable_attach()->set_session_id(id);
    r.mutable_attach()->set_worker_id(worker);
    return r;
  }

  // `n` little-endian f32 values, `value` at index `at` and 0.5 elsewhere.
  static std::string F32(int64_t n, int64_t at = -1, float value = 0) {
    std::vector<float> v(static_cast<std::size_t>(n), 0.5f);
    if (at >= 0) v[static_cast<std::size_t>(at)] = value;
    std::string bytes(v.size() * 4, '\0');
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return bytes;
  }

  static v1::TensorChunk Chunk(const std::string& tensor, int64_t offset, std::string data,
                               v1::DType dtype = v1::DTYPE_F32) {
    v1::TensorChunk c;
    c.set_tensor(tensor);
    c.set_offset(offset);
    c.set_dtype(dtype);
    c.set_data(std::move(data));
    return c;
  }

  static v1::TrainRequest Gradient(int64_t tick, v1::TensorChunk chunk, bool last, double loss = 1,
                                   double batch_size = 0) {
    v1::TrainRequest r;
    v1::GradientChunk& g = *r.mutable_gradient();
    g.set_tick(tick);
    *g.mutable_chunk() = std::move(chunk);
    g.set_last(last);
    if (last) {
      g.set_loss(loss);
      g.set_batch_size(batch_size);
    }
    return r;
  }

  // A whole, finite gradient for `tick` of the fixture's layout, in two chunks.
  static std::vector<v1::TrainRequest> WholeGradient(int64_t tick, double loss = 1, double batch_size = 0) {
    return {Gradient(tick, Chunk("w", 0, F32(100)), false), Gradient(tick, Chunk("b", 0, F32(28)), true, loss, batch_size)};
  }

  // Sends `chunks` after a PutTarget of `which` for `id` and returns the final status.
  grpc::Status RawPut(const std::string& id, v1::ParameterSet which, const std::vector<v1::TensorChunk>& chunks) {
    std::vector<v1::PutParametersRequest> requests(1);
    requests[0].mutable_target()->set_session_id(id);
    requests[0].mutable_target()->set_which(which);
    for (const auto& c : chunks) *requests.emplace_back().mutable_chunk() = c;
    return RawPut(requests);
  }
  grpc::Status RawPut(const std::vector<v1::PutParametersRequest>& requests) {
    auto context = Context();
    v1::PutParametersResponse response;
    auto writer = client_->stub().PutParameters(context.get(), &response);
    for (const auto& r : requests) {
      if (!writer->Write(r)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static constexpr int kTicks = 3;
  v1::Session session_;
  std::string id_;
  ServerState before_;
};

}  // namespace basin::testing

#endif  // BASIN_TESTS_SERVER_BAD_INPUT_FIXTURE_H_
