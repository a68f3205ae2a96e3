// soak: many Train streams against a running basin-server for a while, with mixed optimizers and
// random disconnects, then checks that nothing was lost and that the server's memory stayed flat
// (docs/reliability.md, "Soak"). scripts/soak starts the server and runs this against it.
//
//   soak --target=127.0.0.1:PORT --server_pid=PID [--streams=64] [--duration=60s] [--warmup=15s]
//
// Exits 0 when every check passed, 1 when one failed (each failure is printed), 2 when the soak
// could not run.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/soak/proc_status_sampler.h"
#include "bench/soak/soak_mix.h"
#include "bench/soak/soak_worker.h"
#include "bench/soak/status_tally.h"
#include "bench/soak/tick_ledger.h"
#include "client/cpp/basin_client.h"
#include "core/state_codec.h"

ABSL_FLAG(std::string, target, "", "basin-server's gRPC address, e.g. 127.0.0.1:50051 (required)");
ABSL_FLAG(int64_t, server_pid, 0, "the server's process id, whose VmRSS is sampled every second; 0: no memory check");
ABSL_FLAG(int32_t, streams, 64, "concurrent Train streams (one worker each), in [1, 1024]");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(60), "how long the streams train, in [1s, 24h]");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(15),
          "memory must stay flat after this much of the run; less than --duration");
ABSL_FLAG(absl::Duration, disconnect_every, absl::Seconds(2),
          "mean time between one stream's disconnects (half at random moments from another thread, half "
          "chosen by the worker: holding a query point, after a send, mid-tick, or a clean close)");
ABSL_FLAG(double, max_rss_growth_mib, 8, "the server's RSS may grow at most this many MiB after the warm-up ...");
ABSL_FLAG(double, max_rss_growth_fraction, 0.05, "... or this fraction of its RSS at the warm-up, whichever is more");
ABSL_FLAG(uint64_t, seed, 0, "seed of the disconnects and NaNs; 0: from the clock (printed)");

