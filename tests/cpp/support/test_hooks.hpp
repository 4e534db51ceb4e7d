// Test-only entry points of the library (cpp/src/test_hooks.cpp), built into
// it only with the Cargo feature `test-hooks`, which CMake turns on when it
// builds the tests. Not part of the public API.
#pragma once

#include <moq/moq.hpp>

namespace moq {
namespace test_hooks {

/// Calls a bridge entry that panics in Rust; returns what C++ gets back.
Status panic_in_rust() noexcept;

/// Makes `host` resolve to `addrs` ("IP:port" each), in that order, for
/// connect; an empty list restores the real resolver.
Status override_resolver(std::string_view host, const std::vector<std::string>& addrs) noexcept;

/// How many owners the buffer behind `bytes` has (Bytes sharing it, and the
/// engine while it sends or keeps it); 0 for an empty Bytes.
long buffer_owners(const Bytes& bytes) noexcept;

/// The address of the Rust buffer behind a received payload (the engine's
/// bytes the Bytes is a view of), or nullptr if `bytes` was not received.
const void* received_buffer(const Bytes& bytes) noexcept;

}  // namespace test_hooks
}  // namespace moq
