#pragma once
// HTTP/1.1 responses written as bytes: a response is small and built once, so a few appends beat
// a serializer, and the bytes go into the same send queue as everything else.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/errc.hpp"

namespace sb::http {

struct response {
  unsigned status = 200;
  std::string content_type;  // empty: no body type
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response

  static response json(unsigned status, std::string body);
  static response text(unsigned status, std::string body);
  /// `{"error":"<code>","message":"<text>"}` with the status the error maps to.
  static response error(errc e, std::string_view detail = {});
};

std::string_view reason_phrase(unsigned status);

/// Status line, headers (Content-Length always but on a 304, Connection: close when asked) and
/// body; the body is left out for a HEAD request (`head_only`), its length is not.
std::string serialize(const response& r, bool keep_alive, bool head_only = false);

}  // namespace sb::http
