#include "http/response.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sb::http {

response response::json(unsigned status, std::string body) {
  return {status, "application/json", std::move(body), {}, false};
}

response response::text(unsigned status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}, false};
}

response response::error(errc e, std::string_view detail) {
  boost::json::object o;
  o["error"] = code_name(e);
  o["message"] = detail.empty() ? make_error_code(e).message() : std::string(detail);
  auto r = json(http_status_of(e), boost::json::serialize(o));
  if (e == errc::unavailable) {
    // Draining, or the backplane is down: a client (or balancer) may retry shortly, elsewhere.
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string serialize(const response& r, bool keep_alive, bool head_only) {
  std::string out;
  out.reserve(160 + r.body.size());
  out.append("HTTP/1.1 ").append(std::to_string(r.status)).push_back(' ');
  out.append(reason_phrase(r.status)).append("\r\n");
  if (!r.content_type.empty()) {
    out.append("Content-Type: ").append(r.content_type).append("\r\n");
  }
  for (const auto& [name, value] : r.headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (r.status != 304) {  // a 304 has no body, and a length would have to be the 200's
    out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  }
  if (!keep_alive || r.close) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
  if (!head_only) {
    out.append(r.body);
  }
  return out;
}

}  // namespace sb::http
