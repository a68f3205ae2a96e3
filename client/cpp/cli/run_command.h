#ifndef BASIN_CLIENT_CPP_CLI_RUN_COMMAND_H_
#define BASIN_CLIENT_CPP_CLI_RUN_COMMAND_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "basin/v1/optimizer_config.pb.h"
#include "client/cpp/basin_client.h"
#include "core/objectives/objective_spec.h"

namespace basin::cli {

// `basin run`: optimizers trained side by side on a built-in objective whose gradients this
// process computes, each through its own server session and Train stream.
struct RunOptions {
  ObjectiveSpec objective;                      // batch_size is the minibatch of every gradient
  std::vector<v1::OptimizerConfig> optimizers;  // one session each
  int64_t steps = 0;                            // outer steps per optimizer
  uint64_t seed = 0;                            // the sessions' noise seed
  // Non-empty: each session opts in to per-run metrics as "<metrics_run>-<optimizer>".
  std::string metrics_run;
};

// What one optimizer's run ended with.
struct RunResult {
  std::string optimizer;
  std::string session_id;
  int64_t ticks = 0;
  int64_t steps = 0;
  int64_t ticks_per_step = 0;
  double final_loss = 0;                // full-batch objective at the model
  std::optional<double> accuracy;       // logistic_regression only
  double wall_seconds = 0;              // the Train stream, from attach to close
  absl::Status status;                  // the first error, if the run failed
};

// Where progress goes. `interactive` redraws one bar per optimizer in place (a terminal);
// otherwise plain lines at most every few seconds, plus one as each optimizer finishes.
struct ProgressOutput {
  std::FILE* stream = nullptr;  // nullptr: no progress
  bool interactive = false;
};

// Creates the sessions (deleting those already made if one is refused), sets their models to the
// objective's initial point, then drives them concurrently. An error before training starts is
// returned; an error during a run is reported in that run's RunResult::status.
absl::StatusOr<std::vector<RunResult>> RunOptimizers(client::Client& client, const RunOptions& options,
                                                     const ProgressOutput& progress);

// A fixed-width table, one row per optimizer.
std::string FormatRunTable(const std::vector<RunResult>& results);
// One JSON object with the objective, the step budget and one entry per optimizer.
std::string FormatRunJson(const RunOptions& options, const std::vector<RunResult>& results);

}  // namespace basin::cli

#endif  // BASIN_CLIENT_CPP_CLI_RUN_COMMAND_H_
