#include "server/spec_mapping.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace basin {
namespace {

using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// "VARIANT_PAPER" → "paper": the prefix is what the enum's zero value has before "UNSPECIFIED".
std::string CoreEnumName(const EnumValueDescriptor& value) {
  const std::string& zero = value.type()->value(0)->name();
  const std::string prefix = zero.substr(0, zero.size() - std::string("UNSPECIFIED").size());
  return absl::AsciiStrToLower(absl::StripPrefix(value.name(), prefix));
}

const EnumValueDescriptor* ProtoEnumValue(const EnumDescriptor& type, absl::string_view core_name) {
  for (int i = 1; i < type.value_count(); ++i) {
    if (CoreEnumName(*type.value(i)) == core_name) return type.value(i);
  }
  return nullptr;
}

// Calls set(path, text) for every field of `m` the client set, depth first, "lr_schedule.kind".
// Enum zero (UNSPECIFIED) counts as unset.
absl::Status VisitSetFields(const Message& m, const std::string& scope, const std::string& prefix,
                            const std::function<absl::Status(const std::string&, double)>& set,
                            const std::function<absl::StatusOr<double>(const std::string&, const std::string&)>&
                                enum_index) {
  const Reflection& r = *m.GetReflection();
  const auto& d = *m.GetDescriptor();
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    const std::string path = prefix + f.name();
    if (f.is_repeated()) return absl::InternalError(absl::StrCat(scope, ".", path, " is repeated"));
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (r.HasField(m, &f)) {
        BASIN_RETURN_IF_ERROR(VisitSetFields(r.GetMessage(m, &f), scope, path + ".", set, enum_index));
      }
      continue;
    }
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      const int number = r.GetEnumValue(m, &f);
      if (number == 0) continue;
      const EnumValueDescriptor* value = f.enum_type()->FindValueByNumber(number);
      if (value == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(scope, ".", path, " has no value ", number));
      }
      BASIN_ASSIGN_OR_RETURN(const double index, enum_index(path, CoreEnumName(*value)));
      BASIN_RETURN_IF_ERROR(set(path, index));
      continue;
    }
    if (!f.has_presence() || !r.HasField(m, &f)) continue;
    double value = 0;
    switch (f.cpp_type()) {
      case FieldDescriptor::CPPTYPE_DOUBLE:
        value = r.GetDouble(m, &f);
        break;
      case FieldDescriptor::CPPTYPE_INT64: {
        const int64_t v = r.GetInt64(m, &f);
        // Beyond 2^53 a double is not exact; core's ranges reject such values anyway, but say so.
        if (v > (int64_t{1} << 53) || v < -(int64_t{1} << 53)) {
          return absl::InvalidArgumentError(absl::StrCat(scope, ".", path, " is out of range, got ", v));
        }
        value = static_cast<double>(v);
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL:
        value = r.GetBool(m, &f) ? 1 : 0;
        break;
      default:
        return absl::InternalError(absl::StrCat(scope, ".", path, " has an unmapped type"));
    }
    BASIN_RETURN_IF_ERROR(set(path, value));
  }
  return absl::OkStatus();
}

// Writes (core field name, value) pairs into `m`, creating nested messages on the way.
void WriteFields(const std::vector<std::pair<std::string, double>>& values,
                 const std::vector<std::vector<std::string>>& enum_names, Message* m) {
  for (std::size_t k = 0; k < values.size(); ++k) {
    const auto& [path, value] = values[k];
    Message* target = m;
    std::string name = path;
    for (std::size_t dot; (dot = name.find('.')) != std::string::npos;) {
      const FieldDescriptor* sub = target->GetDescriptor()->FindFieldByName(name.substr(0, dot));
      target = target->GetReflection()->MutableMessage(target, sub);
      name = name.substr(dot + 1);
    }
    const FieldDescriptor* f = target->GetDescriptor()->FindFieldByName(name);
    if (f == nullptr) continue;  // the mapping test keeps this from happening
    const Reflection& r = *target->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r.SetDouble(target, f, value);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r.SetInt64(target, f, static_cast<int64_t>(value));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r.SetBool(target, f, value != 0);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto& names = enum_names[k];
        const EnumValueDescriptor* v = ProtoEnumValue(*f->enum_type(), names[static_cast<std::size_t>(value)]);
        if (v != nullptr) r.SetEnum(target, f, v);
        break;
      }
      default:
        break;
    }
  }
}

