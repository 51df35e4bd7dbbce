// SharedBytes: a read-only view of bytes kept alive by shared ownership.
//
// Record data is the bulk of Produce and Fetch, and copying it between the
// socket and the caller costs as much as everything else a client does per
// record. So a message's `records` field is one of these: decoded from a
// frame, it views the frame and shares its ownership (the frame lives as
// long as any view of it); built by a producer, it views the batch.
//
//   auto frame = std::make_shared<const ByteBuffer>(std::move(buf));
//   SharedBytes records(frame, frame->span().subspan(16, 1024));
//   SharedBytes copy = records;        // no byte copied; frame stays alive
//   std::vector<uint8_t> v = {1, 2};
//   SharedBytes owned(std::move(v));   // takes the vector, no copy
//
// Copies share the bytes; the bytes are never written through a view.
// Thread-safe as a shared_ptr is: distinct SharedBytes objects may be used on
// distinct threads even when they view the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "runnel/common/byte_buffer.h"

namespace runnel {

class SharedBytes {
 public:
  SharedBytes() = default;
  // Views `view`, which `owner` keeps alive.
  SharedBytes(std::shared_ptr<const void> owner, std::span<const uint8_t> view)
      : owner_(std::move(owner)), data_(view.data()), size_(view.size()) {}
  // Takes ownership of `bytes` without copying them. Implicit, so code that
  // fills a field with a vector reads as it did when fields were vectors.
  SharedBytes(std::vector<uint8_t>&& bytes)  // NOLINT(google-explicit-constructor)
      : own_copy_(true) {
    auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    data_ = owned->data();
    size_ = owned->size();
    owner_ = std::move(owned);
  }
  explicit SharedBytes(ByteBuffer&& bytes) {
    auto owned = std::make_shared<const ByteBuffer>(std::move(bytes));
    data_ = owned->data();
    size_ = owned->size();
    owner_ = std::move(owned);
  }
  // Copies `bytes` into storage of its own.
  static SharedBytes CopyOf(std::span<const uint8_t> bytes) {
    return SharedBytes(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint8_t* begin() const { return data_; }
  const uint8_t* end() const { return data_ + size_; }
  uint8_t operator[](size_t i) const { return data_[i]; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  // What keeps the bytes alive (null for an empty value): hand it to
  // anything that views the bytes past this object's life.
  const std::shared_ptr<const void>& owner() const { return owner_; }

  // The bytes, writable, when this object alone holds storage of its own
  // (made from a vector or by CopyOf, and not shared since); else empty.
  // A broker rewrites offsets in the batches of a request it decoded with
  // copies this way instead of copying them once more.
  std::span<uint8_t> WritableIfSole() {
    if (!own_copy_ || owner_.use_count() != 1) return {};
    // The vector's elements are not const objects: only this view is.
    return {const_cast<uint8_t*>(data_), size_};
  }

  // Equal bytes, whoever owns them.
  friend bool operator==(const SharedBytes& a, const SharedBytes& b) {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool own_copy_ = false;  // owner_ is a vector made for this object
};

}  // namespace runnel
