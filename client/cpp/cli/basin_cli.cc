// basin: the command-line client of basin-server. `basin --help` lists the subcommands and flags.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/cpp/basin_client.h"
#include "client/cpp/cli/connection.h"
#include "client/cpp/cli/json.h"
#include "client/cpp/cli/optimizer_settings.h"
#include "client/cpp/cli/run_command.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "address of basin-server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "deadline of each unary call (a Train stream has none)");
ABSL_FLAG(std::string, token, "",
          "bearer token of a basin-server with --auth_tokens_file (visible in `ps`: prefer --token_file)");
ABSL_FLAG(std::string, token_file, "", "file holding the bearer token (surrounding whitespace is ignored)");
ABSL_FLAG(bool, tls, false, "connect with TLS, trusting the system's CAs (implied by every --tls_* flag)");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of the CA(s) the server's certificate must chain to");
ABSL_FLAG(std::string, tls_cert, "", "mutual TLS: PEM file of this client's certificate (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "mutual TLS: PEM file of this client's private key (with --tls_cert)");
ABSL_FLAG(std::string, tls_server_name, "",
          "the name the server's certificate carries, when it is not the host of --target");
ABSL_FLAG(bool, json, false, "machine output: one JSON object on stdout (progress goes to stderr)");

ABSL_FLAG(std::string, objective, "logistic_regression",
          "run: quadratic | two_mode | logistic_regression | sigmoid_entropy");
ABSL_FLAG(int64_t, dimension, 20,
          "run: problem size (logistic_regression: features, plus a bias; quadratic, two_mode: parameters; "
          "sigmoid_entropy: inputs)");
ABSL_FLAG(int64_t, num_examples, 1024, "run: examples in the synthetic data set (data-driven kinds)");
ABSL_FLAG(int64_t, batch_size, 32, "run: examples per gradient, drawn with replacement; 0 = full batch");
ABSL_FLAG(uint64_t, data_seed, 1, "run: seed of the synthetic data and of the minibatch draws");
ABSL_FLAG(double, noise, 0.1,
          "run: label noise (logistic_regression, sigmoid_entropy) or gradient noise std (quadratic)");
ABSL_FLAG(std::string, optimizer, "sgd,entropy_sgd,emcmc",
          "run: comma-separated optimizers, each in its own session: sgd, sgld, sam, entropy_sgd, emcmc");
ABSL_FLAG(int64_t, steps, 100, "run: outer steps per optimizer (ticks = steps x the session's ticks_per_step)");
ABSL_FLAG(std::vector<std::string>, set, {},
          "run: field=value, repeatable or comma-separated: sets a hyper-parameter (proto field name of the "
          "optimizer's config, e.g. lr, L, lr_schedule.kind) on every chosen optimizer that has it; prefix "
          "an optimizer to aim at one (entropy_sgd.gamma=0.1). Booleans true/false, enums by name suffix "
          "(variant=paper)");
ABSL_FLAG(uint64_t, seed, 0, "run: seed of the sessions' noise");
ABSL_FLAG(std::string, metrics_run, "",
          "run: opt the sessions in to per-run metrics, labelled run=\"<this>-<optimizer>\" (docs/metrics.md)");
ABSL_FLAG(bool, demo_defaults, true,
          "run: start from the CLI's demo hyper-parameters (see above) rather than the server's defaults");

namespace basin::cli {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string UsageText() {
  return absl::StrCat(
      // Abseil prints "basin: " before it.
      "the command-line client of basin-server.\n"
      "\n"
      "Usage: basin [--target=HOST:PORT] [--token_file=FILE] [--tls_ca=CA.pem [--tls_cert=C.pem --tls_key=C.key]]\n"
      "             [--json] COMMAND ...\n"
      "  health                 SERVING or NOT_SERVING (exit 0 only when SERVING)\n"
      "  sessions list          every session on the server\n"
      "  sessions get ID        one session: position and spec\n"
      "  sessions delete ID     deletes a session\n"
      "  stats ID               a session's statistics\n"
      "  run                    trains optimizers on a built-in objective through the Train stream,\n"
      "                         gradients computed here, one session and thread per optimizer:\n"
      "      basin run --objective=logistic_regression --optimizer=sgd,entropy_sgd,emcmc --steps=100\n"
      "                [--dimension=20 --num_examples=1024 --batch_size=32 --data_seed=1 --noise=0.1]\n"
      "                [--set=field=value ...] [--seed=0] [--metrics_run=NAME] [--json]\n"
      "    Demo hyper-parameters (--demo_defaults, on unless =false; --set overrides them):\n",
      kDemoDefaultsHelp,
      "\n"
      "On failure the exit code is 1 and stderr holds the status code and the server's message,\n"
      "e.g. \"basin: NOT_FOUND: no session 's-...'\"; a usage error exits with 2.");
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "basin: %s\n", status.ToString().c_str());
  return kExitFailure;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "basin: %s\nRun `basin --help` for the commands and flags.\n", problem.c_str());
  return kExitUsage;
}

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json + "\n";
}

