#include "core/state_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/byte_io.h"
#include "core/status_macros.h"

namespace basin {
namespace {

constexpr absl::string_view kMagic = "BASNSTAT";
constexpr uint32_t kVersion = 1;
constexpr std::size_t kMaxName = 4096;
constexpr uint32_t kMaxRank = 64;


void PutFields(ByteWriter& w, const std::vector<std::pair<std::string, double>>& fields) {
  w.Put<uint32_t>(static_cast<uint32_t>(fields.size()));
  for (const auto& [name, value] : fields) {
    w.PutString(name);
    w.Put<double>(value);
  }
}

absl::StatusOr<std::vector<std::pair<std::string, double>>> GetFields(ByteReader& r, absl::string_view what) {
  BASIN_ASSIGN_OR_RETURN(auto n, r.Get<uint32_t>(absl::StrCat(what, " field count")));
  if (n > 1024) return absl::DataLossError(absl::StrCat(what, " has ", n, " fields; at most 1024 are possible"));
  std::vector<std::pair<std::string, double>> fields;
  for (uint32_t i = 0; i < n; ++i) {
    BASIN_ASSIGN_OR_RETURN(auto name, r.GetString(absl::StrCat(what, " field name"), kMaxName));
    BASIN_ASSIGN_OR_RETURN(auto value, r.Get<double>(absl::StrCat(what, " field '", name, "'")));
    fields.emplace_back(std::move(name), value);
  }
  return fields;
}

// The stored fields must be the ones the encoder writes for the config they decoded to: every
// field once, in table order, each with the bits reading it back gives. Otherwise the bytes are no
// state this codec wrote: a damaged name could set one field twice and leave another at its
// default, or -0 could stand for an integer 0.
absl::Status CheckCanonicalFields(absl::string_view what, const std::vector<std::pair<std::string, double>>& stored,
                                  const std::vector<std::pair<std::string, double>>& canonical) {
  for (std::size_t i = 0; i < stored.size() && i < canonical.size(); ++i) {
    if (stored[i].first != canonical[i].first) {
      return absl::DataLossError(absl::StrCat(what, " field ", i, " is '", stored[i].first, "'; the format has '",
                                              canonical[i].first, "' there"));
    }
  }
  if (stored.size() != canonical.size()) {
    return absl::DataLossError(
        absl::StrCat(what, " has ", stored.size(), " fields; the format has ", canonical.size()));
  }
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (std::memcmp(&stored[i].second, &canonical[i].second, sizeof(double)) != 0) {
      return absl::DataLossError(absl::StrCat(what, " field '", stored[i].first, "' is stored as ",
                                              stored[i].second, ", which reads back as ", canonical[i].second));
    }
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, double>> SampleFieldValues(const SampleCollection& s) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& f : SampleCollection::Fields()) out.emplace_back(f.name, f.get(s));
  return out;
}

// Reads the header and checksum; on success `body` starts after the version and dtype.
absl::StatusOr<DType> CheckEnvelope(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() + 4 + 1 + 4 || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError("not a basin optimizer state (bad magic)");
  }
  const absl::string_view covered = bytes.substr(0, bytes.size() - 4);
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  const uint32_t actual = Crc32c(covered);
  if (stored != actual) {
    return absl::DataLossError(absl::StrCat("optimizer state checksum mismatch: stored 0x", absl::Hex(stored),
                                            ", computed 0x", absl::Hex(actual)));
  }
  ByteReader r(covered.substr(kMagic.size()));
  BASIN_ASSIGN_OR_RETURN(auto version, r.Get<uint32_t>("version"));
  if (version != kVersion) {
    return absl::DataLossError(absl::StrCat("optimizer state version ", version, " is not supported (this build reads ",
                                            kVersion, ")"));
  }
  BASIN_ASSIGN_OR_RETURN(auto dtype, r.Get<uint8_t>("dtype"));
  if (dtype > 1) return absl::DataLossError(absl::StrCat("unknown state dtype ", static_cast<int>(dtype)));
  return static_cast<DType>(dtype);
}

}  // namespace

