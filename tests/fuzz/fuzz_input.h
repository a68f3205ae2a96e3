#ifndef BASIN_TESTS_FUZZ_FUZZ_INPUT_H_
#define BASIN_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace basin::fuzz {

// A fuzz input read front to back as small fields, for targets whose input is a structure rather
// than one message. Past the end every read gives zeros (or fewer bytes), so every input, however
// cut, describes one complete case, and a mutation keeps the meaning of the fields before it.
// FuzzInputWriter writes the same fields, for seed corpora.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool done() const { return pos_ >= size_; }

  template <typename T>
  T Read() {
    static_assert(std::is_arithmetic_v<T>);
    T value{};
    const std::size_t n = std::min(sizeof(T), size_ - pos_);
    std::memcpy(&value, data_ + pos_, n);  // little-endian, as the writer
    pos_ += n;
    return value;
  }
  // Up to n bytes (fewer at the end).
  absl::string_view Bytes(std::size_t n) {
    n = std::min(n, size_ - pos_);
    const absl::string_view bytes(reinterpret_cast<const char*>(data_) + pos_, n);
    pos_ += n;
    return bytes;
  }

 private:
  const uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

class FuzzInputWriter {
 public:
  template <typename T>
  FuzzInputWriter& Write(T value) {
    static_assert(std::is_arithmetic_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    return *this;
  }
  FuzzInputWriter& Bytes(absl::string_view bytes) {
    bytes_.append(bytes.data(), bytes.size());
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace basin::fuzz

#endif  // BASIN_TESTS_FUZZ_FUZZ_INPUT_H_
