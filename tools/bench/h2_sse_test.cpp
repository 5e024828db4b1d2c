// Unit tests of the SSE-over-HTTP/2 client session, against an in-memory nghttp2 server session.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <string>
#include <vector>

#include "h2_sse.hpp"

namespace bench {
namespace {

struct recorder : h2_sse_session::event_sink {
  std::vector<uint32_t> ready;
  std::vector<std::pair<uint32_t, std::string>> events;
  struct end_record {
    uint32_t slot;
    bool was_ready;
    std::string why;
  };
  std::vector<end_record> ended;
  void on_ready(uint32_t slot) override { ready.push_back(slot); }
  void on_event(uint32_t slot, std::string_view data) override {
    events.emplace_back(slot, std::string(data));
  }
  void on_ended(uint32_t slot, bool was_ready, const std::string& why) override {
    ended.push_back({slot, was_ready, why});
  }
};

// A minimal h2 server: records requests, answers with a deferred body fed by send().
class fake_server {
 public:
  fake_server() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
               const uint8_t* v, size_t vl, uint8_t, void* u) {
          auto& s = *static_cast<fake_server*>(u);
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":path")
            s.paths[f->hd.stream_id] = std::string(reinterpret_cast<const char*>(v), vl);
          return 0;
        });
    nghttp2_session_server_new(&s_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~fake_server() { nghttp2_session_del(s_); }

  void respond(int32_t id, const char* status, const char* ct) {
    auto nv = [](const char* n, const char* v) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(v)), strlen(n), strlen(v),
                        NGHTTP2_NV_FLAG_NONE};
    };
    nghttp2_nv h[] = {nv(":status", status), nv("content-type", ct)};
    nghttp2_data_provider dp{};
    dp.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source*, void* u) -> ssize_t {
      auto& b = static_cast<fake_server*>(u)->bodies[id];
      if (b.data.empty() && !b.eof)
        return NGHTTP2_ERR_DEFERRED;
      size_t n = std::min(len, b.data.size());
      memcpy(buf, b.data.data(), n);
      b.data.erase(0, n);
      if (b.data.empty() && b.eof)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    nghttp2_submit_response(s_, id, h, 2, &dp);
  }
  void send(int32_t id, const std::string& bytes, bool eof = false) {
    bodies[id].data += bytes;
    bodies[id].eof = eof;
    nghttp2_session_resume_data(s_, id);
  }
  // Moves bytes both ways until neither side has anything to say.
  bool pump(h2_sse_session& c) {
    for (int round = 0; round < 100; ++round) {
      std::string out;
      if (!c.take_output(out))
        return false;
      if (!out.empty() && nghttp2_session_mem_recv(s_, reinterpret_cast<const uint8_t*>(out.data()),
                                                   out.size()) < 0)
        return false;
      std::string back;
      for (;;) {
        const uint8_t* d = nullptr;
        ssize_t n = nghttp2_session_mem_send(s_, &d);
        if (n <= 0)
          break;
        back.append(reinterpret_cast<const char*>(d), static_cast<size_t>(n));
      }
      if (out.empty() && back.empty())
        return true;
      // Deliver in small pieces, so frames arrive split across reads.
      for (size_t at = 0; at < back.size(); at += 7)
        if (!c.feed(back.data() + at, std::min<size_t>(7, back.size() - at)))
          return false;
    }
    return false;
  }

  struct test_body {
    std::string data;
    bool eof = false;
  };
  nghttp2_session* s_ = nullptr;
  std::map<int32_t, std::string> paths;
  std::map<int32_t, test_body> bodies;
};