namespace basin::soak {
namespace {

constexpr double kMiB = 1024.0;  // KiB per MiB

struct Options {
  std::string target;
  pid_t server_pid = 0;
  int streams = 64;
  absl::Duration duration;
  absl::Duration warmup;
  absl::Duration disconnect_every;
  double max_rss_growth_mib = 0;
  double max_rss_growth_fraction = 0;
  uint64_t seed = 0;
};

struct RunningSession {
  SessionPlan plan;
  std::string id;
  std::vector<std::unique_ptr<SoakWorker>> workers;
  SessionEnd end;
};

// Cancels each worker's stream at random moments (exponential gaps, mean `mean`) until `stop`.
void CancelAtRandom(std::vector<SoakWorker*> workers, absl::Duration mean, uint64_t seed, const std::atomic<bool>& stop,
                    absl::Time deadline) {
  std::mt19937_64 random(seed);
  std::exponential_distribution<double> gap(1.0 / absl::ToDoubleSeconds(mean));
  std::vector<absl::Time> next(workers.size());
  for (absl::Time& t : next) t = absl::Now() + absl::Seconds(gap(random));
  for (int64_t round = 0; round < 100'000'000 && !stop && absl::Now() < deadline; ++round) {
    const absl::Time now = absl::Now();
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (now < next[i]) continue;
      workers[i]->slot().Cancel();
      next[i] = now + absl::Seconds(gap(random));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

struct MemorySummary {
  bool sampled = false;
  ProcStatus start, warmup, end;
  int64_t peak_kib = 0;  // after the warm-up
  double growth_mib = 0, bound_mib = 0;
};

// Growth is the highest RSS after the warm-up over the RSS at the warm-up, so memory that grows and
// is given back within the run still counts.
MemorySummary SummarizeMemory(const std::vector<ProcStatusSampler::Sample>& samples, const Options& options) {
  MemorySummary s;
  auto warm = std::find_if(samples.begin(), samples.end(),
                           [&](const ProcStatusSampler::Sample& x) { return x.at >= options.warmup; });
  if (warm == samples.end()) return s;
  s.sampled = true;
  s.start = samples.front().status;
  s.warmup = warm->status;
  s.end = samples.back().status;
  for (auto it = warm; it != samples.end(); ++it) s.peak_kib = std::max(s.peak_kib, it->status.rss_kib);
  s.growth_mib = static_cast<double>(s.peak_kib - s.warmup.rss_kib) / kMiB;
  s.bound_mib = std::max(options.max_rss_growth_mib,
                         options.max_rss_growth_fraction * static_cast<double>(s.warmup.rss_kib) / kMiB);
  return s;
}

// The server's view of each session after the run, the exported state decoded.
void ReadEnd(client::Client& client, RunningSession& s, StatusTally& statuses, std::vector<std::string>& violations) {
  const std::string who = absl::StrCat(s.plan.label, " (", s.id, ")");
  auto session = client.GetSession(s.id);
  auto stats = client.GetStats(s.id);
  auto checkpoint = client.ExportSession(s.id);
  for (const absl::Status& status : {session.status(), stats.status(), checkpoint.status()}) {
    if (status.ok()) {
      statuses.Expected(absl::StatusCode::kOk);
    } else {
      statuses.Unexpected(status, absl::StrCat(who, " at the end"));
    }
  }
  if (!session.ok() || !stats.ok() || !checkpoint.ok()) {
    violations.push_back(absl::StrCat(who, ": could not read the session after the run"));
    return;
  }
  s.end.session = *session;
  s.end.stats = *stats;
  v1::SessionCheckpoint parsed;
  if (!parsed.ParseFromString(*checkpoint)) {
    violations.push_back(absl::StrCat(who, ": ExportSession's ", checkpoint->size(), " bytes are not a checkpoint"));
    return;
  }
  auto state = DecodeState(parsed.state());
  if (!state.ok()) {
    violations.push_back(absl::StrCat(who, ": the exported state does not decode: ", state.status().ToString()));
    return;
  }
  s.end.checkpoint_tick = std::visit([](const auto& o) { return o->tick(); }, *state);
}

int Run(const Options& options) {
  std::printf(
      "soak: %d streams for %s against %s (warm-up %s, a disconnect per stream every %s on average, seed %llu)\n",
      options.streams, absl::FormatDuration(options.duration).c_str(), options.target.c_str(),
      absl::FormatDuration(options.warmup).c_str(), absl::FormatDuration(options.disconnect_every).c_str(),
      static_cast<unsigned long long>(options.seed));
  std::fflush(stdout);
  auto client = client::Client::Connect(options.target);
  StatusTally statuses;
  std::vector<RunningSession> sessions;
  for (SessionPlan& plan : PlanSessions(options.streams, absl::StrCat(options.seed))) {
    auto created = client->CreateSession(plan.request);
    if (!created.ok()) {
      std::fprintf(stderr, "soak: cannot create session '%s': %s\n", plan.label.c_str(),
                   created.status().ToString().c_str());
      return 2;
    }
    statuses.Expected(absl::StatusCode::kOk);
    RunningSession& s = sessions.emplace_back();
    s.plan = std::move(plan);
    s.id = created->session_id();
  }
  std::vector<SoakWorker*> all;
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    RunningSession& s = sessions[i];
    for (int w = 0; w < s.plan.workers; ++w) {
      WorkerConfig config;
      config.target = options.target;
      config.session_id = s.id;
      config.plan = &s.plan;
      config.session_index = static_cast<int>(i);
      config.worker_id = w;
      config.seed = options.seed * 1'000'003 + all.size();
      config.disconnect_every = 2 * options.disconnect_every;  // the canceller thread does the other half
      s.workers.push_back(std::make_unique<SoakWorker>(config));
      all.push_back(s.workers.back().get());
    }
  }

  std::unique_ptr<ProcStatusSampler> rss;
  if (options.server_pid > 0) rss = std::make_unique<ProcStatusSampler>(options.server_pid, absl::Seconds(1));
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.duration;
  const absl::Time hard_deadline = deadline + absl::Seconds(60);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::atomic<int> running{static_cast<int>(all.size())};
  for (SoakWorker* w : all) {
    threads.emplace_back([&, w] {
      w->Run(stop, hard_deadline);
      --running;
    });
  }
  std::thread canceller(CancelAtRandom, all, 2 * options.disconnect_every, options.seed + 17, std::cref(stop),
                        deadline);

  // Progress every 10 s; then stop, and cancel what still waits (a quorum whose peers stopped).
  for (absl::Time next = start + absl::Seconds(10); absl::Now() < deadline;) {
    absl::SleepFor(std::min(next, deadline) - absl::Now());
    if (absl::Now() >= next && next < deadline) {
      std::printf("soak: %4.0f s", absl::ToDoubleSeconds(absl::Now() - start));
      if (rss != nullptr && !rss->samples().empty()) {
        const ProcStatus last = rss->samples().back().status;
        std::printf(", server RSS %.1f MiB, %lld threads", static_cast<double>(last.rss_kib) / kMiB,
                    static_cast<long long>(last.threads));
      }
      std::printf("\n");
      std::fflush(stdout);
      next += absl::Seconds(10);
    }
  }
  const absl::Duration ran = absl::Now() - start;
  stop = true;
  canceller.join();
  absl::SleepFor(absl::Milliseconds(500));
  for (int round = 0; round < 240 && running > 0 && absl::Now() < hard_deadline; ++round) {
    for (SoakWorker* w : all) w->slot().Cancel();
    absl::SleepFor(absl::Milliseconds(250));
  }
  if (running > 0) {
    // A worker stuck in a call that ignores cancellation: report it rather than wait forever.
    std::printf("soak: FAIL: %d workers did not stop within a minute of the end\n", running.load());
    std::fflush(stdout);
    std::_Exit(1);
  }
  for (std::thread& t : threads) t.join();
  if (rss != nullptr) rss->Stop();

  // Checks.
  std::vector<std::string> violations;
  int64_t ticks = 0, state_bytes = 0;
  std::map<v1::TickAck::Outcome, int64_t> acks;
  WorkerCounts total;
  int64_t probes = 0, unacknowledged = 0;
  int64_t fates[static_cast<int>(WorkerLedger::Fate::kCount)] = {};
  for (RunningSession& s : sessions) {
    ReadEnd(*client, s, statuses, violations);
    std::vector<const WorkerLedger*> ledgers;
    for (const auto& w : s.workers) {
      ledgers.push_back(&w->ledger());
      statuses.Merge(w->statuses());
      const WorkerCounts& c = w->counts();
      total.ticks_sent += c.ticks_sent;
      total.nan_sent += c.nan_sent;
      total.reconnects += c.reconnects;
      total.fresh_channels += c.fresh_channels;
      total.resends += c.resends;
      total.ambiguous_restarts += c.ambiguous_restarts;
      for (int d = 0; d < static_cast<int>(Disconnect::kCount); ++d) total.disconnects[d] += c.disconnects[d];
      for (int o = v1::TickAck::OUTCOME_APPLIED; o <= v1::TickAck::OUTCOME_SKIPPED; ++o) {
        acks[static_cast<v1::TickAck::Outcome>(o)] += w->ledger().acks(static_cast<v1::TickAck::Outcome>(o));
      }
      probes += w->ledger().probes();
      for (int f = 0; f < static_cast<int>(WorkerLedger::Fate::kCount); ++f) {
        fates[f] += w->ledger().resolved(static_cast<WorkerLedger::Fate>(f));
      }
      unacknowledged += w->ledger().unacknowledged();
    }
    if (s.end.checkpoint_tick >= 0) {
      for (std::string& v : CheckSession(s.plan, s.end, ledgers)) violations.push_back(std::move(v));
    }
    ticks += s.end.session.tick();
    state_bytes += s.end.session.state_bytes();
  }
  if (statuses.unexpected_total() > 0) {
    violations.push_back(absl::StrCat(statuses.unexpected_total(), " calls ended with an unexpected status"));
  }
  MemorySummary memory;
  if (rss != nullptr) {
    memory = SummarizeMemory(rss->samples(), options);
    if (!rss->error().ok()) violations.push_back(absl::StrCat("sampling the server's RSS: ", rss->error().ToString()));
    if (!memory.sampled) {
      violations.push_back("no RSS sample after the warm-up");
    } else if (memory.growth_mib > memory.bound_mib) {
      violations.push_back(absl::StrFormat("the server's RSS grew %.1f MiB after the warm-up (bound %.1f MiB)",
                                           memory.growth_mib, memory.bound_mib));
    }
  }

  // Summary.
  const double seconds = absl::ToDoubleSeconds(ran);
  std::printf("\n%-44s %7s %9s %8s %9s %9s %8s %8s %10s\n", "session", "workers", "ticks", "ticks/s", "APPLIED",
              "DUPLICATE", "DROPPED", "SKIPPED", "reconnects");
  for (const RunningSession& s : sessions) {
    int64_t applied = 0, duplicate = 0, dropped = 0, skipped = 0, reconnects = 0;
    for (const auto& w : s.workers) {
      applied += w->ledger().acks(v1::TickAck::OUTCOME_APPLIED);
      duplicate += w->ledger().acks(v1::TickAck::OUTCOME_DUPLICATE);
      dropped += w->ledger().acks(v1::TickAck::OUTCOME_DROPPED);
      skipped += w->ledger().acks(v1::TickAck::OUTCOME_SKIPPED);
      reconnects += w->counts().reconnects;
    }
    std::printf("%-44s %7d %9lld %8.0f %9lld %9lld %8lld %8lld %10lld\n", s.plan.label.c_str(), s.plan.workers,
                static_cast<long long>(s.end.session.tick()), static_cast<double>(s.end.session.tick()) / seconds,
                static_cast<long long>(applied), static_cast<long long>(duplicate), static_cast<long long>(dropped),
                static_cast<long long>(skipped), static_cast<long long>(reconnects));
  }
  std::printf("\nstreams %d, sessions %zu, %.1f s: %lld ticks, %.0f ticks/s; %lld gradients sent (%lld with NaN)\n",
              options.streams, sessions.size(), seconds, static_cast<long long>(ticks),
              static_cast<double>(ticks) / seconds, static_cast<long long>(total.ticks_sent),
              static_cast<long long>(total.nan_sent));
  std::printf("acks:");
  for (const auto& [outcome, n] : acks) {
    std::printf(" %s %lld", v1::TickAck::Outcome_Name(outcome).c_str(), static_cast<long long>(n));
  }
  std::printf("\nstatus codes (expected):");
  for (const auto& [code, n] : statuses.expected())
    std::printf(" %s %lld", CodeName(code).c_str(), static_cast<long long>(n));
  std::printf("\nstatus codes (unexpected):");
  if (statuses.unexpected().empty()) std::printf(" none");
  for (const auto& [code, n] : statuses.unexpected()) {
    std::printf(" %s %lld", CodeName(code).c_str(), static_cast<long long>(n));
  }
  std::printf("\ndisconnects:");
  for (int d = 0; d < static_cast<int>(Disconnect::kCount); ++d) {
    std::printf("%s %s %lld", d == 0 ? "" : ",", DisconnectName(static_cast<Disconnect>(d)),
                static_cast<long long>(total.disconnects[d]));
  }
  std::printf(
      "\nreconnects %lld (%lld on a new channel), streams restarted after a resend %lld\n"
      "sends whose ack was never read %lld, resent %lld times until known: %lld had been applied (DUPLICATE), "
      "%lld applied by the resend, %lld not applied (dropped, skipped or too stale)\n"
      "acknowledged gradients resent %lld (each must be DUPLICATE)\n",
      static_cast<long long>(total.reconnects), static_cast<long long>(total.fresh_channels),
      static_cast<long long>(total.ambiguous_restarts), static_cast<long long>(unacknowledged),
      static_cast<long long>(total.resends),
      static_cast<long long>(fates[static_cast<int>(WorkerLedger::Fate::kAppliedBefore)]),
      static_cast<long long>(fates[static_cast<int>(WorkerLedger::Fate::kAppliedByResend)]),
      static_cast<long long>(fates[static_cast<int>(WorkerLedger::Fate::kNotApplied)]), static_cast<long long>(probes));
  std::printf("state: %.2f MiB in %zu sessions\n", static_cast<double>(state_bytes) / kMiB / kMiB, sessions.size());
  if (memory.sampled) {
    std::printf(
        "server RSS: %.1f MiB at the start, %.1f MiB at the warm-up (%s), %.1f MiB at the end, peak after "
        "the warm-up %.1f MiB: growth %.1f MiB (bound %.1f MiB); threads %lld, %lld, %lld\n",
        static_cast<double>(memory.start.rss_kib) / kMiB, static_cast<double>(memory.warmup.rss_kib) / kMiB,
        absl::FormatDuration(options.warmup).c_str(), static_cast<double>(memory.end.rss_kib) / kMiB,
        static_cast<double>(memory.peak_kib) / kMiB, memory.growth_mib, memory.bound_mib,
        static_cast<long long>(memory.start.threads), static_cast<long long>(memory.warmup.threads),
        static_cast<long long>(memory.end.threads));
  }
  for (const std::string& m : statuses.messages()) std::printf("unexpected: %s\n", m.c_str());
  if (violations.empty()) {
    std::printf("soak: PASS\n");
    return 0;
  }
  for (const std::string& v : violations) std::printf("VIOLATION: %s\n", v.c_str());
  std::printf("soak: FAIL (%zu violations)\n", violations.size());
  return 1;
}

}  // namespace
}  // namespace basin::soak

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "soak --target=127.0.0.1:PORT [--server_pid=PID] [--streams=64] [--duration=60s] [--warmup=15s]: many Train "
      "streams with mixed optimizers and random disconnects against a running basin-server; checks that no tick is "
      "lost and that the server's memory stays flat (docs/reliability.md, Soak)");
  absl::ParseCommandLine(argc, argv);
  basin::soak::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.server_pid = static_cast<pid_t>(absl::GetFlag(FLAGS_server_pid));
  options.streams = absl::GetFlag(FLAGS_streams);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.disconnect_every = absl::GetFlag(FLAGS_disconnect_every);
  options.max_rss_growth_mib = absl::GetFlag(FLAGS_max_rss_growth_mib);
  options.max_rss_growth_fraction = absl::GetFlag(FLAGS_max_rss_growth_fraction);
  options.seed = absl::GetFlag(FLAGS_seed);
  if (options.seed == 0) options.seed = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  auto refuse = [](const std::string& why) {
    std::fprintf(stderr, "soak: %s\n", why.c_str());
    return 2;
  };
  if (options.target.empty()) return refuse("--target is required");
  if (options.streams < 1 || options.streams > 1024) {
    return refuse(absl::StrCat("--streams must be in [1, 1024], got ", options.streams));
  }
  if (options.duration < absl::Seconds(1) || options.duration > absl::Hours(24)) {
    return refuse(absl::StrCat("--duration must be in [1s, 24h], got ", absl::FormatDuration(options.duration)));
  }
  if (options.warmup < absl::ZeroDuration() || options.warmup >= options.duration) {
    return refuse(absl::StrCat("--warmup must be in [0, --duration), got ", absl::FormatDuration(options.warmup)));
  }
  if (options.disconnect_every < absl::Milliseconds(10)) {
    return refuse(
        absl::StrCat("--disconnect_every must be at least 10ms, got ", absl::FormatDuration(options.disconnect_every)));
  }
  if (options.server_pid < 0) return refuse(absl::StrCat("--server_pid must be >= 0, got ", options.server_pid));
  return basin::soak::Run(options);
}