template <typename Real>
std::string StateCodec<Real>::Encode(const Optimizer<Real>& o) {
  std::string out;
  ByteWriter w(&out);
  w.PutBytes(kMagic.data(), kMagic.size());
  w.Put<uint32_t>(kVersion);
  w.Put<uint8_t>(static_cast<uint8_t>(DTypeOf<Real>()));
  w.PutString(OptimizerName(o.spec_.config));
  PutFields(w, ConfigFieldValues(o.spec_.config));
  PutFields(w, SampleFieldValues(o.spec_.samples));
  w.Put<uint64_t>(o.spec_.seed);
  w.Put<uint32_t>(static_cast<uint32_t>(o.layout_.num_tensors()));
  for (const TensorSpec& t : o.layout_.tensors()) {
    w.PutString(t.name);
    w.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t dim : t.shape) w.Put<int64_t>(dim);
  }
  w.Put<int64_t>(o.tick_);
  w.Put<int64_t>(o.step_);
  w.Put<int64_t>(o.phase_);
  w.Put<double>(o.last_loss_);
  w.Put<double>(o.step_loss_sum_);
  w.Put<double>(o.last_step_mean_loss_);
  w.Put<double>(o.last_gradient_norm_);
  w.Put<int64_t>(o.samples_dropped_);
  w.Put<uint32_t>(static_cast<uint32_t>(o.buffers_.size()));
  for (const auto& [name, buffer] : o.buffers_) {
    w.PutString(name);
    w.Put<uint64_t>(buffer->size());
    w.PutBytes(buffer->data(), buffer->size() * sizeof(Real));
  }
  w.Put<uint32_t>(static_cast<uint32_t>(o.samples_.size()));
  for (const auto& sample : o.samples_) {
    w.Put<int64_t>(sample.step);
    w.Put<uint8_t>(static_cast<uint8_t>(sample.variable));
    w.PutBytes(sample.values.data(), sample.values.size() * sizeof(Real));
  }
  w.Put<uint32_t>(Crc32c(out));
  return out;
}

