// basin-server: the optimizer service. `basin-server --help` lists every flag.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "core/parallel_for.h"
#include "server/basin_server.h"
#include "server/flag_spelling.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC address to listen on; port 0 picks a free port (the chosen address is printed)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "HTTP address where Prometheus scrapes GET /metrics; port 0 picks a free port (printed); "
          "`none` turns the endpoint off");
ABSL_FLAG(int32_t, max_metric_runs, 64,
          "most sessions with a per-run metrics label (SessionSpec.metrics_run) at once");
ABSL_FLAG(int64_t, max_sessions, 1024, "most sessions held at once");
ABSL_FLAG(int64_t, max_sessions_per_tenant, 0, "most sessions one tenant holds at once; 0: no limit per tenant");
ABSL_FLAG(int64_t, max_parameters_per_session, int64_t{1} << 30, "most parameters in one session's layout");
ABSL_FLAG(int64_t, max_total_state_bytes, int64_t{16} << 30, "most bytes of optimizer state over all sessions");
ABSL_FLAG(int64_t, max_state_bytes_per_tenant, 0,
          "most bytes of optimizer state over one tenant's sessions; 0: no limit per tenant");
ABSL_FLAG(int64_t, max_chunk_bytes, int64_t{4} << 20, "largest tensor chunk a client may send");
ABSL_FLAG(int32_t, max_workers_per_session, 64, "most workers one session may declare");
ABSL_FLAG(int64_t, max_checkpoints_per_tenant, 64,
          "most server-side checkpoints (the Checkpoint RPC) one tenant keeps; 0: no limit");
ABSL_FLAG(std::string, data_dir, "./basin-data",
          "where sessions persist (snapshots and logs; docs/persistence.md); `none`: memory only, "
          "every session durability none");
ABSL_FLAG(absl::Duration, idle_session_ttl, absl::Minutes(30),
          "a persisted session that no call has used for this long is written out and dropped from memory, "
          "and reloaded at its next use; 0: keep every session in memory");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::Seconds(30),
          "how often a periodic session that changed is snapshotted (a session may choose its own)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the server: the port speaks TLS (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "mutual TLS: PEM CA(s); a client must present a certificate that verifies against them");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "file of `tenant token` lines (docs/security.md): every basin.v1.Optimizer call needs "
          "`authorization: Bearer <token>` and sees only its tenant's sessions; health and reflection stay open");
ABSL_FLAG(int32_t, kernel_threads, 0,
          "threads one large optimizer pass may use (tensors of 2^18 elements or more are split); 0: one per core. "
          "Results do not depend on it");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(20),
          "on SIGTERM/SIGINT: how long running ticks may take before streams are cancelled");


int main(int argc, char** argv) {
  // Signals go to one thread that waits for them; every other thread inherits the block. First
  // thing, so a SIGTERM during start-up is a drain rather than the default kill.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // --help lists the flags of this file (Abseil's default looks for a file named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::EndsWith(file, "server/server_main.cc"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "basin-server: runs Entropy-SGD, Entropy-MCMC, SGD, SGLD and SAM as a gRPC service.\n"
      "Usage: basin-server [--listen=127.0.0.1:50051] [--metrics_listen=127.0.0.1:9464] [limits...]\n"
      "                    [--tls_cert=server.pem --tls_key=server.key [--tls_client_ca=ca.pem]]\n"
      "                    [--auth_tokens_file=tokens]\n"
      "Flag names may be spelt with '-' or '_' (--metrics-listen = --metrics_listen).");
  std::vector<std::string> args;
  std::vector<char*> arg_pointers = basin::WithUnderscoredFlagNames(argc, argv, args);
  absl::ParseCommandLine(argc, arg_pointers.data());

  basin::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.metrics_listen = metrics_listen == "none" ? "" : metrics_listen;
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  options.data_dir = data_dir == "none" ? "" : data_dir;
  options.snapshot_interval = absl::GetFlag(FLAGS_snapshot_interval);
  options.idle_session_ttl = absl::GetFlag(FLAGS_idle_session_ttl);
  if (options.snapshot_interval <= absl::ZeroDuration()) {
    std::fprintf(stderr, "basin-server: --snapshot_interval must be > 0, got %s\n",
                 absl::FormatDuration(options.snapshot_interval).c_str());
    return 2;
  }
  options.limits.max_metric_runs = absl::GetFlag(FLAGS_max_metric_runs);
  options.limits.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  options.limits.max_sessions_per_tenant = absl::GetFlag(FLAGS_max_sessions_per_tenant);
  options.limits.max_state_bytes_per_tenant = absl::GetFlag(FLAGS_max_state_bytes_per_tenant);
  options.limits.max_parameters_per_session = absl::GetFlag(FLAGS_max_parameters_per_session);
  options.limits.max_total_state_bytes = absl::GetFlag(FLAGS_max_total_state_bytes);
  options.limits.max_chunk_bytes = absl::GetFlag(FLAGS_max_chunk_bytes);
  options.limits.max_checkpoints_per_tenant = absl::GetFlag(FLAGS_max_checkpoints_per_tenant);
  options.limits.max_workers_per_session = absl::GetFlag(FLAGS_max_workers_per_session);
  options.tls = basin::TlsFiles{.cert = absl::GetFlag(FLAGS_tls_cert),
                                .key = absl::GetFlag(FLAGS_tls_key),
                                .client_ca = absl::GetFlag(FLAGS_tls_client_ca)};
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  const int32_t kernel_threads = absl::GetFlag(FLAGS_kernel_threads);
  if (kernel_threads < 0) {
    std::fprintf(stderr, "basin-server: --kernel_threads must be >= 0, got %d\n", kernel_threads);
    return 2;
  }
  basin::SetKernelThreads(kernel_threads > 0 ? kernel_threads
                                             : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  auto server = basin::BasinServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "basin-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (!options.data_dir.empty()) {
    const auto& recovery = (*server)->recovery();
    std::printf("basin-server data in %s: %d sessions recovered (%lld log records replayed), %d failed\n",
                options.data_dir.c_str(), recovery.recovered, static_cast<long long>(recovery.replayed_records),
                recovery.failed);
  }
  if (!options.auth_tokens_file.empty() && options.tls.cert.empty()) {
    std::fprintf(stderr, "basin-server: warning: bearer tokens travel in plaintext without --tls_cert/--tls_key\n");
  }
  std::printf("basin-server listening on %s\n", (*server)->address().c_str());
  std::printf("basin-server transport: %s; %s\n",
              options.tls.cert.empty() ? "plaintext" : options.tls.client_ca.empty() ? "TLS" : "mutual TLS",
              options.auth_tokens_file.empty() ? "no authentication" : "bearer tokens");
  if (!(*server)->metrics_address().empty()) {
    std::printf("basin-server metrics on http://%s/metrics\n", (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::fprintf(stderr, "basin-server: signal %d: draining (grace %s)\n", signal,
                 absl::FormatDuration(absl::GetFlag(FLAGS_drain_grace)).c_str());
    (*server)->Drain(absl::GetFlag(FLAGS_drain_grace));
  });
  (*server)->Wait();
  waiter.join();
  std::fprintf(stderr, "basin-server: stopped\n");
  return 0;
}
