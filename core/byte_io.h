#ifndef BASIN_CORE_BYTE_IO_H_
#define BASIN_CORE_BYTE_IO_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace basin {

static_assert(std::endian::native == std::endian::little,
              "basin's binary formats are little-endian and written with memcpy");

// Appends little-endian scalars, length-prefixed strings and raw arrays to a string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  template <typename T>
  void Put(T value) {
    static_assert(std::is_arithmetic_v<T>);
    out_->append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutString(absl::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }
  void PutBytes(const void* data, std::size_t n) { out_->append(static_cast<const char*>(data), n); }

 private:
  std::string* out_;
};

// Reads what ByteWriter wrote from untrusted bytes: every read is bounds-checked and a short or
// oversized field is DataLoss naming what was being read.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view in) : in_(in) {}

  template <typename T>
  absl::StatusOr<T> Get(absl::string_view what) {
    static_assert(std::is_arithmetic_v<T>);
    if (in_.size() - pos_ < sizeof(T)) return Truncated(what);
    T value;
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  absl::StatusOr<std::string> GetString(absl::string_view what, std::size_t max_size) {
    auto size = Get<uint32_t>(what);
    if (!size.ok()) return size.status();
    if (*size > max_size) {
      return absl::DataLossError(absl::StrCat(what, " is ", *size, " bytes long; the limit is ", max_size));
    }
    if (in_.size() - pos_ < *size) return Truncated(what);
    std::string s(in_.substr(pos_, *size));
    pos_ += *size;
    return s;
  }
  // `out` may be null when n is 0 (an empty vector's data()), which memcpy must not be given.
  absl::Status GetBytes(absl::string_view what, void* out, std::size_t n) {
    if (in_.size() - pos_ < n) return Truncated(what);
    if (n > 0) std::memcpy(out, in_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return in_.size() - pos_; }

 private:
  absl::Status Truncated(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("truncated while reading ", what, " at byte ", pos_));
  }

  absl::string_view in_;
  std::size_t pos_ = 0;
};

// CRC-32C (Castagnoli), the checksum of every basin file format.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

}  // namespace basin

#endif  // BASIN_CORE_BYTE_IO_H_