// "name: value" for every singular scalar field, zeros included (text format would drop them).
std::string ScalarFields(const google::protobuf::Message& message) {
  std::string out;
  const google::protobuf::Descriptor& type = *message.GetDescriptor();
  for (int i = 0; i < type.field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = type.field(i);
    if (field->is_repeated() || field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::string value;
    google::protobuf::TextFormat::PrintFieldValueToString(message, field, -1, &value);
    absl::StrAppendFormat(&out, "%-24s %s\n", field->name(), value);
  }
  return out;
}

int Health(client::Client& client, bool json) {
  absl::StatusOr<std::string> status = client.Health();
  if (!status.ok()) return Fail(status.status());
  std::printf("%s\n", json ? absl::StrCat("{\"status\":", JsonString(*status), "}").c_str() : status->c_str());
  return *status == "SERVING" ? 0 : kExitFailure;
}

int Sessions(client::Client& client, const std::vector<char*>& args, bool json) {
  if (args.size() < 3) return Usage("sessions: expected list, get ID or delete ID");
  const std::string verb = args[2];
  if (verb == "list") {
    if (args.size() != 3) return Usage("sessions list takes no argument");
    absl::StatusOr<std::vector<v1::Session>> sessions = client.ListSessions();
    if (!sessions.ok()) return Fail(sessions.status());
    if (json) {
      v1::ListSessionsResponse all;
      for (const v1::Session& s : *sessions) *all.add_sessions() = s;
      std::printf("%s", ProtoJson(all).c_str());
      return 0;
    }
    std::printf("%-28s %-12s %10s %8s %10s %12s\n", "session", "optimizer", "tick", "step", "ticks/step",
                "parameters");
    for (const v1::Session& s : *sessions) {
      std::printf("%s\n", absl::StrFormat("%-28s %-12s %10d %8d %10d %12d", s.session_id(),
                                          OptimizerNameOf(s.spec().optimizer()), s.tick(), s.step(),
                                          s.ticks_per_step(), s.num_parameters())
                              .c_str());
    }
    return 0;
  }
  if (verb != "get" && verb != "delete") return Usage(absl::StrCat("sessions: unknown verb '", verb, "'"));
  if (args.size() != 4) return Usage(absl::StrCat("sessions ", verb, " takes one session id"));
  const std::string id = args[3];
  if (verb == "delete") {
    if (absl::Status s = client.DeleteSession(id); !s.ok()) return Fail(s);
    std::printf("%s\n", json ? absl::StrCat("{\"deleted\":", JsonString(id), "}").c_str()
                             : absl::StrCat("deleted ", id).c_str());
    return 0;
  }
  absl::StatusOr<v1::Session> session = client.GetSession(id);
  if (!session.ok()) return Fail(session.status());
  if (json) {
    std::printf("%s", ProtoJson(*session).c_str());
    return 0;
  }
  std::string spec;
  google::protobuf::TextFormat::PrintToString(session->spec(), &spec);
  std::printf("%sspec:\n%s", ScalarFields(*session).c_str(), spec.c_str());
  return 0;
}

int Stats(client::Client& client, const std::vector<char*>& args, bool json) {
  if (args.size() != 3) return Usage("stats takes one session id");
  absl::StatusOr<v1::SessionStats> stats = client.GetStats(args[2]);
  if (!stats.ok()) return Fail(stats.status());
  std::printf("%s", json ? ProtoJson(*stats).c_str() : ScalarFields(*stats).c_str());
  return 0;
}

int Run(client::Client& client, const std::vector<char*>& args, const std::vector<std::string>& set_items,
        bool json) {
  if (args.size() != 2) return Usage("run takes flags only");
  RunOptions options;
  options.objective.kind = absl::GetFlag(FLAGS_objective);
  options.objective.dimension = absl::GetFlag(FLAGS_dimension);
  options.objective.num_examples = absl::GetFlag(FLAGS_num_examples);
  options.objective.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.objective.data_seed = absl::GetFlag(FLAGS_data_seed);
  options.objective.noise = absl::GetFlag(FLAGS_noise);
  options.steps = absl::GetFlag(FLAGS_steps);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.metrics_run = absl::GetFlag(FLAGS_metrics_run);

  absl::StatusOr<std::vector<std::string>> names = ParseOptimizerList(absl::GetFlag(FLAGS_optimizer));
  if (!names.ok()) return Fail(names.status());
  for (const std::string& name : *names) {
    absl::StatusOr<v1::OptimizerConfig> config = absl::GetFlag(FLAGS_demo_defaults)
                                                     ? DemoOptimizerConfig(name, options.objective.num_examples)
                                                     : EmptyOptimizerConfig(name);
    if (!config.ok()) return Fail(config.status());
    options.optimizers.push_back(*config);
  }
  absl::StatusOr<std::vector<Setting>> settings = ParseSettings(set_items);
  if (!settings.ok()) return Fail(settings.status());
  if (absl::Status s = ApplySettings(*settings, options.optimizers); !s.ok()) return Fail(s);

  // Progress shares stdout with the table, but must not corrupt --json's single object.
  ProgressOutput progress;
  progress.stream = json ? stderr : stdout;
  progress.interactive = isatty(fileno(progress.stream)) != 0;
  if (!json) {
    absl::PrintF("basin run: %s, dimension %d, %d examples, batch %d; %d steps each; server %s\n",
                 options.objective.kind, options.objective.dimension, options.objective.num_examples,
                 options.objective.batch_size, options.steps, absl::GetFlag(FLAGS_target));
    std::fflush(stdout);
  }
  absl::StatusOr<std::vector<RunResult>> results = RunOptimizers(client, options, progress);
  if (!results.ok()) return Fail(results.status());
  std::printf("%s", json ? FormatRunJson(options, *results).c_str() : FormatRunTable(*results).c_str());
  int exit_code = 0;
  for (const RunResult& r : *results) {
    if (!r.status.ok()) {
      std::fprintf(stderr, "basin: %s: %s\n", r.optimizer.c_str(), r.status.ToString().c_str());
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

// Takes every --set out of argv: Abseil keeps only the last occurrence of a flag, and --set is
// meant to be repeated. Each occurrence may also hold several comma-separated items.
std::vector<std::string> ExtractSetFlags(int& argc, char** argv) {
  std::vector<std::string> items;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") {  // everything after it is positional
      while (i < argc) argv[kept++] = argv[i++];
      break;
    }
    absl::string_view value;
    bool matched = false;
    for (absl::string_view name : {"--set", "-set"}) {
      if (arg == name && i + 1 < argc) {
        value = argv[++i];
        matched = true;
      } else if (absl::StartsWith(arg, absl::StrCat(name, "="))) {
        value = arg.substr(name.size() + 1);
        matched = true;
      }
      if (matched) break;
    }
    if (!matched) {
      argv[kept++] = argv[i];
      continue;
    }
    for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipEmpty())) items.emplace_back(item);
  }
  argc = kept;
  argv[argc] = nullptr;
  return items;
}

