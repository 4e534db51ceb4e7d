// Test-only entry points (Cargo feature `test-hooks`, on in test builds): what
// the C++ tests need to see that the public API does not show. Declared for the
// tests in tests/cpp/support/test_hooks.hpp; absent from a normal build.
#ifdef MOQ_TEST_HOOKS

#include "impl.hpp"

namespace moq {
namespace detail {
const ffi::PayloadBox* received_payload(const Bytes& bytes) noexcept;
}

namespace test_hooks {

Status panic_in_rust() noexcept { return detail::to_status(ffi::test_hook_panic()); }

Status override_resolver(std::string_view host, const std::vector<std::string>& addrs) noexcept {
  rust::Vec<rust::String> list;
  for (const auto& a : addrs) list.push_back(rust::String::lossy(a));
  return detail::to_status(
      ffi::test_hook_override_resolver(rust::Str(host.data(), host.size()), std::move(list)));
}

long buffer_owners(const Bytes& bytes) noexcept { return LibraryAccess::owners(bytes); }

const void* received_buffer(const Bytes& bytes) noexcept {
  const ffi::PayloadBox* payload = detail::received_payload(bytes);
  return payload != nullptr ? ffi::payload_data(*payload).data() : nullptr;
}

}  // namespace test_hooks
}  // namespace moq

#endif  // MOQ_TEST_HOOKS
