#pragma once
// How large a published message may be, whatever carries it (HTTP, a stream publish, a WebSocket
// `publish` op): one struct that every protocol reads, so the bound is set in one place.
#include <cstddef>

namespace sb {

struct message_limits {
  std::size_t max_message_bytes = 64 << 10;  // data of one message (413 / payload_too_large)
};

}  // namespace sb
