// The snapshot and log formats: round trips, and every kind of damage found and named.
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/byte_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/session_image.h"
#include "server/persistence/wal_format.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

SessionImage SampleImage() {
  SessionImage image;
  image.id = "s-0123456789ab-0001";
  image.tenant = "alice";
  image.metrics_run = "run.1";
  image.request_id = "req";
  image.fingerprint = std::string("\0\1\2", 3);
  image.workers = WorkerPolicy{4, WorkerPolicy::Mode::kSync, 3, 0};
  image.durability = Durability{Durability::Mode::kEveryTick, absl::Seconds(2.5)};
  image.nonfinite_policy = NonFinitePolicy::kSkip;
  image.last_seq = 77;
  image.counters = SessionCounters{1, 2, 3, 9};
  image.last_tick_of_worker = {{0, 10}, {3, 9}};
  image.pending[1] = PendingContribution{{1.5, -2.25, 3}, 0.75, 32};
  image.pending[2] = PendingContribution{{0, 0, 1e-300}, 1.25, 16};
  image.state = "opaque state bytes";
  return image;
}

TEST(SnapshotFormatTest, RoundTripsEveryField) {
  const SessionImage in = SampleImage();
  auto out = DecodeSnapshot(EncodeSnapshot(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->id, in.id);
  EXPECT_EQ(out->tenant, in.tenant);
  EXPECT_EQ(out->metrics_run, in.metrics_run);
  EXPECT_EQ(out->request_id, in.request_id);
  EXPECT_EQ(out->fingerprint, in.fingerprint);
  EXPECT_EQ(out->workers.num_workers, 4);
  EXPECT_EQ(out->workers.quorum, 3);
  EXPECT_EQ(out->durability.mode, Durability::Mode::kEveryTick);
  EXPECT_EQ(out->durability.snapshot_interval, absl::Seconds(2.5));
  EXPECT_EQ(out->nonfinite_policy, NonFinitePolicy::kSkip);
  EXPECT_EQ(out->counters.gradients_skipped, 9);
  EXPECT_EQ(out->last_seq, 77u);
  EXPECT_EQ(out->counters.gradients_stale_applied, 3);
  EXPECT_EQ(out->last_tick_of_worker, in.last_tick_of_worker);
  ASSERT_EQ(out->pending.size(), 2u);
  EXPECT_EQ(out->pending.at(1).gradient, in.pending.at(1).gradient);
  EXPECT_EQ(out->pending.at(2).loss, 1.25);
  EXPECT_EQ(out->pending.at(1).weight, 32);
  EXPECT_EQ(out->state, in.state);
}

TEST(SnapshotFormatTest, EveryFlippedByteAndEveryTruncationIsDataLoss) {
  const std::string bytes = EncodeSnapshot(SampleImage());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x20;
    EXPECT_EQ(DecodeSnapshot(damaged).status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeSnapshot(bytes.substr(0, n)).status().code(), absl::StatusCode::kDataLoss) << "length " << n;
  }
  EXPECT_THAT(std::string(DecodeSnapshot(bytes + "x").status().message()), HasSubstr("checksum"));
  EXPECT_THAT(std::string(DecodeSnapshot("hello").status().message()), HasSubstr("not a basin snapshot"));
}

TEST(SnapshotFormatTest, TheFingerprintMayBeAsLongAsARequestTheOtherStringsNot) {
  SessionImage image = SampleImage();
  image.fingerprint = std::string(1 << 20, 'f');  // a request carrying a model's initial values
  auto decoded = DecodeSnapshot(EncodeSnapshot(image));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->fingerprint, image.fingerprint);

  image.tenant = std::string(4097, 't');
  auto refused = DecodeSnapshot(EncodeSnapshot(image));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("4097 bytes long; the limit is 4096"));
}

// The encoder writes worker ids in ascending order; a snapshot with them in another order (or
// repeated) was not written by it, and would be written back differently: refused.
TEST(SnapshotFormatTest, WorkerIdsOutOfOrderOrRepeatedAreDataLoss) {
  const SessionImage image = SampleImage();  // last ticks of workers 0 and 3; workers 1 and 2 wait
  const std::string bytes = EncodeSnapshot(image);
  auto resealed = [](std::string b) {
    const uint32_t crc = Crc32c(absl::string_view(b).substr(0, b.size() - 4));
    std::memcpy(b.data() + b.size() - 4, &crc, 4);
    return b;
  };
  // The two (i32 worker, i64 tick) entries, then the pending gradients' entries, by their worker ids.
  auto entry = [&](int32_t worker, int64_t tick) {
    std::string e(12, '\0');
    std::memcpy(e.data(), &worker, 4);
    std::memcpy(e.data() + 4, &tick, 8);
    return e;
  };
  const std::size_t at = bytes.find(entry(0, 10) + entry(3, 9));
  ASSERT_NE(at, std::string::npos);
  std::string swapped = bytes;
  swapped.replace(at, 24, entry(3, 9) + entry(0, 10));
  std::string repeated = bytes;
  repeated.replace(at, 24, entry(3, 9) + entry(3, 9));
  for (const auto& [damaged, worker] : {std::pair{swapped, 0}, std::pair{repeated, 3}}) {
    auto refused = DecodeSnapshot(resealed(damaged));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr(absl::StrCat("worker id ", worker, " is out of range, repeated or out of order")));
  }
  // Pending: worker 1's entry (i32 1, f64 loss 0.75) and worker 2's (i32 2, f64 1.25) swapped in place.
  const double loss1 = 0.75, loss2 = 1.25;
  std::string first(12, '\0'), second(12, '\0');
  const int32_t one = 1, two = 2;
  std::memcpy(first.data(), &one, 4);
  std::memcpy(first.data() + 4, &loss1, 8);
  std::memcpy(second.data(), &two, 4);
  std::memcpy(second.data() + 4, &loss2, 8);
  std::string pending = bytes;
  const std::size_t p1 = pending.find(first), p2 = pending.find(second);
  ASSERT_NE(p1, std::string::npos);
  ASSERT_NE(p2, std::string::npos);
  std::memcpy(pending.data() + p1, &two, 4);
  std::memcpy(pending.data() + p2, &one, 4);
  auto refused = DecodeSnapshot(resealed(pending));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("pending worker id 1 is out of range, repeated or out of order"));
}

