#include "http/request_parser.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>
#include <string>
#include <vector>

namespace sb::http {
namespace {

namespace bhttp = boost::beast::http;

struct outcome {
  errc error = errc::ok;  // ok: the request is complete
  bool complete = false;
  std::string detail;
  std::size_t held = 0;  // the most bytes left unparsed at any time
};

// Feeds `bytes` `step` at a time as the session does: what the parser leaves unused stays in
// front of the next read, and is checked against the bound whenever more is needed.
outcome parse(request_parser& p, const std::string& bytes, std::size_t step = 1 << 20) {
  outcome out;
  std::string buffer;
  for (std::size_t at = 0; at < bytes.size() || !buffer.empty();) {
    if (at < bytes.size()) {
      buffer.append(bytes, at, step);
      at += std::min(step, bytes.size() - at);
    }
    while (!buffer.empty() && !p.is_done()) {
      boost::system::error_code ec;
      auto used = p.feed(boost::asio::buffer(buffer), ec);
      buffer.erase(0, used);
      out.held = std::max(out.held, buffer.size());
      if (ec == bhttp::error::need_more) {
        if (auto over = p.check_pending(buffer); over != errc::ok) {
          out.error = over;
          out.detail = p.detail();
          return out;
        }
        if (used == 0) {
          break;
        }
        continue;
      }
      if (ec) {
        out.error = answer_for(ec);
        out.detail =
            ec.category() == switchboard_category() ? std::string(p.detail()) : ec.message();
        return out;
      }
    }
    if (p.is_done()) {
      out.complete = true;
      return out;
    }
    if (at >= bytes.size()) {
      break;
    }
  }
  return out;
}

outcome parse(const std::string& bytes, std::size_t max_header = 8192, std::size_t step = 1 << 20) {
  request_parser p(max_header);
  p.header_limit(static_cast<std::uint32_t>(max_header));
  p.body_limit(65536);
  return parse(p, bytes, step);
}

bhttp::fields head(std::initializer_list<std::pair<const char*, const char*>> fields) {
  bhttp::fields f;
  for (auto [name, value] : fields) {
    f.insert(name, value);
  }
  return f;
}

TEST(FramingProblem, HostRules) {
  EXPECT_FALSE(framing_problem(head({{"Host", "x"}}), 11, false));
  EXPECT_FALSE(framing_problem(head({{"Host", "127.0.0.1:8080"}}), 11, false));
  EXPECT_FALSE(framing_problem(head({{"Host", "[::1]:8080"}}), 11, false));
  EXPECT_FALSE(framing_problem(head({{"Host", ""}}), 11, false));
  EXPECT_FALSE(framing_problem(head({}), 10, false));
  EXPECT_TRUE(framing_problem(head({}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a"}, {"Host", "b"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a"}, {"Host", "a"}}), 10, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "u@a"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a b"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a/b"}}), 11, false));
  // Names and ports take a quick path; whatever it does not take goes to the full grammar, so
  // both must give the same answers.
  EXPECT_FALSE(framing_problem(head({{"Host", "api.example-1.com:"}}), 11, false));
  EXPECT_FALSE(framing_problem(head({{"Host", "my_host~x"}}), 11, false));  // unreserved chars
  EXPECT_FALSE(framing_problem(head({{"Host", "%41b:1"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", ":8080"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a:80x"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a:1:2"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a@b:1"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "a\x01z"}}), 11, false));
}

TEST(FramingProblem, TransferEncodingMustBeExactlyChunked) {
  EXPECT_FALSE(framing_problem(head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}}), 11, true));
  EXPECT_FALSE(
      framing_problem(head({{"Host", "x"}, {"Transfer-Encoding", " CHUNKED , "}}), 11, true));
  for (const char* te : {"identity", "gzip", "xchunked", "chunked, identity", "chunked, chunked",
                         "gzip, chunked", "identity, chunked", "", "chunked;x=1", ","}) {
    EXPECT_TRUE(framing_problem(head({{"Host", "x"}, {"Transfer-Encoding", te}}), 11, true)) << te;
  }
  EXPECT_TRUE(framing_problem(
      head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 11,
      true));
  // Beast's own reading must agree, or the body would be framed differently than we judged.
  EXPECT_TRUE(framing_problem(head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}}), 11, false));
  EXPECT_TRUE(framing_problem(head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}}), 10, true));
  EXPECT_TRUE(framing_problem(
      head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}), 11, true));
}

TEST(PendingIsTrailers, ChunkLineOrTrailerSection) {
  EXPECT_FALSE(pending_is_trailers("5;e=aaaa"));
  EXPECT_FALSE(pending_is_trailers("\r\n5;e=aaaa"));
  EXPECT_TRUE(pending_is_trailers("0\r\nX: aaaa"));
  EXPECT_TRUE(pending_is_trailers("\r\n0;e\r\nX: a\r\nY: b"));
}

TEST(RequestParser, ParsesChunkedRequestsByteByByteAndDropsTrailers) {
  request_parser p(8192);
  auto r = parse(p,
                 "POST /v1/topics/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;a=1;b=\"q\"\r\nhello\r\n1\r\n!\r\n0;z\r\nX-Sum: 1\r\nHost: y\r\n\r\n",
                 1);
  ASSERT_TRUE(r.complete) << r.detail;
  EXPECT_EQ(p.get().body(), "hello!");
  EXPECT_EQ(p.get().count(bhttp::field::host), 1u);
  EXPECT_EQ(p.get()[bhttp::field::host], "x");
  EXPECT_EQ(p.get().count("X-Sum"), 0u);
}

