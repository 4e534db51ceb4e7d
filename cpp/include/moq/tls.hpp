// moq/tls.hpp — which server certificates a session trusts.
#pragma once

#include <string>
#include <vector>

#include "moq/abi.hpp"

namespace moq {

/// TLS trust for a client session. The default trusts the system's roots.
struct TlsConfig {
  /// PEM files whose certificates (all of them, not only the first) are the
  /// trusted roots. Empty = the system's root store. Paths must be UTF-8.
  std::vector<std::string> root_cert_files;
  /// SHA-256 fingerprints (hex, colons allowed) of acceptable server
  /// certificates. When set, a matching certificate is trusted without a chain
  /// check; the TLS handshake itself is still verified. For self-signed relays.
  std::vector<std::string> server_cert_sha256;
  /// Accept any certificate. Development only: logged as a warning on every
  /// connect, and anyone on the path can impersonate the server.
  bool disable_verify = false;
};

}  // namespace moq