// Whatever decodes encodes to the same bytes: every snapshot interval a session can have (the
// seconds of absl::Seconds(x), x in [0, 1 year]) reads back as a Duration that is written back the
// same, and one the encoder would not write is refused rather than silently rounded.
TEST(SnapshotFormatTest, SnapshotIntervalsRoundTripExactlyAndOthersAreDataLoss) {
  std::vector<double> seconds = {0, 1e-10, 0.1, 1.0 / 3, 2.5, 86400.123456789, 31536000};
  std::mt19937_64 random(7);
  for (int i = 0; i < 2000; ++i) {
    seconds.push_back(std::ldexp(std::uniform_real_distribution<double>(0.5, 1)(random),
                                 std::uniform_int_distribution<int>(-40, 24)(random)));
  }
  SessionImage image = SampleImage();
  for (double x : seconds) {
    image.durability.snapshot_interval = absl::Seconds(x);
    const std::string bytes = EncodeSnapshot(image);
    auto decoded = DecodeSnapshot(bytes);
    ASSERT_TRUE(decoded.ok()) << x << ": " << decoded.status();
    // Seconds in a double hold a quarter-nanosecond count exactly up to about 24 days; up to a year,
    // to within half their spacing there (3.7 ns).
    EXPECT_LE(absl::AbsDuration(decoded->durability.snapshot_interval - image.durability.snapshot_interval),
              absl::Nanoseconds(2.5))
        << x;
    EXPECT_EQ(EncodeSnapshot(*decoded), bytes) << x;
  }
  for (double x : {std::nextafter(2.5, 3.0), -0.0, 1e19}) {
    image.durability.snapshot_interval = absl::Seconds(2.5);
    std::string bytes = EncodeSnapshot(image);
    const std::size_t at = bytes.find(std::string("\0\0\0\0\0\0\x04\x40", 8));
    ASSERT_NE(at, std::string::npos);
    std::memcpy(bytes.data() + at, &x, 8);
    const uint32_t crc = Crc32c(absl::string_view(bytes).substr(0, bytes.size() - 4));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    auto refused = DecodeSnapshot(bytes);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << x;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("is not one the encoder writes")) << x;
  }
}

// What Session::SubmitGradient can leave at tick 10 over 3 f32 parameters, then each thing it
// cannot.
TEST(WorkerBookkeepingTest, WhatSubmittingLeavesPassesAnythingElseIsDataLoss) {
  const SessionImage image = SampleImage();  // sync, quorum 3 of 4; workers 1 and 2 wait
  auto with = [&](const std::function<void(SessionImage&)>& change) {
    SessionImage changed = image;
    changed.last_tick_of_worker = {{0, 9}, {1, 10}, {2, 10}, {3, 4}};
    change(changed);
    return CheckWorkerBookkeeping(changed, 10, 3, DType::kF32);
  };
  EXPECT_TRUE(with([](SessionImage&) {}).ok());
  // RunObjective moves the tick without the workers: a waiting gradient may be from an older tick.
  EXPECT_TRUE(with([](SessionImage& i) { i.last_tick_of_worker[1] = 7; }).ok());
  EXPECT_TRUE(with([](SessionImage& i) { i.pending.clear(); i.last_tick_of_worker = {{0, 9}}; }).ok());

  struct Case {
    const char* message;
    std::function<void(SessionImage&)> change;
  };
  const Case refused[] = {
      {"worker 3 last sent tick 11 at session tick 10", [](SessionImage& i) { i.last_tick_of_worker[3] = 11; }},
      {"worker 0 last sent tick 10 at session tick 10 without a gradient waiting",
       [](SessionImage& i) { i.last_tick_of_worker[0] = 10; }},
      {"worker 3 last sent tick -1", [](SessionImage& i) { i.last_tick_of_worker[3] = -1; }},
      {"wait for a quorum in a async session", [](SessionImage& i) { i.workers.mode = WorkerPolicy::Mode::kAsync; }},
      {"with quorum 1", [](SessionImage& i) { i.workers.quorum = 1; }},
      {"2 gradients wait for a quorum of 2, which they complete", [](SessionImage& i) { i.workers.quorum = 2; }},
      {"worker 2's gradient waits in the quorum, but it never sent",
       [](SessionImage& i) { i.last_tick_of_worker.erase(2); }},
      {"worker 1's pending gradient has 4 values for 3 parameters",
       [](SessionImage& i) { i.pending[1].gradient.push_back(0); }},
      {"worker 2's pending gradient has loss 1.25 and weight 0", [](SessionImage& i) { i.pending[2].weight = 0; }},
      {"worker 1's pending gradient has loss inf", [](SessionImage& i) { i.pending[1].loss = INFINITY; }},
      {"worker 2's pending gradient holds nan at index 1", [](SessionImage& i) { i.pending[2].gradient[1] = NAN; }},
      {"worker 1's pending gradient holds 1e+39 at index 2",  // beyond float: not from an f32 session
       [](SessionImage& i) { i.pending[1].gradient[2] = 1e39; }},
      {"negative counters: dropped -1", [](SessionImage& i) { i.counters.gradients_dropped = -1; }},
  };
  for (const Case& c : refused) {
    const absl::Status s = with(c.change);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.message;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
  }
}

