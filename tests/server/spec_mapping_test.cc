#include "server/spec_mapping.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using ::testing::HasSubstr;

// Every leaf field of a proto message as "path" → field, through nested messages.
void Leaves(const Descriptor& d, const std::string& prefix, std::map<std::string, const FieldDescriptor*>& out) {
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* f = d.field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Leaves(*f->message_type(), prefix + f->name() + ".", out);
    } else {
      out[prefix + f->name()] = f;
    }
  }
}

template <typename Config>
void ExpectSameFields(const Descriptor& proto) {
  SCOPED_TRACE(proto.full_name());
  std::map<std::string, const FieldDescriptor*> leaves;
  Leaves(proto, "", leaves);
  std::set<std::string> core_names;
  for (const FieldDef<Config>& f : Config::Fields()) {
    core_names.insert(f.name);
    auto it = leaves.find(f.name);
    ASSERT_NE(it, leaves.end()) << "core field " << f.name << " has no proto field";
    const FieldDescriptor& p = *it->second;
    switch (f.type) {
      case FieldType::kReal:
        EXPECT_EQ(p.cpp_type(), FieldDescriptor::CPPTYPE_DOUBLE) << f.name;
        EXPECT_TRUE(p.has_presence()) << f.name << " must be optional";
        break;
      case FieldType::kInt:
        EXPECT_EQ(p.cpp_type(), FieldDescriptor::CPPTYPE_INT64) << f.name;
        EXPECT_TRUE(p.has_presence()) << f.name << " must be optional";
        break;
      case FieldType::kBool:
        EXPECT_EQ(p.cpp_type(), FieldDescriptor::CPPTYPE_BOOL) << f.name;
        EXPECT_TRUE(p.has_presence()) << f.name << " must be optional";
        break;
      case FieldType::kEnum: {
        ASSERT_EQ(p.cpp_type(), FieldDescriptor::CPPTYPE_ENUM) << f.name;
        // UNSPECIFIED, then one proto value per core name.
        std::set<std::string> proto_values;
        const std::string zero = p.enum_type()->value(0)->name();
        ASSERT_TRUE(zero.size() > 11 && zero.substr(zero.size() - 11) == "UNSPECIFIED") << zero;
        const std::string prefix = zero.substr(0, zero.size() - 11);
        for (int i = 1; i < p.enum_type()->value_count(); ++i) {
          std::string v = p.enum_type()->value(i)->name().substr(prefix.size());
          for (char& c : v) c = static_cast<char>(std::tolower(c));
          proto_values.insert(v);
        }
        EXPECT_EQ(proto_values, std::set<std::string>(f.enum_names.begin(), f.enum_names.end())) << f.name;
        break;
      }
    }
  }
  for (const auto& [path, field] : leaves) EXPECT_TRUE(core_names.count(path)) << "proto field " << path << " is not in core";
}

TEST(SpecMappingTest, ProtoAndCoreNameTheSameFields) {
  ExpectSameFields<SgdConfig>(*v1::SgdConfig::descriptor());
  ExpectSameFields<SgldConfig>(*v1::SgldConfig::descriptor());
  ExpectSameFields<SamConfig>(*v1::SamConfig::descriptor());
  ExpectSameFields<EntropySgdConfig>(*v1::EntropySgdConfig::descriptor());
  ExpectSameFields<EmcmcConfig>(*v1::EmcmcConfig::descriptor());
  ExpectSameFields<SampleCollection>(*v1::SampleCollection::descriptor());
  // The oneof names are core's optimizer names.
  std::set<std::string> cases;
  const auto* oneof = v1::OptimizerConfig::descriptor()->FindOneofByName("optimizer");
  for (int i = 0; i < oneof->field_count(); ++i) cases.insert(oneof->field(i)->name());
  const auto names = OptimizerNames();
  EXPECT_EQ(cases, std::set<std::string>(names.begin(), names.end()));
}

v1::OptimizerConfig Parse(const std::string& text) {
  v1::OptimizerConfig proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto)) << text;
  return proto;
}

