// A request head as the HTTP session sees it: Beast's parser with our limits, then everything we
// derive from a parsed head (route, upgrade check, credentials).
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/credentials.hpp"
#include "http/router.hpp"
#include "ws/handshake.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(8192);
  parser.body_limit(65536);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) {
    return 0;
  }
  const auto& req = parser.get();
  auto url = boost::urls::parse_origin_form(std::string_view(req.target()));
  if (!url) {
    return 0;
  }
  auto route = sb::http::match_route(url->path());
  (void)sb::http::method_allowed(route.endpoint, std::string_view(req.method_string()));
  (void)sb::ws::check_upgrade(req);
  std::string storage[2];
  (void)sb::http::credentials_of(req, *url, "switchboard_token", storage);
  return 0;
}
