// A request as the HTTP session sees it: our request parser (Beast's, with the framing rules and
// bounds) fed as the session feeds it, then everything we derive from a parsed head (route,
// upgrade check, credentials).
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/credentials.hpp"
#include "http/request_parser.hpp"
#include "http/router.hpp"
#include "ws/handshake.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  sb::http::request_parser parser(8192);
  parser.header_limit(8192);
  parser.body_limit(65536);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && !parser.is_done()) {
    boost::system::error_code ec;
    auto used = parser.feed(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == bhttp::error::need_more) {
      if (parser.check_pending(rest) != sb::errc::ok || used == 0) {
        break;
      }
      continue;
    }
    if (ec) {
      (void)sb::http::answer_for(ec);
      return 0;
    }
  }
  if (!parser.is_header_done()) {
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
