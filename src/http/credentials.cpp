#include "http/credentials.hpp"

#include "core/ascii.hpp"

namespace sb::http {
namespace {

/// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto pair = trim_ows(header.substr(0, semi));
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim_ows(pair.substr(0, eq)) == name) {
      auto value = trim_ows(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
    if (semi == std::string_view::npos)
      break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

}  // namespace

auth::credentials credentials_of(const boost::beast::http::fields& headers,
                                 boost::urls::url_view url, std::string_view cookie_name,
                                 std::string (&storage)[2]) {
  namespace bhttp = boost::beast::http;
  auth::credentials c;
  if (auto it = headers.find(bhttp::field::authorization); it != headers.end()) {
    std::string_view value = it->value();
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    constexpr std::string_view scheme = "bearer ";
    bool bearer =
        value.size() > scheme.size() && ascii_iequals(value.substr(0, scheme.size()), scheme);
    if (bearer) {
      c.bearer = trim_ows(value.substr(scheme.size()));
    }
  }
  if (!cookie_name.empty()) {
    c.cookie_token = cookie_of(headers, cookie_name);
  }
  if (!url.has_query()) {
    return c;
  }
  auto params = url.params();
  if (auto it = params.find("access_token"); it != params.end()) {
    storage[0] = std::string((*it).value);
    c.query_token = storage[0];
  }
  if (auto it = params.find("ticket"); it != params.end()) {
    storage[1] = std::string((*it).value);
    c.ticket = storage[1];
  }
  return c;
}

std::string_view cookie_of(const boost::beast::http::fields& headers, std::string_view name) {
  namespace bhttp = boost::beast::http;
  for (auto it = headers.find(bhttp::field::cookie);
       it != headers.end() && it->name() == bhttp::field::cookie; ++it) {
    if (auto v = cookie_value(it->value(), name); !v.empty()) {
      return v;
    }
  }
  return {};
}

}  // namespace sb::http
