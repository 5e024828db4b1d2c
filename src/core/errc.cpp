#include "core/errc.hpp"

namespace sb {
namespace {

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "switchboard"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::invalid_topic:
        return "invalid topic name";
      case errc::invalid_request:
        return "malformed request";
      case errc::invalid_position:
        return "malformed resume position";
      case errc::not_found:
        return "not found";
      case errc::method_not_allowed:
        return "method not allowed";
      case errc::header_timeout:
        return "request head not received in time";
      case errc::payload_too_large:
        return "body too large";
      case errc::headers_too_large:
        return "request head too large";
      case errc::rate_limited:
        return "rate limit exceeded";
      case errc::unauthorized:
        return "missing or invalid credentials";
      case errc::forbidden:
        return "topic not allowed";
      case errc::unavailable:
        return "service unavailable";
    }
    return "unknown error";
  }
};

}  // namespace

const boost::system::error_category& switchboard_category() noexcept {
  static const category instance;
  return instance;
}

unsigned http_status_of(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return 200;
    case errc::invalid_topic:
    case errc::invalid_request:
    case errc::invalid_position:
      return 400;
    case errc::unauthorized:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::method_not_allowed:
      return 405;
    case errc::header_timeout:
      return 408;
    case errc::payload_too_large:
      return 413;
    case errc::rate_limited:
      return 429;
    case errc::headers_too_large:
      return 431;
    case errc::unavailable:
      return 503;
  }
  return 500;
}

const char* code_name(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::invalid_topic:
      return "invalid_topic";
    case errc::invalid_request:
      return "invalid_request";
    case errc::invalid_position:
      return "invalid_position";
    case errc::not_found:
      return "not_found";
    case errc::method_not_allowed:
      return "method_not_allowed";
    case errc::header_timeout:
      return "header_timeout";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::headers_too_large:
      return "headers_too_large";
    case errc::rate_limited:
      return "rate_limited";
    case errc::unauthorized:
      return "unauthorized";
    case errc::forbidden:
      return "forbidden";
    case errc::unavailable:
      return "unavailable";
  }
  return "error";
}

}  // namespace sb