int Main(int argc, char** argv) {
  // --help lists the flags of this file (Abseil's default looks for a file named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::EndsWith(file, "cli/basin_cli.cc"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(UsageText());
  const std::vector<std::string> set_items = ExtractSetFlags(argc, argv);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::fprintf(stderr, "basin: %s\n", UsageText().c_str());
    return kExitUsage;
  }
  const std::string command = args[1];
  if (!set_items.empty() && command != "run") return Usage("--set applies to run only");

  absl::StatusOr<std::unique_ptr<client::Client>> client = ConnectWith(ConnectionFlags{
      .target = absl::GetFlag(FLAGS_target),
      .timeout = absl::GetFlag(FLAGS_timeout),
      .token = absl::GetFlag(FLAGS_token),
      .token_file = absl::GetFlag(FLAGS_token_file),
      .tls = absl::GetFlag(FLAGS_tls),
      .tls_ca = absl::GetFlag(FLAGS_tls_ca),
      .tls_cert = absl::GetFlag(FLAGS_tls_cert),
      .tls_key = absl::GetFlag(FLAGS_tls_key),
      .tls_server_name = absl::GetFlag(FLAGS_tls_server_name),
  });
  if (!client.ok()) {
    return client.status().code() == absl::StatusCode::kInvalidArgument ? Usage(std::string(client.status().message()))
                                                                         : Fail(client.status());
  }
  const bool json = absl::GetFlag(FLAGS_json);
  if (command == "health") return args.size() == 2 ? Health(**client, json) : Usage("health takes no argument");
  if (command == "sessions") return Sessions(**client, args, json);
  if (command == "stats") return Stats(**client, args, json);
  if (command == "run") return Run(**client, args, set_items, json);
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace basin::cli

int main(int argc, char** argv) { return basin::cli::Main(argc, argv); }