template <typename Real>
absl::StatusOr<std::unique_ptr<Optimizer<Real>>> StateCodec<Real>::Decode(absl::string_view bytes) {
  BASIN_ASSIGN_OR_RETURN(auto dtype, CheckEnvelope(bytes));
  if (dtype != DTypeOf<Real>()) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer state is ", DTypeName(dtype), ", not ",
                                                   DTypeName(DTypeOf<Real>())));
  }
  ByteReader r(bytes.substr(kMagic.size() + 4 + 1, bytes.size() - kMagic.size() - 4 - 1 - 4));

  OptimizerSpec spec;
  BASIN_ASSIGN_OR_RETURN(auto name, r.GetString("optimizer name", kMaxName));
  BASIN_ASSIGN_OR_RETURN(auto config, DefaultConfig(name));
  BASIN_ASSIGN_OR_RETURN(auto config_fields, GetFields(r, name));
  for (const auto& [field, value] : config_fields) BASIN_RETURN_IF_ERROR(SetConfigField(config, field, value));
  BASIN_RETURN_IF_ERROR(CheckCanonicalFields(name, config_fields, ConfigFieldValues(config)));
  spec.config = std::move(config);
  BASIN_ASSIGN_OR_RETURN(auto sample_fields, GetFields(r, "samples"));
  for (const auto& [field, value] : sample_fields) {
    BASIN_RETURN_IF_ERROR(SetField("samples", SampleCollection::Fields(), field, value, spec.samples));
  }
  BASIN_RETURN_IF_ERROR(CheckCanonicalFields("samples", sample_fields, SampleFieldValues(spec.samples)));
  BASIN_ASSIGN_OR_RETURN(auto seed, r.Get<uint64_t>("seed"));
  spec.seed = seed;

  BASIN_ASSIGN_OR_RETURN(auto num_tensors, r.Get<uint32_t>("tensor count"));
  if (num_tensors > r.remaining()) return absl::DataLossError(absl::StrCat("tensor count ", num_tensors, " is corrupt"));
  std::vector<TensorSpec> tensors(num_tensors);
  for (TensorSpec& t : tensors) {
    BASIN_ASSIGN_OR_RETURN(auto tensor_name, r.GetString("tensor name", kMaxName));
    t.name = std::move(tensor_name);
    BASIN_ASSIGN_OR_RETURN(auto rank, r.Get<uint32_t>("tensor rank"));
    if (rank > kMaxRank) return absl::DataLossError(absl::StrCat("tensor '", t.name, "' has rank ", rank));
    for (uint32_t d = 0; d < rank; ++d) {
      BASIN_ASSIGN_OR_RETURN(auto dim, r.Get<int64_t>("tensor dimension"));
      t.shape.push_back(dim);
    }
  }
  BASIN_ASSIGN_OR_RETURN(auto layout, ParameterLayout::Create(std::move(tensors)));
  // Refuse before allocating: the buffers must be present in full.
  if (static_cast<uint64_t>(layout.num_elements()) * sizeof(Real) > r.remaining()) {
    return absl::DataLossError(absl::StrCat("state is ", bytes.size(), " bytes, too short for a layout of ",
                                            layout.num_elements(), " elements"));
  }
  BASIN_ASSIGN_OR_RETURN(auto optimizer, CreateOptimizer<Real>(spec, layout));
  Optimizer<Real>& o = *optimizer;

  BASIN_ASSIGN_OR_RETURN(auto tick, r.Get<int64_t>("tick"));
  BASIN_ASSIGN_OR_RETURN(auto step, r.Get<int64_t>("step"));
  BASIN_ASSIGN_OR_RETURN(auto phase, r.Get<int64_t>("phase"));
  if (tick < 0 || step < 0 || phase < 0 || phase >= o.ticks_per_step() || step > tick) {
    return absl::DataLossError(absl::StrCat("inconsistent counters: tick ", tick, ", step ", step, ", phase ", phase,
                                            " with ", o.ticks_per_step(), " ticks per step"));
  }
  o.tick_ = tick;
  o.step_ = step;
  o.phase_ = phase;
  BASIN_ASSIGN_OR_RETURN(auto last_loss, r.Get<double>("last loss"));
  BASIN_ASSIGN_OR_RETURN(auto step_loss_sum, r.Get<double>("step loss sum"));
  BASIN_ASSIGN_OR_RETURN(auto last_step_mean_loss, r.Get<double>("last step mean loss"));
  BASIN_ASSIGN_OR_RETURN(auto last_gradient_norm, r.Get<double>("last gradient norm"));
  BASIN_ASSIGN_OR_RETURN(auto samples_dropped, r.Get<int64_t>("samples dropped"));
  o.last_loss_ = last_loss;
  o.step_loss_sum_ = step_loss_sum;
  o.last_step_mean_loss_ = last_step_mean_loss;
  o.last_gradient_norm_ = last_gradient_norm;
  o.samples_dropped_ = samples_dropped;

  BASIN_ASSIGN_OR_RETURN(auto num_buffers, r.Get<uint32_t>("buffer count"));
  if (num_buffers != o.buffers_.size()) {
    return absl::DataLossError(absl::StrCat("state has ", num_buffers, " buffers; ", name, " with this config has ",
                                            o.buffers_.size()));
  }
  for (auto& [expected_name, buffer] : o.buffers_) {
    BASIN_ASSIGN_OR_RETURN(auto buffer_name, r.GetString("buffer name", kMaxName));
    if (buffer_name != expected_name) {
      return absl::DataLossError(absl::StrCat("expected buffer '", expected_name, "', found '", buffer_name, "'"));
    }
    BASIN_ASSIGN_OR_RETURN(auto count, r.Get<uint64_t>("buffer size"));
    if (count != buffer->size()) {
      return absl::DataLossError(absl::StrCat("buffer '", buffer_name, "' has ", count, " elements; the layout has ",
                                              buffer->size()));
    }
    BASIN_RETURN_IF_ERROR(r.GetBytes(buffer_name, buffer->data(), count * sizeof(Real)));
  }

  BASIN_ASSIGN_OR_RETURN(auto num_samples, r.Get<uint32_t>("sample count"));
  const uint64_t sample_bytes = static_cast<uint64_t>(o.dimension()) * sizeof(Real);
  if (num_samples > r.remaining() / (sample_bytes + 9)) {  // a division: the product could overflow
    return absl::DataLossError(absl::StrCat("sample count ", num_samples, " exceeds the bytes present"));
  }
  for (uint32_t i = 0; i < num_samples; ++i) {
    typename Optimizer<Real>::Sample sample;
    BASIN_ASSIGN_OR_RETURN(auto sample_step, r.Get<int64_t>("sample step"));
    BASIN_ASSIGN_OR_RETURN(auto variable, r.Get<uint8_t>("sample variable"));
    if (variable > 1) return absl::DataLossError(absl::StrCat("sample variable ", static_cast<int>(variable)));
    sample.step = sample_step;
    sample.variable = static_cast<typename Optimizer<Real>::Sample::Variable>(variable);
    sample.values.Resize(static_cast<std::size_t>(o.dimension()));
    BASIN_RETURN_IF_ERROR(r.GetBytes("sample values", sample.values.data(), sample_bytes));
    o.samples_.push_back(std::move(sample));
  }
  if (r.remaining() != 0) {
    return absl::DataLossError(absl::StrCat(r.remaining(), " unexpected bytes after the samples"));
  }
  return optimizer;
}

std::string EncodeState(const AnyOptimizer& optimizer) {
  return std::visit(
      [](const auto& o) {
        using Real = typename std::decay_t<decltype(*o)>::Buffer::value_type;
        return StateCodec<Real>::Encode(*o);
      },
      optimizer);
}

absl::StatusOr<AnyOptimizer> DecodeState(absl::string_view bytes) {
  BASIN_ASSIGN_OR_RETURN(auto dtype, CheckEnvelope(bytes));
  if (dtype == DType::kF32) {
    BASIN_ASSIGN_OR_RETURN(auto o, StateCodec<float>::Decode(bytes));
    return AnyOptimizer(std::move(o));
  }
  BASIN_ASSIGN_OR_RETURN(auto o, StateCodec<double>::Decode(bytes));
  return AnyOptimizer(std::move(o));
}

template class StateCodec<float>;
template class StateCodec<double>;

}  // namespace basin
