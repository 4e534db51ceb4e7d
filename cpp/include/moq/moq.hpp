// moq/moq.hpp — the whole public API of moq, a C++ library for IETF Media over
// QUIC Transport (draft 18). Every call is noexcept and reports failure as a
// moq::Error inside a moq::Result / moq::Status.
#pragma once

#include "moq/bytes.hpp"
#include "moq/callback.hpp"
#include "moq/discovery.hpp"
#include "moq/error.hpp"
#include "moq/fetch.hpp"
#include "moq/log.hpp"
#include "moq/names.hpp"
#include "moq/object.hpp"
#include "moq/pending.hpp"
#include "moq/publish.hpp"
#include "moq/publish_track.hpp"
#include "moq/runtime.hpp"
#include "moq/session.hpp"
#include "moq/subscribe.hpp"
#include "moq/tls.hpp"