template <typename Config>
absl::StatusOr<double> EnumIndexIn(const std::vector<FieldDef<Config>>& fields, absl::string_view scope,
                                   const std::string& path, const std::string& name) {
  for (const auto& f : fields) {
    if (f.name != path) continue;
    for (std::size_t i = 0; i < f.enum_names.size(); ++i) {
      if (f.enum_names[i] == name) return static_cast<double>(i);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(scope, ".", path, " has no value '", name, "'"));
}

template <typename Config>
std::vector<std::vector<std::string>> EnumNames(const std::vector<FieldDef<Config>>& fields) {
  std::vector<std::vector<std::string>> out;
  for (const auto& f : fields) out.push_back(f.enum_names);
  return out;
}

}  // namespace

absl::StatusOr<OptimizerConfig> OptimizerConfigFromProto(const v1::OptimizerConfig& proto) {
  const FieldDescriptor* chosen = proto.GetReflection()->GetOneofFieldDescriptor(
      proto, proto.GetDescriptor()->FindOneofByName("optimizer"));
  if (chosen == nullptr) {
    return absl::InvalidArgumentError("optimizer is not set: choose one of sgd, sgld, sam, entropy_sgd, emcmc");
  }
  const std::string name = chosen->name();
  const Message& message = proto.GetReflection()->GetMessage(proto, chosen);

  // The variant or form picks the defaults the unset fields keep.
  std::string flavor;
  if (const absl::string_view flavor_field = FlavorField(name); !flavor_field.empty()) {
    const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(std::string(flavor_field));
    const int number = message.GetReflection()->GetEnumValue(message, f);
    if (number != 0) {
      const EnumValueDescriptor* value = f->enum_type()->FindValueByNumber(number);
      if (value == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(name, ".", flavor_field, " has no value ", number));
      }
      flavor = CoreEnumName(*value);
    }
  }
  BASIN_ASSIGN_OR_RETURN(OptimizerConfig config, DefaultConfig(name, flavor));
  BASIN_RETURN_IF_ERROR(VisitSetFields(
      message, name, "", [&](const std::string& path, double value) { return SetConfigField(config, path, value); },
      [&](const std::string& path, const std::string& enum_name) {
        return std::visit(
            [&](const auto& c) { return EnumIndexIn(std::decay_t<decltype(c)>::Fields(), name, path, enum_name); },
            config);
      }));
  BASIN_RETURN_IF_ERROR(std::visit([](const auto& c) { return c.Check(); }, config));
  return config;
}

v1::OptimizerConfig OptimizerConfigToProto(const OptimizerConfig& config) {
  v1::OptimizerConfig proto;
  const FieldDescriptor* f = proto.GetDescriptor()->FindFieldByName(std::string(OptimizerName(config)));
  Message* message = proto.GetReflection()->MutableMessage(&proto, f);
  std::visit([&](const auto& c) { WriteFields(ConfigFieldValues(config), EnumNames(std::decay_t<decltype(c)>::Fields()), message); },
             config);
  return proto;
}

absl::StatusOr<SampleCollection> SampleCollectionFromProto(const v1::SampleCollection& proto) {
  SampleCollection samples;
  BASIN_RETURN_IF_ERROR(VisitSetFields(
      proto, "samples", "",
      [&](const std::string& path, double value) {
        return SetField("samples", SampleCollection::Fields(), path, value, samples);
      },
      [&](const std::string& path, const std::string& enum_name) {
        return EnumIndexIn(SampleCollection::Fields(), "samples", path, enum_name);
      }));
  BASIN_RETURN_IF_ERROR(samples.Check());
  return samples;
}

v1::SampleCollection SampleCollectionToProto(const SampleCollection& samples) {
  v1::SampleCollection proto;
  std::vector<std::pair<std::string, double>> values;
  for (const auto& f : SampleCollection::Fields()) values.emplace_back(f.name, f.get(samples));
  WriteFields(values, EnumNames(SampleCollection::Fields()), &proto);
  return proto;
}

}  // namespace basin
