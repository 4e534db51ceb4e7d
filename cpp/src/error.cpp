#include <cstdio>
#include <cstdlib>

#include "impl.hpp"

namespace moq {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::invalid_url: return "invalid_url";
    case Errc::tls: return "tls";
    case Errc::connect_failed: return "connect_failed";
    case Errc::timeout: return "timeout";
    case Errc::not_connected: return "not_connected";
    case Errc::closed: return "closed";
    case Errc::not_found: return "not_found";
    case Errc::duplicate: return "duplicate";
    case Errc::unsupported: return "unsupported";
    case Errc::payload_too_large: return "payload_too_large";
    case Errc::protocol: return "protocol";
    case Errc::cancelled: return "cancelled";
    case Errc::would_block: return "would_block";
    case Errc::internal: return "internal";
    case Errc::lagging: return "lagging";
    case Errc::end_of_track: return "end_of_track";
  }
  return "unknown";
}

namespace {
class Category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "moq"; }
  [[nodiscard]] std::string message(int code) const override { return to_string(static_cast<Errc>(code)); }
};
}  // namespace

const std::error_category& error_category() noexcept {
  // Never destroyed: a std::error_code may be compared during static destruction.
  static const Category* const category = new Category();
  return *category;
}

// ffi::Code (Rust's codes) and Errc share their values: to_error turns a bridge code into an Errc by its number: every one must match.
constexpr bool same_code(ffi::Code bridge, Errc code) {
  return static_cast<int>(bridge) == static_cast<int>(code);
}
static_assert(same_code(ffi::Code::InvalidArgument, Errc::invalid_argument));
static_assert(same_code(ffi::Code::InvalidUrl, Errc::invalid_url));
static_assert(same_code(ffi::Code::Tls, Errc::tls));
static_assert(same_code(ffi::Code::ConnectFailed, Errc::connect_failed));
static_assert(same_code(ffi::Code::Timeout, Errc::timeout));
static_assert(same_code(ffi::Code::NotConnected, Errc::not_connected));
static_assert(same_code(ffi::Code::Closed, Errc::closed));
static_assert(same_code(ffi::Code::NotFound, Errc::not_found));
static_assert(same_code(ffi::Code::Duplicate, Errc::duplicate));
static_assert(same_code(ffi::Code::Unsupported, Errc::unsupported));
static_assert(same_code(ffi::Code::PayloadTooLarge, Errc::payload_too_large));
static_assert(same_code(ffi::Code::Protocol, Errc::protocol));
static_assert(same_code(ffi::Code::Cancelled, Errc::cancelled));
static_assert(same_code(ffi::Code::WouldBlock, Errc::would_block));
static_assert(same_code(ffi::Code::Internal, Errc::internal));
static_assert(same_code(ffi::Code::Lagging, Errc::lagging));
static_assert(same_code(ffi::Code::EndOfTrack, Errc::end_of_track));

void Error::bad_access(const char* what) noexcept {
  (void)std::fprintf(stderr, "moq: %s; check has_value() first\n", what);
  std::abort();
}

namespace detail {

ffi::Status new_status() noexcept { return ffi::Status{ffi::Code::Ok, rust::String()}; }

Error to_error(const ffi::Status& status) noexcept {
  auto raw = static_cast<uint8_t>(status.code);
  // ffi::Code is 0 for Ok, then moq::Errc's values (which start at 1).
  Errc code = raw == 0 || raw > static_cast<uint8_t>(Errc::end_of_track)
                  ? Errc::internal
                  : static_cast<Errc>(raw);
  return Error(code, std::string(status.message));
}

Status to_status(const ffi::Status& status) noexcept {
  if (status.code == ffi::Code::Ok) return Status();
  return to_error(status);
}

Error moved_from(const char* what) noexcept {
  return Error(Errc::invalid_argument,
               std::string(what) + " was called on a moved-from handle; use the handle it was moved to");
}

rust::Slice<const uint8_t> as_slice(std::string_view text) noexcept {
  static const uint8_t empty = 0;
  if (text.empty()) return rust::Slice<const uint8_t>(&empty, 0);
  return rust::Slice<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace detail
}  // namespace moq
