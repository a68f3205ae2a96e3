#ifndef BASIN_CORE_CONFIG_FIELDS_H_
#define BASIN_CORE_CONFIG_FIELDS_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace basin {

// Every hyper-parameter of every optimizer is described once, here, by a field table: its name
// (as in ALGORITHMS.md and the proto), type, valid range and meaning. The one table drives
// validation (with messages that name the field and value), state serialization, the printed
// documentation and the mapping from the wire. A value travels as a double: int64 fields are exact
// below 2^53, bools are 0/1 and enums their index.
enum class FieldType { kReal, kInt, kBool, kEnum };

// A closed or open interval a field's value must lie in.
struct FieldRange {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  static FieldRange Any() { return {}; }
  static FieldRange Positive() { return {0, std::numeric_limits<double>::infinity(), true, false}; }
  static FieldRange NonNegative() { return {0, std::numeric_limits<double>::infinity(), false, false}; }
  static FieldRange AtLeast(double lo) { return {lo, std::numeric_limits<double>::infinity(), false, false}; }
  static FieldRange Closed(double lo, double hi) { return {lo, hi, false, false}; }
  // [lo, hi)
  static FieldRange HalfOpen(double lo, double hi) { return {lo, hi, false, true}; }
  // (lo, hi]
  static FieldRange LeftOpen(double lo, double hi) { return {lo, hi, true, false}; }

  bool Contains(double v) const {
    const bool above = lo_open ? v > lo : v >= lo;
    const bool below = hi_open ? v < hi : v <= hi;
    return above && below;
  }
  std::string Describe() const;
};

template <typename Config>
struct FieldDef {
  std::string name;
  FieldType type = FieldType::kReal;
  std::function<double(const Config&)> get;
  std::function<void(Config&, double)> set;
  FieldRange range;
  std::vector<std::string> enum_names;  // kEnum: the name of each index
  std::string doc;
};

// Field constructors from a pointer to member (possibly nested through `outer`).
template <typename Config>
FieldDef<Config> RealField(std::string name, double Config::*member, FieldRange range, std::string doc) {
  return {std::move(name), FieldType::kReal, [member](const Config& c) { return c.*member; },
          [member](Config& c, double v) { c.*member = v; }, range, {}, std::move(doc)};
}
template <typename Config>
FieldDef<Config> IntField(std::string name, int64_t Config::*member, FieldRange range, std::string doc) {
  return {std::move(name), FieldType::kInt,
          [member](const Config& c) { return static_cast<double>(c.*member); },
          [member](Config& c, double v) { c.*member = static_cast<int64_t>(v); }, range, {}, std::move(doc)};
}
template <typename Config>
FieldDef<Config> BoolField(std::string name, bool Config::*member, std::string doc) {
  return {std::move(name), FieldType::kBool, [member](const Config& c) { return c.*member ? 1.0 : 0.0; },
          [member](Config& c, double v) { c.*member = v != 0; }, FieldRange::Closed(0, 1), {}, std::move(doc)};
}
template <typename Config, typename Enum>
FieldDef<Config> EnumField(std::string name, Enum Config::*member, std::vector<std::string> names,
                           std::string doc) {
  const double last = static_cast<double>(names.size()) - 1;
  return {std::move(name), FieldType::kEnum,
          [member](const Config& c) { return static_cast<double>(static_cast<int>(c.*member)); },
          [member](Config& c, double v) { c.*member = static_cast<Enum>(static_cast<int>(v)); },
          FieldRange::Closed(0, last), std::move(names), std::move(doc)};
}

// Re-roots the fields of a sub-struct (e.g. a Schedule) inside Config under "prefix.".
template <typename Config, typename Sub>
void AppendNested(std::vector<FieldDef<Config>>& out, const std::string& prefix, Sub Config::*member,
                  const std::vector<FieldDef<Sub>>& sub_fields) {
  for (const FieldDef<Sub>& f : sub_fields) {
    auto get = f.get;
    auto set = f.set;
    out.push_back({absl::StrCat(prefix, ".", f.name), f.type,
                   [member, get](const Config& c) { return get(c.*member); },
                   [member, set](Config& c, double v) { set(c.*member, v); }, f.range, f.enum_names, f.doc});
  }
}

// Checks `value` against the field: finite, integral for ints and enums, within range.
// `scope` prefixes the field name in messages ("sgd" gives "sgd.lr must be > 0, got -1").
absl::Status CheckFieldValue(absl::string_view scope, absl::string_view name, FieldType type,
                             const FieldRange& range, const std::vector<std::string>& enum_names,
                             double value);

template <typename Config>
absl::Status CheckFields(absl::string_view scope, const std::vector<FieldDef<Config>>& fields, const Config& c) {
  for (const FieldDef<Config>& f : fields) {
    absl::Status s = CheckFieldValue(scope, f.name, f.type, f.range, f.enum_names, f.get(c));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Sets field `name` of `c` to `value` after checking it; NotFound-free: an unknown name is
// InvalidArgument naming it, since it comes from a caller.
template <typename Config>
absl::Status SetField(absl::string_view scope, const std::vector<FieldDef<Config>>& fields, absl::string_view name,
                      double value, Config& c) {
  for (const FieldDef<Config>& f : fields) {
    if (f.name != name) continue;
    absl::Status s = CheckFieldValue(scope, f.name, f.type, f.range, f.enum_names, value);
    if (!s.ok()) return s;
    f.set(c, value);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(scope, " has no field '", name, "'"));
}

// "0.9", "true", "lua": a field's value as a person would write it.
template <typename Config>
std::string FormatFieldValue(const FieldDef<Config>& f, const Config& c) {
  const double v = f.get(c);
  switch (f.type) {
    case FieldType::kBool:
      return v != 0 ? "true" : "false";
    case FieldType::kEnum:
      return f.enum_names[static_cast<std::size_t>(v)];
    case FieldType::kInt:
      return absl::StrCat(static_cast<int64_t>(v));
    case FieldType::kReal:
      break;
  }
  return absl::StrCat(v);
}

}  // namespace basin

#endif  // BASIN_CORE_CONFIG_FIELDS_H_
