#include "core/half.h"

#include <cassert>
#include <cstdint>
#include <cstring>

namespace basin {

absl::string_view WireDTypeName(WireDType d) {
  switch (d) {
    case WireDType::kF32: return "f32";
    case WireDType::kF64: return "f64";
    case WireDType::kBF16: return "bf16";
    case WireDType::kF16: return "f16";
  }
  return "unknown";
}

namespace {

// One loop per (wire, state) pair, each a load, a conversion and a store, so that the compiler
// (and later explicit SIMD) sees straight-line bodies. memcpy keeps unaligned wire bytes free of
// aliasing and alignment UB and compiles to plain loads and stores.

template <typename Wire, typename Real, typename Convert>
void DecodeLoop(const char* bytes, int64_t n, Real* out, Convert convert) {
  for (int64_t i = 0; i < n; ++i) {
    Wire w;
    std::memcpy(&w, bytes + i * static_cast<int64_t>(sizeof(Wire)), sizeof(Wire));
    out[i] = convert(w);
  }
}

template <typename Wire, typename Real, typename Convert>
void EncodeLoop(const Real* in, int64_t n, char* out, Convert convert) {
  for (int64_t i = 0; i < n; ++i) {
    const Wire w = convert(in[i]);
    std::memcpy(out + i * static_cast<int64_t>(sizeof(Wire)), &w, sizeof(Wire));
  }
}

}  // namespace

void DecodeToState(WireDType wire, const char* bytes, int64_t n, float* out) {
  if (n <= 0) return;
  switch (wire) {
    case WireDType::kF32:
      std::memcpy(out, bytes, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case WireDType::kF64:
      return DecodeLoop<double>(bytes, n, out, [](double v) { return static_cast<float>(v); });
    case WireDType::kBF16:
      return DecodeLoop<uint16_t>(bytes, n, out, Bf16ToFloat);
    case WireDType::kF16:
      return DecodeLoop<uint16_t>(bytes, n, out, F16ToFloat);
  }
  assert(false && "not a WireDType");
}

void DecodeToState(WireDType wire, const char* bytes, int64_t n, double* out) {
  if (n <= 0) return;
  switch (wire) {
    case WireDType::kF32:
      return DecodeLoop<float>(bytes, n, out, [](float v) { return static_cast<double>(v); });
    case WireDType::kF64:
      std::memcpy(out, bytes, static_cast<std::size_t>(n) * sizeof(double));
      return;
    case WireDType::kBF16:
      return DecodeLoop<uint16_t>(bytes, n, out, [](uint16_t h) { return static_cast<double>(Bf16ToFloat(h)); });
    case WireDType::kF16:
      return DecodeLoop<uint16_t>(bytes, n, out, [](uint16_t h) { return static_cast<double>(F16ToFloat(h)); });
  }
  assert(false && "not a WireDType");
}

void EncodeFromState(WireDType wire, const float* in, int64_t n, char* out) {
  if (n <= 0) return;
  switch (wire) {
    case WireDType::kF32:
      std::memcpy(out, in, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case WireDType::kF64:
      return EncodeLoop<double>(in, n, out, [](float v) { return static_cast<double>(v); });
    case WireDType::kBF16:
      return EncodeLoop<uint16_t>(in, n, out, FloatToBf16);
    case WireDType::kF16:
      return EncodeLoop<uint16_t>(in, n, out, FloatToF16);
  }
  assert(false && "not a WireDType");
}

void EncodeFromState(WireDType wire, const double* in, int64_t n, char* out) {
  if (n <= 0) return;
  switch (wire) {
    case WireDType::kF32:
      return EncodeLoop<float>(in, n, out, [](double v) { return static_cast<float>(v); });
    case WireDType::kF64:
      std::memcpy(out, in, static_cast<std::size_t>(n) * sizeof(double));
      return;
    case WireDType::kBF16:
      return EncodeLoop<uint16_t>(in, n, out, DoubleToBf16);
    case WireDType::kF16:
      return EncodeLoop<uint16_t>(in, n, out, DoubleToF16);
  }
  assert(false && "not a WireDType");
}

}  // namespace basin
