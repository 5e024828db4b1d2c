#include "http/response.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <tuple>
#include <utility>

namespace sb::http {
namespace {

TEST(HttpResponse, SerializeKeepAlive) {
  auto r = response::json(201, R"({"topic":"t","id":"1-1"})");
  EXPECT_EQ(serialize(r, true),
            "HTTP/1.1 201 Created\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 24\r\n"
            "\r\n"
            R"({"topic":"t","id":"1-1"})");
}

TEST(HttpResponse, ConnectionCloseWhenNotKeepAlive) {
  auto r = response::text(200, "ok");
  EXPECT_EQ(serialize(r, false),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 2\r\n"
            "Connection: close\r\n"
            "\r\n"
            "ok");
}

TEST(HttpResponse, ConnectionCloseWhenTheResponseAsks) {
  auto r = response::text(400, "bad");
  r.close = true;
  auto bytes = serialize(r, true);
  EXPECT_NE(bytes.find("\r\nConnection: close\r\n\r\nbad"), std::string::npos) << bytes;
  r.close = false;
  EXPECT_EQ(serialize(r, true).find("Connection"), std::string::npos);
}

TEST(HttpResponse, ExtraHeadersInOrderBeforeContentLength) {
  response r;
  r.status = 405;
  r.headers = {{"Allow", "GET, HEAD"}, {"Vary", "Origin"}};
  EXPECT_EQ(serialize(r, true),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Allow: GET, HEAD\r\n"
            "Vary: Origin\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(HttpResponse, NoContentTypeWithoutOne) {
  response r;
  r.status = 204;
  EXPECT_EQ(serialize(r, true), "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpResponse, HeadOmitsTheBodyButKeepsItsLength) {
  auto r = response::text(200, "hello world");
  auto head = serialize(r, true, true);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 11\r\n"
            "\r\n");
  EXPECT_EQ(serialize(r, true, false), head + "hello world");
}

TEST(HttpResponse, ContentLengthCountsBytesNotCharacters) {
  auto r = response::text(200, "caf\xc3\xa9");
  EXPECT_NE(serialize(r, true).find("Content-Length: 5\r\n"), std::string::npos);
  auto big = response::text(200, std::string(100000, 'x'));
  auto bytes = serialize(big, true);
  EXPECT_NE(bytes.find("Content-Length: 100000\r\n"), std::string::npos);
  EXPECT_EQ(bytes.size(), bytes.find("\r\n\r\n") + 4 + 100000);
}

TEST(HttpResponse, NotModifiedHasNoContentLength) {
  // A 304 has no body, and a Content-Length would have to be the one a 200 would carry.
  response r{304, {}, {}, {{"ETag", "\"abc\""}}, false};
  EXPECT_EQ(serialize(r, true), "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n");
}

TEST(HttpResponse, ReasonPhrases) {
  const std::pair<unsigned, const char*> cases[] = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {413, "Content Too Large"},
      {426, "Upgrade Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {503, "Service Unavailable"},
  };
  for (const auto& [status, phrase] : cases) {
    EXPECT_EQ(reason_phrase(status), phrase) << status;
    response r;
    r.status = status;
    EXPECT_EQ(serialize(r, true).substr(0, 13 + std::string_view(phrase).size() + 2),
              "HTTP/1.1 " + std::to_string(status) + " " + phrase + "\r\n");
  }
}

TEST(HttpResponse, ErrorIsJsonWithTheMappedStatus) {
  auto r = response::error(errc::invalid_topic);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":"invalid_topic","message":"invalid topic name"})");
  EXPECT_FALSE(r.close);
}

TEST(HttpResponse, ErrorUsesTheDetailWhenGiven) {
  auto r = response::error(errc::payload_too_large, "data is over 65536 bytes");
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.body, R"({"error":"payload_too_large","message":"data is over 65536 bytes"})");
}

TEST(HttpResponse, ErrorDetailIsJsonEscaped) {
  auto r = response::error(errc::invalid_request, "bad \"quote\"\n\\ and \x01");
  auto v = boost::json::parse(r.body);
  EXPECT_EQ(v.at("error").as_string(), "invalid_request");
  EXPECT_EQ(v.at("message").as_string(), "bad \"quote\"\n\\ and \x01");
}

TEST(HttpResponse, EveryErrorMapsToItsStatusAndCode) {
  const std::tuple<errc, unsigned, const char*> cases[] = {
      {errc::invalid_topic, 400, "invalid_topic"},
      {errc::invalid_request, 400, "invalid_request"},
      {errc::invalid_position, 400, "invalid_position"},
      {errc::unauthorized, 401, "unauthorized"},
      {errc::forbidden, 403, "forbidden"},
      {errc::not_found, 404, "not_found"},
      {errc::method_not_allowed, 405, "method_not_allowed"},
      {errc::header_timeout, 408, "header_timeout"},
      {errc::payload_too_large, 413, "payload_too_large"},
      {errc::rate_limited, 429, "rate_limited"},
      {errc::headers_too_large, 431, "headers_too_large"},
      {errc::unavailable, 503, "unavailable"},
  };
  for (const auto& [e, status, code] : cases) {
    auto r = response::error(e);
    EXPECT_EQ(r.status, status) << code;
    auto v = boost::json::parse(r.body);
    EXPECT_EQ(v.at("error").as_string(), code);
    EXPECT_FALSE(v.at("message").as_string().empty()) << code;
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  }
}

}  // namespace
}  // namespace sb::http
