#include "client/cpp/cli/optimizer_settings.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace basin::cli {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

const google::protobuf::OneofDescriptor& OptimizerOneof() {
  return *v1::OptimizerConfig::descriptor()->FindOneofByName("optimizer");
}

// The field a name selects: exact first, then case-insensitive when that is unambiguous (so both
// "L" and "l" reach Entropy-SGD's L).
const FieldDescriptor* FindField(const Descriptor& type, absl::string_view name) {
  if (const FieldDescriptor* f = type.FindFieldByName(std::string(name)); f != nullptr) return f;
  const FieldDescriptor* match = nullptr;
  for (int i = 0; i < type.field_count(); ++i) {
    if (absl::EqualsIgnoreCase(type.field(i)->name(), name)) {
      if (match != nullptr) return nullptr;
      match = type.field(i);
    }
  }
  return match;
}

std::string Describe(const Setting& s) { return absl::StrCat("--set ", s.path, "=", s.value); }

const EnumValueDescriptor* FindEnumValue(const google::protobuf::EnumDescriptor& type, absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  for (int i = 0; i < type.value_count(); ++i) {
    const EnumValueDescriptor* v = type.value(i);
    if (v->name() == upper || absl::EndsWith(v->name(), absl::StrCat("_", upper))) return v;
  }
  return nullptr;
}

std::string EnumChoices(const google::protobuf::EnumDescriptor& type) {
  // "VARIANT_PAPER" → "paper": what follows the prefix of the zero value's "…_UNSPECIFIED".
  const std::string& zero = type.value(0)->name();
  const std::string prefix = zero.substr(0, zero.size() - std::string("UNSPECIFIED").size());
  std::vector<std::string> names;
  for (int i = 1; i < type.value_count(); ++i) {
    names.push_back(absl::AsciiStrToLower(absl::StripPrefix(type.value(i)->name(), prefix)));
  }
  return absl::StrJoin(names, ", ");
}

// Sets the scalar `field` of `message` from text.
absl::Status SetScalar(Message& message, const FieldDescriptor& field, const Setting& setting) {
  const Reflection& r = *message.GetReflection();
  const std::string& text = setting.value;
  auto bad = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(setting), ": ", field.full_name(), " takes ", expected));
  };
  if (field.is_repeated()) return bad("several values, which --set does not support");
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v = 0;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      if (field.cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        r.SetDouble(&message, &field, v);
      } else {
        r.SetFloat(&message, &field, static_cast<float>(v));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      r.SetInt64(&message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return bad("a 32-bit integer");
      r.SetInt32(&message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      r.SetUInt64(&message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative 32-bit integer");
      r.SetUInt32(&message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(text);
      if (lower != "true" && lower != "false") return bad("true or false");
      r.SetBool(&message, &field, lower == "true");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* v = FindEnumValue(*field.enum_type(), text);
      if (v == nullptr) return bad(absl::StrCat("one of ", EnumChoices(*field.enum_type())));
      r.SetEnum(&message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING:
      r.SetString(&message, &field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return bad(absl::StrCat("sub-fields: set them as ", setting.path, ".FIELD"));
  }
  return bad("a value of a type --set does not know");
}

// Walks `path` ("lr_schedule.kind") from `message`. False when a segment names no field;
// InvalidArgument when the field exists but the value does not fit.
absl::StatusOr<bool> SetPath(Message& message, const std::vector<absl::string_view>& path, const Setting& setting) {
  Message* current = &message;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const FieldDescriptor* field = FindField(*current->GetDescriptor(), path[i]);
    if (field == nullptr) return false;
    if (i + 1 == path.size()) {
      if (absl::Status s = SetScalar(*current, *field, setting); !s.ok()) return s;
      return true;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) return false;
    current = current->GetReflection()->MutableMessage(current, field);
  }
  return false;
}

}  // namespace

std::vector<std::string> OptimizerNames() {
  std::vector<std::string> names;
  const google::protobuf::OneofDescriptor& oneof = OptimizerOneof();
  for (int i = 0; i < oneof.field_count(); ++i) names.push_back(oneof.field(i)->name());
  return names;
}

absl::StatusOr<std::vector<std::string>> ParseOptimizerList(absl::string_view list) {
  const std::vector<std::string> known = OptimizerNames();
  std::vector<std::string> names;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    const std::string name(absl::StripAsciiWhitespace(item));
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--optimizer: '", name, "' is not one of ",
                                                     absl::StrJoin(known, ", ")));
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--optimizer: '", name, "' is given twice"));
    }
    names.push_back(name);
  }
  return names;
}

std::string OptimizerNameOf(const v1::OptimizerConfig& config) {
  const FieldDescriptor* field = config.GetReflection()->GetOneofFieldDescriptor(config, &OptimizerOneof());
  return field == nullptr ? "" : field->name();
}

