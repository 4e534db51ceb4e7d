#include "impl.hpp"

namespace moq {

Result<Namespace> Namespace::parse(std::string_view path) noexcept {
  auto parts = detail::checked(
      [&](ffi::Status& status) { return ffi::namespace_parse(detail::as_slice(path), status); });
  if (!parts) return parts.error();
  std::vector<std::string> out;
  out.reserve(parts->size());
  for (const auto& part : *parts) out.emplace_back(part);
  return Namespace(std::move(out));
}

Result<Namespace> Namespace::from_parts(std::vector<std::string> parts) noexcept {
  Status status = detail::to_status(ffi::namespace_check(parts));
  if (!status) return status.error();
  return Namespace(std::move(parts));
}

std::string Namespace::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (i > 0) out += '/';
    out += parts_[i];
  }
  return out;
}

}  // namespace moq