WalRecord Gradient(uint64_t seq, std::vector<float> values) {
  WalRecord r;
  r.seq = seq;
  r.worker = 2;
  r.tick = static_cast<int64_t>(seq) * 10;
  r.loss = 0.5;
  r.batch_size = 64;
  r.values.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return r;
}

std::string Log(uint64_t first, int records) {
  std::string log = EncodeWalHeader("s-1", first);
  for (int i = 0; i < records; ++i) {
    const WalRecord r = Gradient(first + i, {1.0f * i, -2.0f, 3.5f});
    log += EncodeWalRecordPrefix(r, r.values) + r.values;
  }
  return log;
}

TEST(WalFormatTest, RecordsRoundTripInOrder) {
  auto contents = ParseWal(Log(5, 3));
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->session_id, "s-1");
  EXPECT_EQ(contents->first_seq, 5u);
  ASSERT_EQ(contents->records.size(), 3u);
  EXPECT_EQ(contents->records[2].seq, 7u);
  EXPECT_EQ(contents->records[2].tick, 70);
  EXPECT_EQ(contents->records[2].worker, 2);
  EXPECT_EQ(contents->records[2].batch_size, 64);
  EXPECT_EQ(contents->records[2].values, Gradient(7, {2.0f, -2.0f, 3.5f}).values);
  EXPECT_EQ(contents->torn_bytes, 0u);
  EXPECT_EQ(contents->valid_bytes, Log(5, 3).size());
}

TEST(WalFormatTest, AnyCutInTheLastRecordIsATornTailAndKeepsTheRecordsBefore) {
  const std::string two = Log(1, 2);
  const std::string three = Log(1, 3);
  for (std::size_t n = two.size() + 1; n < three.size(); ++n) {
    auto contents = ParseWal(three.substr(0, n));
    ASSERT_TRUE(contents.ok()) << "cut at " << n << ": " << contents.status();
    EXPECT_EQ(contents->records.size(), 2u);
    EXPECT_EQ(contents->valid_bytes, two.size());
    EXPECT_EQ(contents->torn_bytes, n - two.size());
  }
  // A zero-filled tail (a machine crash with allocated, unwritten blocks) is torn too.
  auto zeros = ParseWal(two + std::string(100, '\0'));
  ASSERT_TRUE(zeros.ok()) << zeros.status();
  EXPECT_EQ(zeros->records.size(), 2u);
  EXPECT_EQ(zeros->torn_bytes, 100u);
  // The last record complete but failing its checksum: torn (a write cut short on the disk).
  std::string bad_last = three;
  bad_last[bad_last.size() - 1] ^= 1;
  auto torn = ParseWal(bad_last);
  ASSERT_TRUE(torn.ok());
  EXPECT_EQ(torn->records.size(), 2u);
}

TEST(WalFormatTest, DamageBeforeTheTailIsDataLossNotATruncation) {
  const std::string log = Log(1, 3);
  const std::size_t header = EncodeWalHeader("s-1", 1).size();
  std::string damaged = log;
  damaged[header + 20] ^= 1;  // inside the first record
  auto result = ParseWal(damaged);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("the log is damaged"));

  std::string bad_header = log;
  bad_header[9] ^= 1;
  EXPECT_EQ(ParseWal(bad_header).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseWal("BASNWAL").status().code(), absl::StatusCode::kDataLoss);

  // Records out of sequence: a log spliced from two others.
  std::string spliced = EncodeWalHeader("s-1", 1);
  for (uint64_t seq : {1, 3}) {
    const WalRecord r = Gradient(seq, {1});
    spliced += EncodeWalRecordPrefix(r, r.values) + r.values;
  }
  EXPECT_THAT(std::string(ParseWal(spliced).status().message()), HasSubstr("sequence number 3 where 2"));
}

}  // namespace
}  // namespace basin
