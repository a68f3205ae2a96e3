// Fuzz target: the optimizer state codec (core/state_codec.h), the core of a snapshot and of a
// checkpoint, on untrusted bytes. Each input is decoded as it is and, since a mutation almost
// always breaks the trailing CRC-32C, once more with the checksum made right, so the fuzzer
// reaches the body.
//
// Invariants: no crash, leak or unbounded allocation; a refusal is DATA_LOSS or INVALID_ARGUMENT
// with a message; bytes that decode are exactly what encoding the decoded optimizer gives back;
// and that optimizer runs a tick (a zero gradient, which Tell must accept), after which it still
// encodes to bytes that decode.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "core/byte_io.h"
#include "core/state_codec.h"
#include "tests/fuzz/allocation_meter.h"
#include "tests/fuzz/fuzz_check.h"

namespace basin {
namespace {

// Where the first difference is, to make a finding readable.
std::string FirstDifference(absl::string_view a, absl::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return absl::StrCat("sizes ", a.size(), " and ", b.size(), ", first difference at byte ", i, ": '",
                      absl::CHexEscape(a.substr(i, 16)), "' vs '", absl::CHexEscape(b.substr(i, 16)), "'");
}

void CheckDecode(absl::string_view bytes) {
  absl::StatusOr<AnyOptimizer> decoded;
  {
    fuzz::AllocationMeter meter;
    decoded = DecodeState(bytes);
    // Every state variable has the size of the buffer that must be present in full, and an
    // optimizer has at most 8; samples are present in full too.
    const int64_t allowed = 9 * static_cast<int64_t>(bytes.size()) + (256 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "decoding ",
                     bytes.size(), " bytes allocated ", meter.peak_bytes(), " at the peak");
  }
  if (!decoded.ok()) {
    const absl::StatusCode code = decoded.status().code();
    BASIN_FUZZ_CHECK((code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument) &&
                         !decoded.status().message().empty(),
                     "a refused state: ", decoded.status().ToString());
    return;
  }
  const std::string encoded = EncodeState(*decoded);
  BASIN_FUZZ_CHECK(encoded == bytes, "a state that decodes does not encode to the same bytes: ",
                   FirstDifference(bytes, encoded));

  std::visit(
      [](auto& o) {
        using Real = typename std::decay_t<decltype(*o)>::Buffer::value_type;
        const std::vector<Real> zero(static_cast<std::size_t>(o->dimension()), Real{0});
        const absl::Status told = o->Tell(zero, 0.0);
        BASIN_FUZZ_CHECK(told.ok(), "a decoded optimizer refuses a zero gradient: ", told.ToString());
      },
      *decoded);
  const std::string after_tick = EncodeState(*decoded);
  auto again = DecodeState(after_tick);
  BASIN_FUZZ_CHECK(again.ok(), "the state after one tick does not decode: ", again.status().ToString());
}

}  // namespace
}  // namespace basin

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  basin::CheckDecode(bytes);
  if (size >= 4) {
    std::string fixed(bytes);
    const uint32_t crc = basin::Crc32c(bytes.substr(0, size - 4));
    std::memcpy(fixed.data() + size - 4, &crc, 4);
    if (fixed != bytes) basin::CheckDecode(fixed);
  }
  return 0;
}
