#pragma once
// Switchboard's own error codes, with a category so they travel as boost::system::error_code and
// map to exactly one HTTP status each (STYLE.md habit 8). WebSocket close codes are the frame
// layer's own (ws::close_code): the errors that close a WebSocket are framing errors, not these.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace sb {

enum class errc {
  ok = 0,
  invalid_topic = 1,   // 400
  invalid_request,     // 400
  invalid_position,    // 400: a malformed ?since=
  not_found,           // 404
  method_not_allowed,  // 405
  header_timeout,      // 408
  payload_too_large,   // 413
  headers_too_large,   // 431
  rate_limited,        // 429
  unauthorized,        // 401
  forbidden,           // 403
  unavailable,         // 503: draining or backplane down
};

const boost::system::error_category& switchboard_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), switchboard_category()};
}

/// The HTTP status that answers an error of ours.
unsigned http_status_of(errc e) noexcept;

/// A short, stable, machine-readable name ("invalid_topic") used in JSON error bodies.
const char* code_name(errc e) noexcept;

template <class T>
using result = boost::system::result<T>;

}  // namespace sb

namespace boost::system {
template <>
struct is_error_code_enum<sb::errc> : std::true_type {};
}  // namespace boost::system
