// The snapshot and log formats: round trips, and every kind of damage found and named.
#include <cstring>
#include <string>

#include "absl/status/status.h"
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
