// ByteBuffer: a growable byte array that does not zero what it grows into.
//
// Encoders (request writers, the record batch builder, codecs) append straight
// into one of these and back-patch lengths and checksums afterwards, so growth
// must be cheap and must not initialise bytes about to be overwritten, which
// std::vector<uint8_t>::resize and std::string::resize both do.
//
//   runnel::ByteBuffer buf;
//   size_t len_at = buf.size();
//   buf.AppendUninitialized(4);            // length, patched below
//   buf.Append(payload.data(), payload.size());
//   StoreBigEndian32(buf.data() + len_at, payload.size());
//
// Not thread-safe; one owner at a time. Movable, not copyable (copy with
// Append(other.data(), other.size()) when a copy is really wanted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>

namespace runnel {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(size_t reserve) { Reserve(reserve); }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  void Clear() { size_ = 0; }

  void Reserve(size_t n) {
    if (n > capacity_) Grow(n);
  }

  // Grows by `n` bytes whose contents are unspecified and returns a pointer
  // to the first of them. The pointer is valid until the next growth.
  uint8_t* AppendUninitialized(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    uint8_t* p = data_ + size_;
    size_ += n;
    return p;
  }

  void Append(const void* p, size_t n) {
    if (n == 0) return;
    std::memcpy(AppendUninitialized(n), p, n);
  }
  void Append(std::span<const uint8_t> s) { Append(s.data(), s.size()); }
  void Append(std::string_view s) { Append(s.data(), s.size()); }
  void PushBack(uint8_t b) { *AppendUninitialized(1) = b; }

  // Shrinks to `n` bytes (n <= size()).
  void Truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  void ResizeUninitialized(size_t n) {
    if (n > capacity_) Grow(n);
    size_ = n;
  }

 private:
  void Grow(size_t min_capacity) {
    size_t cap = capacity_ < 64 ? 64 : capacity_;
    while (cap < min_capacity) cap *= 2;
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
    capacity_ = cap;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace runnel
