// Unit tests of the load generator's own parsers and histogram.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "http_reader.hpp"
#include "sse_parser.hpp"

namespace loadgen {
namespace {

struct Ev {
  std::string type, data, id;
  bool operator==(const Ev&) const = default;
};

std::vector<Ev> parse_all(SseParser& p, const std::vector<std::string>& chunks) {
  std::vector<Ev> out;
  for (const auto& c : chunks)
    p.feed(c, [&](const SseEvent& e) {
      out.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    });
  return out;
}

std::vector<Ev> parse_all(const std::string& s) {
  SseParser p;
  return parse_all(p, {s});
}

TEST(SseParser, DataLinesAreJoinedAndBlankLineDispatches) {
  auto evs = parse_all("data: one\ndata: two\n\ndata:three\n\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (Ev{"message", "one\ntwo", ""}));
  EXPECT_EQ(evs[1], (Ev{"message", "three", ""}));
}

TEST(SseParser, OnlyOneLeadingSpaceIsStripped) {
  auto evs = parse_all("data:  two spaces\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, " two spaces");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  SseParser p;
  auto evs = parse_all(p, {": heartbeat\n\n:hb\nfoo: bar\ndata: x\n\n"});
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "x");
  EXPECT_EQ(p.comments(), 2u);
}

TEST(SseParser, EventWithoutDataIsNotDispatched) {
  auto evs = parse_all("event: ping\n\nid: 7\n\ndata: y\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0], (Ev{"message", "y", "7"}));  // type reset, id persists
}

TEST(SseParser, EventTypeAndIdAndRetry) {
  SseParser p;
  auto evs = parse_all(p, {"retry: 2000\nevent: gap\nid: 1-5\ndata: {\"topics\":[]}\n\n"
                           "retry: 12x\ndata: z\n\n"});
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (Ev{"gap", "{\"topics\":[]}", "1-5"}));
  EXPECT_EQ(evs[1], (Ev{"message", "z", "1-5"}));
  EXPECT_EQ(p.retry_ms(), 2000);  // the invalid retry is ignored
}

TEST(SseParser, IdWithNulIsIgnored) {
  static const char kStream[] = "id: a\ndata: 1\n\nid: b\0c\ndata: 2\n\n";
  auto evs = parse_all(std::string(kStream, sizeof kStream - 1));
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].id, "a");
}

TEST(SseParser, FieldWithoutColonHasEmptyValue) {
  auto evs = parse_all("data\ndata\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "\n");
}

TEST(SseParser, AllLineEndings) {
  auto evs = parse_all("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data, "a\nb\nc");
  EXPECT_EQ(evs[1].data, "d");
}

TEST(SseParser, LeadingBomIsSkipped) {
  auto evs = parse_all(
      "\xEF\xBB\xBF"
      "data: a\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "a");
}

TEST(SseParser, IncompleteEventIsNotDispatched) {
  auto evs = parse_all("data: a\n\ndata: b\n");
  ASSERT_EQ(evs.size(), 1u);
}

// Every way of cutting the stream into two or three pieces gives the same events, including a
// CRLF cut between its CR and its LF.
TEST(SseParser, SplitAnywhere) {
  const std::string s =
      ": hi\r\nretry: 10\r\nevent: e\r\nid: 9\r\ndata: 12345 x\r\ndata:y\r\n\r\n"
      "data: last\r\r\ndata: z\n\n";
  auto whole = parse_all(s);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[1].data, "last");
  EXPECT_EQ(whole[2].data, "z");
  for (size_t i = 0; i <= s.size(); ++i) {
    for (size_t j = i; j <= s.size(); j += 7) {
      SseParser p;
      auto evs = parse_all(p, {s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      ASSERT_EQ(evs, whole) << "cut at " << i << "," << j;
    }
  }
}

TEST(SseParser, ByteByByte) {
  const std::string s = "data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n";
  SseParser p;
  std::vector<std::string> bytes;
  for (char c : s)
    bytes.emplace_back(1, c);
  auto evs = parse_all(p, bytes);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].data, "1");
  EXPECT_EQ(evs[1].data, "2");
  EXPECT_EQ(evs[2].data, "3");
}

TEST(LogHistogram, IndexIsContiguousAndMonotonic) {
  size_t prev = 0;
  for (uint64_t v = 0; v < 100000; ++v) {
    size_t idx = LogHistogram::index_of(v);
    ASSERT_TRUE(idx == prev || idx == prev + 1) << v;
    ASSERT_GE(v, LogHistogram::bucket_low(idx));
    ASSERT_LT(v, LogHistogram::bucket_low(idx) + LogHistogram::bucket_width(idx));
    prev = idx;
  }
  EXPECT_LT(LogHistogram::index_of(UINT64_MAX), LogHistogram::kBuckets);
}

TEST(LogHistogram, PercentilesWithinRelativeError) {
  LogHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v)
    h.record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 100000000u);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double truth = p / 100.0 * 100000 * 1000;
    double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, truth, truth / 60) << p;
  }
  EXPECT_EQ(h.percentile(100), 100000000u);
  EXPECT_NEAR(h.mean(), 50000.5 * 1000, 1);
}