absl::StatusOr<v1::OptimizerConfig> EmptyOptimizerConfig(const std::string& name) {
  const FieldDescriptor* field = v1::OptimizerConfig::descriptor()->FindFieldByName(name);
  if (field == nullptr || field->containing_oneof() != &OptimizerOneof()) {
    return absl::InvalidArgumentError(absl::StrCat("no optimizer named '", name, "'"));
  }
  v1::OptimizerConfig config;
  config.GetReflection()->MutableMessage(&config, field);  // selects the oneof case
  return config;
}

const char kDemoDefaultsHelp[] =
    "      sgd          lr 0.1, momentum 0.9\n"
    "      sgld         lr 0.1, temperature 1, num_data = --num_examples\n"
    "      sam          lr 0.1, momentum 0.9, rho 0.05\n"
    "      entropy_sgd  L 5, inner_lr 0.1 (variant lua: outer lr 1, gamma 0.03)\n"
    "      emcmc        lr 0.1, eta 1e-3, temperature 1, num_data = --num_examples, weight_decay 0,\n"
    "                   anchor_weight_decay false\n";

absl::StatusOr<v1::OptimizerConfig> DemoOptimizerConfig(const std::string& name, int64_t num_examples) {
  absl::StatusOr<v1::OptimizerConfig> config = EmptyOptimizerConfig(name);
  if (!config.ok()) return config.status();
  const double num_data = static_cast<double>(std::max<int64_t>(num_examples, 1));
  // Tuned on logistic regression: each reaches a good classifier within a few hundred ticks.
  if (name == "sgd") {
    config->mutable_sgd()->set_lr(0.1);
    config->mutable_sgd()->set_momentum(0.9);
  } else if (name == "sgld") {
    config->mutable_sgld()->set_lr(0.1);
    config->mutable_sgld()->set_temperature(1);
    config->mutable_sgld()->set_num_data(num_data);
  } else if (name == "sam") {
    config->mutable_sam()->set_lr(0.1);
    config->mutable_sam()->set_momentum(0.9);
    config->mutable_sam()->set_rho(0.05);
  } else if (name == "entropy_sgd") {
    config->mutable_entropy_sgd()->set_l(5);
    config->mutable_entropy_sgd()->set_inner_lr(0.1);
  } else if (name == "emcmc") {
    v1::EmcmcConfig& emcmc = *config->mutable_emcmc();
    emcmc.set_lr(0.1);
    emcmc.set_eta(1e-3);
    emcmc.set_temperature(1);
    emcmc.set_num_data(num_data);
    // The code form's weight decay (5e-4 per example, times N) is tuned for CIFAR, not for this.
    emcmc.set_weight_decay(0);
    emcmc.set_anchor_weight_decay(false);
  }
  return config;
}

absl::StatusOr<std::vector<Setting>> ParseSettings(const std::vector<std::string>& items) {
  std::vector<Setting> settings;
  for (const std::string& item : items) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--set '", item, "': expected field=value"));
    }
    settings.push_back(Setting{std::string(absl::StripAsciiWhitespace(item.substr(0, eq))),
                               std::string(absl::StripAsciiWhitespace(item.substr(eq + 1)))});
  }
  return settings;
}

absl::Status ApplySettings(const std::vector<Setting>& settings, std::vector<v1::OptimizerConfig>& configs) {
  const std::vector<std::string> known = OptimizerNames();
  for (const Setting& setting : settings) {
    std::vector<absl::string_view> path = absl::StrSplit(setting.path, '.');
    std::string only;  // the optimizer a prefix aims at, if any
    if (path.size() > 1 && std::find(known.begin(), known.end(), path[0]) != known.end()) {
      only = std::string(path[0]);
      path.erase(path.begin());
    }
    bool applied = false;
    std::vector<std::string> names;
    for (v1::OptimizerConfig& config : configs) {
      const std::string name = OptimizerNameOf(config);
      names.push_back(name);
      if (!only.empty() && name != only) continue;
      const FieldDescriptor* field = config.GetDescriptor()->FindFieldByName(name);
      Message& optimizer = *config.GetReflection()->MutableMessage(&config, field);
      absl::StatusOr<bool> set = SetPath(optimizer, path, setting);
      if (!set.ok()) return set.status();
      applied = applied || *set;
    }
    if (!applied) {
      return absl::InvalidArgumentError(
          only.empty() || std::find(names.begin(), names.end(), only) != names.end()
              ? absl::StrCat(Describe(setting), ": no chosen optimizer (", absl::StrJoin(names, ", "),
                             ") has a field '", absl::StrJoin(path, "."), "'")
              : absl::StrCat(Describe(setting), ": ", only, " is not among the chosen optimizers (",
                             absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace basin::cli
