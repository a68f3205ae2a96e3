#ifndef BASIN_CLIENT_CPP_CLI_OPTIMIZER_SETTINGS_H_
#define BASIN_CLIENT_CPP_CLI_OPTIMIZER_SETTINGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "basin/v1/optimizer_config.pb.h"

namespace basin::cli {

// The names `--optimizer` accepts: the fields of OptimizerConfig's oneof, in proto order.
std::vector<std::string> OptimizerNames();

// "sgd,entropy_sgd" → {"sgd", "entropy_sgd"}; InvalidArgument on an unknown, empty or repeated name.
absl::StatusOr<std::vector<std::string>> ParseOptimizerList(absl::string_view list);

// The name of the optimizer a config selects ("" when none is set).
std::string OptimizerNameOf(const v1::OptimizerConfig& config);

// A config selecting optimizer `name` with every hyper-parameter unset (the server's defaults).
absl::StatusOr<v1::OptimizerConfig> EmptyOptimizerConfig(const std::string& name);

// The CLI's defaults for a quick demo on a data set of `num_examples` examples; see kDemoDefaultsHelp.
absl::StatusOr<v1::OptimizerConfig> DemoOptimizerConfig(const std::string& name, int64_t num_examples);
extern const char kDemoDefaultsHelp[];

// One `--set path=value`. `path` is a field of the optimizer's config message ("lr",
// "lr_schedule.kind"), optionally prefixed with an optimizer name to aim at one optimizer only
// ("entropy_sgd.gamma").
struct Setting {
  std::string path;
  std::string value;
};

// Splits "field=value" items; InvalidArgument on an item without '=' or with an empty side.
absl::StatusOr<std::vector<Setting>> ParseSettings(const std::vector<std::string>& items);

// Applies every setting, by protobuf reflection, to each config that has the field (and that the
// optimizer prefix, if any, names). A setting no config has, or a value the field's type cannot
// hold, is InvalidArgument naming it. Booleans are true/false; enums take a value name or its
// suffix after the type prefix ("paper" for VARIANT_PAPER), case-insensitively.
absl::Status ApplySettings(const std::vector<Setting>& settings, std::vector<v1::OptimizerConfig>& configs);

}  // namespace basin::cli

#endif  // BASIN_CLIENT_CPP_CLI_OPTIMIZER_SETTINGS_H_