TEST(LogHistogram, SmallAndEmpty) {
  LogHistogram h;
  EXPECT_EQ(h.percentile(50), 0u);
  h.record(7);
  EXPECT_EQ(h.percentile(50), 7u);
  EXPECT_EQ(h.percentile(99.9), 7u);
  LogHistogram g;
  g.record(1000000);
  h.merge(g);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), 1000000u);
}

TEST(LogHistogram, RandomValuesMatchSortedTruth) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> d(13.0, 1.5);  // around 0.5 ms, long tail
  std::vector<uint64_t> vals;
  LogHistogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<uint64_t>(d(rng));
    vals.push_back(v);
    h.record(v);
  }
  std::sort(vals.begin(), vals.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto truth = static_cast<double>(vals[static_cast<size_t>(p / 100.0 * vals.size()) - 1]);
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), truth, truth / 50) << p;
  }
}

TEST(Url, ParsesTemplates) {
  auto u = parse_url("http://127.0.0.1:8080/v1/events?topic={topic}", "bench");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/v1/events?topic=bench");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  auto v = parse_url("http://localhost", "x");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "127.0.0.1");
  EXPECT_EQ(v->port, 80);
  EXPECT_EQ(v->target, "/");
  EXPECT_FALSE(parse_url("https://127.0.0.1/", "x"));
  EXPECT_FALSE(parse_url("http://127.0.0.1:99999/", "x"));
}

struct Collect {
  std::vector<int> statuses;
  std::string body;
  int complete = 0;
  bool on_head(const ResponseHead& h) {
    statuses.push_back(h.status);
    return true;
  }
  void on_body(std::string_view b) { body.append(b); }
  void on_complete() { ++complete; }
};

TEST(ResponseReader, PipelinedContentLengthResponses) {
  std::string s =
      "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    ResponseReader r;
    Collect c;
    ASSERT_TRUE(r.feed(std::string_view(s).substr(0, cut), c));
    ASSERT_TRUE(r.feed(std::string_view(s).substr(cut), c));
    EXPECT_EQ(c.statuses, (std::vector<int>{201, 202, 400}));
    EXPECT_EQ(c.body, "hellobad");
    EXPECT_EQ(c.complete, 3);
  }
}

TEST(ResponseReader, ChunkedStream) {
  std::string s =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7\r\nretry: \r\n5;ext=1\r\n2000\n\r\n"
      "a\r\ndata: 1\n\n\n\r\n0\r\n\r\n";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    ResponseReader r;
    Collect c;
    ASSERT_TRUE(r.feed(std::string_view(s).substr(0, cut), c)) << r.error();
    ASSERT_TRUE(r.feed(std::string_view(s).substr(cut), c)) << r.error();
    EXPECT_EQ(c.body, "retry: 2000\ndata: 1\n\n\n");
    EXPECT_EQ(c.complete, 1);
    EXPECT_TRUE(r.head().chunked);
    EXPECT_EQ(r.head().content_type, "text/event-stream");
  }
}

TEST(ResponseReader, UntilCloseAndErrors) {
  ResponseReader r;
  Collect c;
  ASSERT_TRUE(r.feed("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n", c));
  EXPECT_EQ(c.body, "data: x\n\n");
  EXPECT_EQ(c.complete, 0);
  EXPECT_TRUE(r.in_body());

  ResponseReader bad;
  Collect d;
  EXPECT_FALSE(bad.feed("SPDY/3 200 OK\r\n\r\n", d));
  ResponseReader badchunk;
  EXPECT_FALSE(badchunk.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", d));
}

TEST(ResponseReader, ConnectionClose) {
  ResponseReader r;
  Collect c;
  ASSERT_TRUE(r.feed("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", c));
  EXPECT_TRUE(r.head().close);
  EXPECT_EQ(c.complete, 1);
}

}  // namespace
}  // namespace loadgen