TEST(h2_sse, streams_ready_refused_and_events) {
  recorder r;
  h2_sse_session c(r, {});
  ASSERT_TRUE(c.start("127.0.0.1:8080",
                      {"/v1/events?topic=a", "/v1/events?topic=b", "/v1/events?topic=c"}));
  fake_server s;
  ASSERT_TRUE(s.pump(c));
  ASSERT_EQ(s.paths.size(), 3u);
  EXPECT_EQ(s.paths[1], "/v1/events?topic=a");
  EXPECT_EQ(s.paths[5], "/v1/events?topic=c");
  // The client offers 1 MiB per stream and a large connection window.
  EXPECT_EQ(nghttp2_session_get_remote_settings(s.s_, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE),
            1u << 20);
  EXPECT_GE(nghttp2_session_get_remote_window_size(s.s_), 1 << 29);

  s.respond(1, "200", "text/event-stream; charset=utf-8");
  s.respond(3, "404", "application/json");
  s.respond(5, "200", "text/event-stream");
  ASSERT_TRUE(s.pump(c));
  EXPECT_EQ(r.ready, (std::vector<uint32_t>{0, 2}));
  ASSERT_EQ(r.ended.size(), 1u);
  EXPECT_EQ(r.ended[0].slot, 1u);
  EXPECT_FALSE(r.ended[0].was_ready);
  EXPECT_EQ(r.ended[0].why, "HTTP 404");
  EXPECT_EQ(c.streams_open(), 2u);

  s.send(1, ": hi\n\ndata: one\n\nda");
  s.send(5, "data: x\ndata: y\n\n");
  ASSERT_TRUE(s.pump(c));
  s.send(1, "ta: two\n\n");
  ASSERT_TRUE(s.pump(c));
  using E = std::pair<uint32_t, std::string>;
  EXPECT_EQ(r.events, (std::vector<E>{{0, "one"}, {2, "x\ny"}, {0, "two"}}));

  // The server ends one stream; the connection going away ends the other.
  s.send(5, "", true);
  ASSERT_TRUE(s.pump(c));
  ASSERT_EQ(r.ended.size(), 2u);
  EXPECT_EQ(r.ended[1].slot, 2u);
  EXPECT_TRUE(r.ended[1].was_ready);
  EXPECT_EQ(r.ended[1].why, "stream ended by the server");
  c.close_all("connection closed");
  ASSERT_EQ(r.ended.size(), 3u);
  EXPECT_EQ(r.ended[2].slot, 0u);
  EXPECT_TRUE(r.ended[2].was_ready);
  EXPECT_EQ(c.streams_open(), 0u);
}

TEST(h2_sse, wrong_content_type_is_refused) {
  recorder r;
  h2_sse_session c(r, {});
  ASSERT_TRUE(c.start("h", {"/e"}));
  fake_server s;
  ASSERT_TRUE(s.pump(c));
  s.respond(1, "200", "text/plain");
  ASSERT_TRUE(s.pump(c));
  EXPECT_TRUE(r.ready.empty());
  ASSERT_EQ(r.ended.size(), 1u);
  EXPECT_EQ(r.ended[0].why, "Content-Type is not text/event-stream: text/plain");
}

TEST(h2_sse, flow_control_does_not_stall_a_large_body) {
  // Far more than the default 64 KiB windows: the client's credit must keep the server going.
  recorder r;
  h2_sse_session c(r, {});
  ASSERT_TRUE(c.start("h", {"/e", "/e"}));
  fake_server s;
  ASSERT_TRUE(s.pump(c));
  s.respond(1, "200", "text/event-stream");
  s.respond(3, "200", "text/event-stream");
  ASSERT_TRUE(s.pump(c));
  std::string ev = "data: " + std::string(1000, 'z') + "\n\n";
  std::string body;
  for (int i = 0; i < 3000; ++i)
    body += ev;
  s.send(1, body);
  s.send(3, body);
  ASSERT_TRUE(s.pump(c));
  EXPECT_EQ(r.events.size(), 6000u);
}

TEST(h2_sse, not_http2_ends_the_session) {
  recorder r;
  h2_sse_session c(r, {});
  ASSERT_TRUE(c.start("h", {"/e"}));
  std::string out;
  ASSERT_TRUE(c.take_output(out));
  std::string junk = "HTTP/1.1 400 Bad Request\r\n\r\n";
  // nghttp2 answers a bad preface with GOAWAY: the session is over, its streams never ready.
  c.feed(junk.data(), junk.size());
  out.clear();
  ASSERT_TRUE(c.take_output(out));
  EXPECT_FALSE(out.empty());
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(r.ready.empty());
}

}  // namespace
}  // namespace bench
