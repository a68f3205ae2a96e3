#ifndef BASIN_CORE_ALIGNED_BUFFER_H_
#define BASIN_CORE_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/types/span.h"

namespace basin {

// Every state variable lives in one of these: contiguous, 64-byte aligned (a cache line and an
// AVX-512 register), zero-initialised, owning. Movable, copyable (deep copy).
template <typename T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  using value_type = T;
  static constexpr std::size_t kAlignment = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t size) { Resize(size); }
  AlignedBuffer(const AlignedBuffer& other) { *this = other; }
  AlignedBuffer& operator=(const AlignedBuffer& other) {
    if (this != &other) {
      Resize(other.size_);
      if (size_ != 0) std::memcpy(data_, other.data_, size_ * sizeof(T));
    }
    return *this;
  }
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      Free();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { Free(); }

  // Discards the contents; the new buffer is zero-filled.
  void Resize(std::size_t size) {
    Free();
    if (size == 0) return;
    // Round the allocation up to whole cache lines so vector loops may read a full last line.
    const std::size_t bytes = (size * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{kAlignment}));
    std::memset(static_cast<void*>(data_), 0, bytes);
    size_ = size;
  }
  void Fill(T value) {
    for (std::size_t i = 0; i < size_; ++i) data_[i] = value;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  absl::Span<T> span() { return absl::MakeSpan(data_, size_); }
  absl::Span<const T> span() const { return absl::MakeConstSpan(data_, size_); }

 private:
  void Free() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t{kAlignment});
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace basin

#endif  // BASIN_CORE_ALIGNED_BUFFER_H_