TEST(RequestParser, A70KiBTrailerFieldIsA431NotAnException) {
  std::string bytes =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
      std::string(70000, 'a') + "\r\n\r\n";
  // At once (the trailer parsed in one go) and as a network splits it (held, then refused).
  for (std::size_t step : {std::size_t{1} << 20, std::size_t{1000}}) {
    auto r = parse(bytes, 8192, step);
    EXPECT_EQ(r.error, errc::headers_too_large) << step;
    EXPECT_LE(r.held, std::max<std::size_t>(8192u + 1000u, step)) << step;
  }
  // Under a bound that lets it through it is read and dropped: never stored, so nothing throws.
  EXPECT_TRUE(parse(bytes, 1 << 20).complete);
}

TEST(RequestParser, A70KiBHeaderFieldUnderA1MiBBoundIsA431) {
  auto r =
      parse("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(70000, 'a') + "\r\n\r\n", 1 << 20);
  EXPECT_EQ(r.error, errc::headers_too_large);
  EXPECT_TRUE(
      parse("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(60000, 'a') + "\r\n\r\n", 1 << 20)
          .complete);
}

TEST(RequestParser, TheHeadAsAWholeIsBounded) {
  // Beast bounds the request line and the fields apart; together they may not pass the bound.
  auto r = parse("GET /" + std::string(5000, 'p') +
                 " HTTP/1.1\r\nHost: x\r\nX: " + std::string(5000, 'v') + "\r\n\r\n");
  EXPECT_EQ(r.error, errc::headers_too_large);
  EXPECT_TRUE(parse("GET /" + std::string(4000, 'p') +
                    " HTTP/1.1\r\nHost: x\r\nX: " + std::string(4000, 'v') + "\r\n\r\n")
                  .complete);
}

TEST(RequestParser, AChunkLineSplitAcrossReadsAfterALargeHeadIsFine) {
  std::string head =
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX: " + std::string(8000, 'v') +
      "\r\n\r\n";
  ASSERT_LT(head.size(), 8192u);
  EXPECT_TRUE(parse(head + "00000005\r\nhello\r\n00000000\r\n\r\n", 8192, 1).complete);
}

TEST(RequestParser, ChunkExtensionsCountAgainstTheHeaderBound) {
  std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  // One line that never ends: refused once the held bytes pass the bound.
  auto one = parse(head + "5;e=" + std::string(1 << 20, 'a'), 8192, 4096);
  EXPECT_EQ(one.error, errc::payload_too_large);
  EXPECT_LE(one.held, 8192u + 4096u);
  // Many chunks whose extensions add up.
  std::string many = head;
  for (int i = 0; i < 100; ++i) {
    many += "1;e=" + std::string(100, 'a') + "\r\nx\r\n";
  }
  EXPECT_EQ(parse(many + "0\r\n\r\n").error, errc::payload_too_large);
  EXPECT_TRUE(parse(head + "1;e=aa\r\nx\r\n0\r\n\r\n").complete);
}

TEST(RequestParser, TrailersCountAgainstTheHeaderBound) {
  std::string bytes =
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
  for (int i = 0; i < 200; ++i) {
    bytes += "X-T: " + std::string(100, 't') + "\r\n";
  }
  bytes += "\r\n";
  EXPECT_EQ(parse(bytes).error, errc::headers_too_large);
  EXPECT_EQ(parse(bytes, 8192, 512).error, errc::headers_too_large);
}

TEST(RequestParser, SmugglingHeadsAre400) {
  for (const char* te : {"identity", "chunked, chunked", "gzip", "xchunked", "chunked, identity"}) {
    auto r = parse(std::string("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + te +
                   "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.error, errc::invalid_request) << te;
    EXPECT_FALSE(r.complete) << te;
  }
  EXPECT_EQ(
      parse(
          "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
          .error,
      errc::invalid_request);
  EXPECT_EQ(
      parse("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
          .error,
      errc::invalid_request);
  EXPECT_EQ(parse("GET /x HTTP/1.1\r\n\r\n").error, errc::invalid_request);
  EXPECT_TRUE(parse("GET /x HTTP/1.0\r\n\r\n").complete);
}

TEST(RequestParser, BodiesAreBoundedByBodyLimit) {
  std::string bytes = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 100; ++i) {
    bytes += "400\r\n" + std::string(1024, 'd') + "\r\n";
  }
  EXPECT_EQ(parse(bytes).error, errc::payload_too_large);
}

TEST(AnswerFor, MapsParseErrors) {
  EXPECT_EQ(answer_for(bhttp::error::header_limit), errc::headers_too_large);
  EXPECT_EQ(answer_for(bhttp::error::body_limit), errc::payload_too_large);
  EXPECT_EQ(answer_for(bhttp::error::bad_chunk), errc::invalid_request);
  EXPECT_EQ(answer_for(make_error_code(errc::payload_too_large)), errc::payload_too_large);
}

}  // namespace
}  // namespace sb::http
