// moq/names.hpp — MoQT namespaces (tuples of fields).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "moq/error.hpp"

namespace moq {

/// A MoQT track namespace: 1 to 32 non-empty UTF-8 fields, at most 4096 bytes
/// together with the track name. Only valid namespaces can be made, except
/// the default-constructed one (no fields), a placeholder that every request
/// refuses with Errc::invalid_argument.
/// A value type: copy it, compare it (==, <: field by field), hash it
/// (std::hash), use it as a map key, from any thread.
class Namespace {
 public:
  /// The empty placeholder (no fields); see above.
  Namespace() noexcept = default;

  /// Splits `path` at '/': "live/cam1" has the fields "live" and "cam1".
  /// Errors (Errc::invalid_argument): empty, an empty field (leading,
  /// trailing or doubled '/'), more than 32 fields, not UTF-8, too long.
  static Result<Namespace> parse(std::string_view path) noexcept;
  /// From fields directly (a field may then contain '/').
  static Result<Namespace> from_parts(std::vector<std::string> parts) noexcept;

  const std::vector<std::string>& parts() const noexcept { return parts_; }
  /// The fields joined with '/'.
  std::string to_string() const;

  friend bool operator==(const Namespace& a, const Namespace& b) noexcept {
    return a.parts_ == b.parts_;
  }
  friend bool operator!=(const Namespace& a, const Namespace& b) noexcept { return !(a == b); }
  friend bool operator<(const Namespace& a, const Namespace& b) noexcept { return a.parts_ < b.parts_; }
  friend bool operator>(const Namespace& a, const Namespace& b) noexcept { return b < a; }
  friend bool operator<=(const Namespace& a, const Namespace& b) noexcept { return !(b < a); }
  friend bool operator>=(const Namespace& a, const Namespace& b) noexcept { return !(a < b); }

 private:
  explicit Namespace(std::vector<std::string> parts) noexcept : parts_(std::move(parts)) {}
  std::vector<std::string> parts_;
};

}  // namespace moq

namespace std {
template <>
struct hash<moq::Namespace> {
  std::size_t operator()(const moq::Namespace& ns) const noexcept {
    // Each field's hash mixed in order (boost::hash_combine), so ("a","bc")
    // and ("ab","c") differ.
    std::size_t seed = ns.parts().size();
    for (const std::string& part : ns.parts()) {
      seed ^= std::hash<std::string>{}(part) + static_cast<std::size_t>(0x9e3779b97f4a7c15ull) +
              (seed << 6) + (seed >> 2);
    }
    return seed;
  }
};
}  // namespace std
