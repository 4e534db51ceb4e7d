// moq/names.hpp — MoQT namespaces (tuples of fields).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "moq/error.hpp"

namespace moq {

/// A MoQT track namespace: 1 to 32 non-empty UTF-8 fields, at most 4096 bytes
/// together with the track name. Only valid namespaces can be made.
/// A value type: copy and use it from any thread.
class Namespace {
 public:
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

 private:
  explicit Namespace(std::vector<std::string> parts) noexcept : parts_(std::move(parts)) {}
  std::vector<std::string> parts_;
};

}  // namespace moq