TEST(SpecMappingTest, UnsetFieldsKeepTheDefaultsOfTheChosenVariant) {
  auto c = OptimizerConfigFromProto(Parse("entropy_sgd { variant: VARIANT_PAPER L: 5 }"));
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& esgd = std::get<EntropySgdConfig>(*c);
  EXPECT_EQ(esgd.variant, EntropySgdConfig::Variant::kPaper);
  EXPECT_EQ(esgd.L, 5);
  EXPECT_EQ(esgd.ema, 0.75);
  EXPECT_EQ(esgd.noise_scaling, EntropySgdConfig::NoiseScaling::kPaper);
  EXPECT_FALSE(esgd.extra_tick_at_x);

  c = OptimizerConfigFromProto(Parse("entropy_sgd {}"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<EntropySgdConfig>(*c).variant, EntropySgdConfig::Variant::kLua);
  EXPECT_EQ(std::get<EntropySgdConfig>(*c).ema, 0.25);

  c = OptimizerConfigFromProto(Parse("emcmc { form: FORM_PAPER eta: 0.5 }"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(std::get<EmcmcConfig>(*c).num_data, 1);
  EXPECT_EQ(std::get<EmcmcConfig>(*c).eta, 0.5);

  c = OptimizerConfigFromProto(
      Parse("sgd { lr: 0.3 momentum: 0.9 nesterov: true lr_schedule { kind: KIND_STEP step_size: 10 } }"));
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& sgd = std::get<SgdConfig>(*c);
  EXPECT_EQ(sgd.lr, 0.3);
  EXPECT_TRUE(sgd.nesterov);
  EXPECT_EQ(sgd.lr_schedule.kind, Schedule::Kind::kStep);
  EXPECT_EQ(sgd.lr_schedule.step_size, 10);
  EXPECT_EQ(sgd.lr_schedule.factor, 0.1);  // unset: default
}

TEST(SpecMappingTest, RoundTripsEveryOptimizerAndFlavor) {
  std::vector<OptimizerConfig> configs = {SgdConfig{}, SgldConfig{}, SamConfig{}, EmcmcConfig{},
                                          EmcmcConfig::PaperDefaults()};
  for (auto v : {EntropySgdConfig::Variant::kLua, EntropySgdConfig::Variant::kPaper,
                 EntropySgdConfig::Variant::kPytorch}) {
    configs.push_back(EntropySgdConfig::Defaults(v));
  }
  SgldConfig sgld;
  sgld.lr_convention = SgldConfig::LrConvention::kWellingTeh;
  sgld.lr_schedule.kind = Schedule::Kind::kPolynomial;
  sgld.lr_schedule.power = 0.7;
  configs.push_back(sgld);
  for (const OptimizerConfig& config : configs) {
    const v1::OptimizerConfig proto = OptimizerConfigToProto(config);
    auto back = OptimizerConfigFromProto(proto);
    ASSERT_TRUE(back.ok()) << back.status() << proto.DebugString();
    EXPECT_EQ(ConfigFieldValues(*back), ConfigFieldValues(config)) << proto.DebugString();
  }
  SampleCollection samples;
  samples.which = SampleCollection::Which::kBoth;
  samples.cycle_length = 10;
  samples.cycle_window = 2;
  auto back = SampleCollectionFromProto(SampleCollectionToProto(samples));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->which, SampleCollection::Which::kBoth);
  EXPECT_EQ(back->cycle_window, 2);
}

TEST(SpecMappingTest, BadValuesAreInvalidArgumentNamingTheField) {
  auto expect = [](const std::string& text, const std::string& message) {
    auto c = OptimizerConfigFromProto(Parse(text));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(message)) << text;
  };
  expect("", "optimizer is not set");
  expect("entropy_sgd { gamma: -1 }", "entropy_sgd.gamma must be > 0, got -1");
  expect("entropy_sgd { L: 0 }", "entropy_sgd.L must be in [1, 1e+06], got 0");
  expect("sgd { lr: nan }", "sgd.lr must be a finite number, got nan");
  expect("sgd { nesterov: true }", "sgd.nesterov requires momentum > 0");
  expect("sgld { lr_schedule { kind: KIND_CYCLICAL_COSINE total: 2 cycles: 3 } }",
         "sgld.lr_schedule.total (2) must be at least sgld.lr_schedule.cycles (3)");
  expect("emcmc { form: FORM_PAPER weight_decay: 0.1 }", "emcmc.form = paper takes no num_data, weight_decay");
  expect("entropy_sgd { L: 9007199254740993 }", "entropy_sgd.L is out of range");

  // Open enums carry numbers the schema does not know.
  v1::OptimizerConfig unknown;
  unknown.mutable_entropy_sgd()->set_variant(static_cast<v1::EntropySgdConfig::Variant>(17));
  EXPECT_THAT(std::string(OptimizerConfigFromProto(unknown).status().message()),
              HasSubstr("entropy_sgd.variant has no value 17"));
  unknown.Clear();
  unknown.mutable_sam()->mutable_lr_schedule()->set_kind(static_cast<v1::Schedule::Kind>(99));
  EXPECT_THAT(std::string(OptimizerConfigFromProto(unknown).status().message()),
              HasSubstr("sam.lr_schedule.kind has no value 99"));

  v1::SampleCollection samples;
  samples.set_which(v1::SampleCollection::WHICH_MODEL);
  samples.set_thin(0);
  EXPECT_THAT(std::string(SampleCollectionFromProto(samples).status().message()),
              HasSubstr("samples.thin must be >= 1, got 0"));
}

}  // namespace
}  // namespace basin
