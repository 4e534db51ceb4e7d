// moq/bytes.hpp — immutable, shared payload buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "moq/error.hpp"

namespace moq {

/// An immutable byte buffer that shares ownership of its storage: copies are
/// cheap (a reference count), and the data never changes while any copy lives.
///
/// Made without copying from `std::string&&` or `std::vector<uint8_t>&&`, or by
/// copying `(ptr, len)`. Received payloads are Bytes that share the buffer the
/// network delivered (no copy); they stay valid as long as you keep the Bytes,
/// also after the callback that delivered them has returned.
///
/// Thread-safety: a Bytes may be copied and read from any thread.
class Bytes {
 public:
  /// Empty.
  Bytes() noexcept = default;
  /// Takes `text` without copying it.
  explicit Bytes(std::string&& text) noexcept;
  /// Takes `data` without copying it.
  explicit Bytes(std::vector<uint8_t>&& data) noexcept;

  /// Copies `size` bytes at `data`.
  static Bytes copy(const void* data, std::size_t size) noexcept;
  /// Copies `text`.
  static Bytes copy(std::string_view text) noexcept;

  const uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// The bytes as a view (valid while this Bytes lives).
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  /// The bytes copied into a std::string.
  std::string to_string() const { return std::string(view()); }

  /// The `length` bytes from `offset`, sharing this buffer (no copy). Written
  /// to a track, a slice sends exactly its own bytes. Errors: invalid_argument
  /// when the range does not lie within size().
  Result<Bytes> slice(std::size_t offset, std::size_t length) const noexcept;

 private:
  struct Storage;               // defined by the library: what owns the buffer
  friend struct LibraryAccess;  // how the library makes Bytes over its buffers
  Bytes(std::shared_ptr<const Storage> storage, const uint8_t* data, std::size_t size) noexcept
      : storage_(std::move(storage)), data_(data), size_(size) {}

  std::shared_ptr<const Storage> storage_;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace moq
