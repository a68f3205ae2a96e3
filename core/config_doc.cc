#include "core/config_doc.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/optimizer_config.h"

namespace basin {
namespace {

std::string Cell(std::string s) { return absl::StrReplaceAll(s, {{"|", "\\|"}}); }

std::string RangeText(const FieldRange& range, FieldType type, const std::vector<std::string>& names) {
  if (type == FieldType::kBool) return "true / false";
  if (type == FieldType::kEnum) {
    std::string out;
    for (const std::string& n : names) absl::StrAppend(&out, out.empty() ? "" : ", ", "`", n, "`");
    return out;
  }
  return range.Describe();
}

// One table; `defaults` gives one column per default set (e.g. per Entropy-SGD variant).
template <typename Config>
std::string Table(const std::vector<std::pair<std::string, Config>>& defaults) {
  std::string out = "| field | ";
  for (const auto& [label, c] : defaults) absl::StrAppend(&out, label, " | ");
  absl::StrAppend(&out, "valid | meaning |\n|---|");
  for (std::size_t i = 0; i < defaults.size(); ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "---|---|\n");
  for (const FieldDef<Config>& f : Config::Fields()) {
    absl::StrAppend(&out, "| `", f.name, "` | ");
    for (const auto& [label, c] : defaults) absl::StrAppend(&out, Cell(FormatFieldValue(f, c)), " | ");
    absl::StrAppend(&out, Cell(RangeText(f.range, f.type, f.enum_names)), " | ", Cell(f.doc), " |\n");
  }
  return out;
}

}  // namespace

std::string OptimizerReferenceMarkdown() {
  using V = EntropySgdConfig::Variant;
  std::string out =
      "# Optimizer reference\n\n"
      "Generated from the field tables in `core/` (`core/optimizer_config.cc`, `core/schedule.cc`) by\n"
      "`build/release/tools/basin-docs`; `tests/core/docs_test` fails when this file is stale.\n"
      "The update rules and the sources of every default are in ALGORITHMS.md (shared with the\n"
      "team) and summarised in the comments of `core/optimizer_config.h`. A gradient `g` is always\n"
      "the gradient of the minibatch-mean loss. Names here are the proto's field names.\n\n"
      "Schedules (`lr_schedule.*`, every optimizer): the rate at outer step t is\n"
      "`constant` base; `step` base·factor^⌊t/step_size⌋; `cosine` final + (base − final)/2·(1 + cos(π·min(t,total)/total));\n"
      "`cyclical_cosine` with P = ⌊total/cycles⌋: final + (base − final)/2·(cos(π·(t mod P)/P) + 1);\n"
      "`polynomial` base·(offset + t)^(−power).\n\n";
  absl::StrAppend(&out, "## sgd\n\ntorch.optim.SGD semantics.\n\n", Table<SgdConfig>({{"default", SgdConfig{}}}), "\n");
  absl::StrAppend(&out, "## sgld\n\nθ ← θ − α·(g + weight_decay·θ) + √(2αT/N)·ξ.\n\n",
                  Table<SgldConfig>({{"default", SgldConfig{}}}), "\n");
  absl::StrAppend(&out, "## sam\n\nTwo ticks per step: at w, then at w + ε; the SGD rule at w.\n\n",
                  Table<SamConfig>({{"default", SamConfig{}}}), "\n");
  absl::StrAppend(&out,
                  "## entropy_sgd\n\nL inner ticks per step (+1 at x with `extra_tick_at_x`). Defaults depend on the "
                  "variant.\n\n",
                  Table<EntropySgdConfig>({{"lua (default)", EntropySgdConfig::Defaults(V::kLua)},
                                           {"paper", EntropySgdConfig::Defaults(V::kPaper)},
                                           {"pytorch", EntropySgdConfig::Defaults(V::kPytorch)}}),
                  "\n");
  absl::StrAppend(&out,
                  "## emcmc\n\nOne tick per step; θa needs no gradient. The code-form defaults are the reference "
                  "CIFAR-10 settings; set `num_data` to your training-set size.\n\n",
                  Table<EmcmcConfig>({{"code (default)", EmcmcConfig{}}, {"paper", EmcmcConfig::PaperDefaults()}}),
                  "\n");
  absl::StrAppend(&out, "## samples (any optimizer)\n\nAfter outer step s (from 1) a sample is kept when s > burn_in, "
                        "(s − burn_in) mod thin = 0 and, with cycle_length > 0, (s − 1) mod cycle_length ≥ "
                        "cycle_length − cycle_window.\n\n",
                  Table<SampleCollection>({{"default", SampleCollection{}}}));
  return out;
}

}  // namespace basin
