#include <cstring>

#include "impl.hpp"

namespace moq {
namespace {

using Storage = LibraryAccess::Storage;

struct StringStorage final : Storage {
  explicit StringStorage(std::string&& s) noexcept : text(std::move(s)) {}
  std::string text;
};

struct VectorStorage final : Storage {
  explicit VectorStorage(std::vector<uint8_t>&& v) noexcept : data(std::move(v)) {}
  std::vector<uint8_t> data;
};

}  // namespace

Bytes::Bytes(std::string&& text) noexcept {
  if (text.empty()) return;
  auto storage = std::make_shared<StringStorage>(std::move(text));
  data_ = reinterpret_cast<const uint8_t*>(storage->text.data());
  size_ = storage->text.size();
  storage_ = std::move(storage);
}

Bytes::Bytes(std::vector<uint8_t>&& data) noexcept {
  if (data.empty()) return;
  auto storage = std::make_shared<VectorStorage>(std::move(data));
  data_ = storage->data.data();
  size_ = storage->data.size();
  storage_ = std::move(storage);
}

Bytes Bytes::copy(const void* data, std::size_t size) noexcept {
  if (data == nullptr || size == 0) return Bytes();
  std::vector<uint8_t> buffer(size);
  std::memcpy(buffer.data(), data, size);
  return Bytes(std::move(buffer));
}

Bytes Bytes::copy(std::string_view text) noexcept { return copy(text.data(), text.size()); }

Result<Bytes> Bytes::slice(std::size_t offset, std::size_t length) const noexcept {
  if (offset > size_ || length > size_ - offset) {
    return Error(Errc::invalid_argument,
                 "Bytes::slice: offset " + std::to_string(offset) + " + length " +
                     std::to_string(length) + " reaches past the end of " + std::to_string(size_) +
                     " bytes; slice within size()");
  }
  if (length == 0) return Bytes();
  return Bytes(storage_, data_ + offset, length);
}

namespace ffi {
rust::Slice<const uint8_t> PayloadOwner::data() const noexcept {
  const auto call = handoff_.enter();
  static const uint8_t empty = 0;
  if (bytes_.empty()) return rust::Slice<const uint8_t>(&empty, 0);
  return rust::Slice<const uint8_t>(bytes_.data(), bytes_.size());
}
}  // namespace ffi
}  // namespace moq
