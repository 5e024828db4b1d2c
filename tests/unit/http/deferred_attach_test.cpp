// SSE streams and WebSocket sessions over a broker whose answers arrive later on the loop (as a
// Redis broker's would): live messages delivered before the attach is answered are merged with
// the replay by seq (no gap, no duplicate), and a stream that closes or unsubscribes before the
// answer is never touched by it. The whole stack runs in process over socketpairs
// (tests/support/in_process_server.hpp) with tests/support/deferred_broker.hpp in front of the
// memory broker.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "../../support/in_process_server.hpp"
#include "http/session.hpp"

namespace sb {
namespace {

class deferred_attach_test : public ::testing::Test {
 protected:
  ~deferred_attach_test() override {
    for (int fd : peers_) {
      ::close(fd);
    }
    w_.run();
  }

  /// Turns the loop until it has nothing left to do (readiness, deliveries, answers, flushes).
  void settle() {
    for (int i = 0; i < 20; ++i) {
      w_.run();
    }
  }

  /// A client connection to an HTTP/1.1 session; returns the peer end.
  int open() {
    int peer = -1;
    auto conn = w_.connect(peer);
    EXPECT_TRUE(conn);
    auto session = std::make_unique<http::session>(*conn, *w_.services, *w_.handoff);
    auto* raw = session.get();
    conn->start(std::move(session));
    raw->start();
    peers_.push_back(peer);
    return peer;
  }

  static void write(int peer, std::string_view bytes) {
    ASSERT_EQ(::send(peer, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  /// What the server wrote to `peer` since the last read.
  static std::string read(int peer) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  /// Publishes through the memory broker (its answer is synchronous; deliveries are posted).
  std::string publish(std::string data) {
    std::vector<publish_item> items(1);
    items[0].topic = topic_;
    items[0].data = std::move(data);
    std::string id;
    w_.broker->publish(std::move(items), [&](result<std::vector<position>> r) {
      ASSERT_TRUE(r);
      id = to_string(r->front());
    });
    return id;
  }

  /// The values of the SSE `id:` lines in `bytes`, in order.
  static std::vector<std::string> sse_ids(const std::string& bytes) {
    std::vector<std::string> out;
    std::regex line("(^|\n)id: ([^\n]*)\n");
    for (std::sregex_iterator it(bytes.begin(), bytes.end(), line), end; it != end; ++it) {
      out.push_back((*it)[2]);
    }
    return out;
  }

  /// A masked client text frame (mask key 0: the payload goes as it is).
  static std::string client_text(std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x81));
    if (payload.size() < 126) {
      f.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(payload.size() >> 8));
      f.push_back(static_cast<char>(payload.size() & 0xff));
    }
    f.append(4, '\0');
    f.append(payload);
    return f;
  }

  /// Server text frames in `bytes` (after the 101's head, which `skip_head` removes).
  static std::vector<std::string> server_texts(std::string bytes, bool skip_head) {
    if (skip_head) {
      auto end = bytes.find("\r\n\r\n");
      EXPECT_NE(end, std::string::npos);
      EXPECT_EQ(bytes.rfind("HTTP/1.1 101", 0), 0u) << bytes;
      bytes.erase(0, end + 4);
    }
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at + 2 <= bytes.size()) {
      auto op = static_cast<unsigned char>(bytes[at]) & 0x0f;
      std::size_t len = static_cast<unsigned char>(bytes[at + 1]) & 0x7f;
      std::size_t head = 2;
      if (len == 126) {
        len = (static_cast<unsigned char>(bytes[at + 2]) << 8) |
              static_cast<unsigned char>(bytes[at + 3]);
        head = 4;
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) {
          len = (len << 8) | static_cast<unsigned char>(bytes[at + 2 + i]);
        }
        head = 10;
      }
      if (at + head + len > bytes.size()) {
        ADD_FAILURE() << "a partial frame";
        break;
      }
      if (op == 1) {
        out.push_back(bytes.substr(at + head, len));
      }
      at += head + len;
    }
    return out;
  }

  /// The ids of the `message` ops among `texts`, and how many `gap` ops there were.
  static std::vector<std::string> ws_ids(const std::vector<std::string>& texts, int* gaps) {
    std::vector<std::string> out;
    std::regex id("\"id\":\"([0-9]+-[0-9]+)\"");
    for (const auto& t : texts) {
      if (t.find("\"op\":\"gap\"") != std::string::npos) {
        ++*gaps;
      }
      std::smatch m;
      if (t.find("\"op\":\"message\"") != std::string::npos && std::regex_search(t, m, id)) {
        out.push_back(m[1]);
      }
    }
    return out;
  }

  int open_ws() {
    int peer = open();
    write(peer,
          "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Protocol: switchboard.v1\r\n\r\n");
    settle();
    return peer;
  }

  testing::in_process_server w_{[](server::config&) {}, true};
  std::string topic_ = "deferred/t";
  std::vector<int> peers_;
};

TEST_F(deferred_attach_test, SseLiveMessagesBeforeTheAnswerFollowTheReplayOnce) {
  auto m1 = publish("1");
  auto m2 = publish("2");
  auto m3 = publish("3");
  settle();
  w_.deferred->hold(true);
  int peer = open();
  write(peer, "GET /v1/events?topic=" + topic_ + "&since=" + m1 + " HTTP/1.1\r\nHost: x\r\n\r\n");
  settle();
  EXPECT_EQ(w_.deferred->waiting(), 1u);
  EXPECT_EQ(w_.registry->pending_attaches(), 1u);
  auto m4 = publish("4");
  auto m5 = publish("5");
  settle();
  auto head = read(peer);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_TRUE(sse_ids(head).empty()) << head;  // nothing before the preamble
  w_.deferred->hold(false);
  w_.deferred->release();
  settle();
  auto body = read(peer);
  EXPECT_EQ(sse_ids(body), (std::vector<std::string>{m1, m2, m3, m4, m5})) << body;
  EXPECT_EQ(body.find("gap"), std::string::npos) << body;
  auto m6 = publish("6");
  settle();
  EXPECT_EQ(sse_ids(read(peer)), (std::vector<std::string>{m6}));
  EXPECT_EQ(w_.registry->pending_attaches(), 0u);
}

TEST_F(deferred_attach_test, SseStreamClosedBeforeTheAnswerIsNotTouchedByIt) {
  publish("1");
  settle();
  w_.deferred->hold(true);
  int peer = open();
  write(peer, "GET /v1/events?topic=" + topic_ + " HTTP/1.1\r\nHost: x\r\n\r\n");
  settle();
  EXPECT_EQ(w_.deferred->waiting(), 1u);
  EXPECT_EQ(w_.counters.sse.open.get(), 1u);
  ::shutdown(peer, SHUT_RDWR);  // the client hangs up: the stream is destroyed
  settle();
  EXPECT_EQ(w_.counters.sse.open.get(), 0u);
  EXPECT_EQ(w_.registry->pending_attaches(), 0u);
  EXPECT_EQ(w_.registry->topic_count(), 0u);
  w_.deferred->hold(false);
  w_.deferred->release();  // the answer reaches a registry that dropped the subscription
  publish("2");
  settle();
  // The server still serves another client.
  int other = open();
  write(other, "GET /v1/events?topic=" + topic_ + " HTTP/1.1\r\nHost: x\r\n\r\n");
  settle();
  auto m3 = publish("3");
  settle();
  auto ids = sse_ids(read(other));
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), m3);
}

TEST_F(deferred_attach_test, WebSocketLiveMessagesBeforeTheAnswerFollowTheReplayOnce) {
  auto m1 = publish("1");
  auto m2 = publish("2");
  auto m3 = publish("3");
  settle();
  w_.deferred->hold(true);
  int peer = open_ws();
  write(peer, client_text(R"({"op":"subscribe","topic":")" + topic_ + R"(","since":")" + m1 +
                          R"(","ref":"s"})"));
  settle();
  EXPECT_EQ(w_.deferred->waiting(), 1u);
  auto m4 = publish("4");
  auto m5 = publish("5");
  settle();
  int gaps = 0;
  auto first = server_texts(read(peer), true);
  ASSERT_EQ(first.size(), 1u);  // the ack, and nothing else yet
  EXPECT_NE(first[0].find("\"op\":\"ack\""), std::string::npos) << first[0];
  w_.deferred->hold(false);
  w_.deferred->release();
  settle();
  EXPECT_EQ(ws_ids(server_texts(read(peer), false), &gaps),
            (std::vector<std::string>{m2, m3, m4, m5}));
  EXPECT_EQ(gaps, 0);
  auto m6 = publish("6");
  settle();
  EXPECT_EQ(ws_ids(server_texts(read(peer), false), &gaps), (std::vector<std::string>{m6}));
}

TEST_F(deferred_attach_test, WebSocketUnsubscribedOrClosedBeforeTheAnswerIsNotTouchedByIt) {
  publish("1");
  settle();
  w_.deferred->hold(true);
  int peer = open_ws();
  write(peer, client_text(R"({"op":"subscribe","topic":")" + topic_ + R"(","ref":"s"})"));
  settle();
  write(peer, client_text(R"({"op":"unsubscribe","topic":")" + topic_ + R"(","ref":"u"})"));
  settle();
  EXPECT_EQ(w_.registry->pending_attaches(), 0u);
  int closing = open_ws();
  write(closing, client_text(R"({"op":"subscribe","topic":")" + topic_ + R"(","ref":"s"})"));
  settle();
  EXPECT_EQ(w_.registry->pending_attaches(), 1u);
  ::shutdown(closing, SHUT_RDWR);
  settle();
  EXPECT_EQ(w_.registry->pending_attaches(), 0u);
  EXPECT_EQ(w_.counters.ws.open.get(), 1u);
  w_.deferred->hold(false);
  w_.deferred->release();
  publish("2");
  settle();
  int gaps = 0;
  EXPECT_TRUE(ws_ids(server_texts(read(peer), true), &gaps).empty());
  // The first session still serves: it subscribes again and gets the next message.
  write(peer, client_text(R"({"op":"subscribe","topic":")" + topic_ + R"(","ref":"s2"})"));
  settle();
  auto m3 = publish("3");
  settle();
  EXPECT_EQ(ws_ids(server_texts(read(peer), false), &gaps), (std::vector<std::string>{m3}));
}

TEST_F(deferred_attach_test, HistoryAnsweredLaterReachesItsRequestOrNobody) {
  auto m1 = publish("1");
  settle();
  w_.deferred->hold(true);
  int peer = open();
  write(peer, "GET /v1/topics/" + topic_ + "/history HTTP/1.1\r\nHost: x\r\n\r\n");
  int gone = open();
  write(gone, "GET /v1/topics/" + topic_ + "/history HTTP/1.1\r\nHost: x\r\n\r\n");
  settle();
  EXPECT_EQ(w_.deferred->waiting(), 2u);
  EXPECT_EQ(read(peer), "");
  ::shutdown(gone, SHUT_RDWR);  // this client hangs up before its answer
  settle();
  w_.deferred->hold(false);
  w_.deferred->release();
  settle();
  auto answer = read(peer);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_NE(answer.find(m1), std::string::npos) << answer;
}

/// An HTTP/2 client (nghttp2) on a socketpair's peer end: what each stream received, and which
/// streams were closed.
class h2_client {
 public:
  explicit h2_client(int peer) : peer_(peer) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(
        cb, [](nghttp2_session*, const std::uint8_t* data, std::size_t n, int, void* self) {
          auto sent = ::send(static_cast<h2_client*>(self)->peer_, data, n, MSG_NOSIGNAL);
          return static_cast<ssize_t>(sent);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
               std::size_t n, void* self) {
          static_cast<h2_client*>(self)->bodies_[id].append(reinterpret_cast<const char*>(data), n);
          return 0;
        });
    nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~h2_client() { nghttp2_session_del(session_); }

  std::int32_t get(const std::string& path) {
    auto nv = [](const char* name, const std::string& value) {
      return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                        std::strlen(name), value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    std::string method = "GET", scheme = "http", authority = "127.0.0.1";
    nghttp2_nv head[] = {nv(":method", method), nv(":scheme", scheme), nv(":authority", authority),
                         nv(":path", path)};
    return nghttp2_submit_request(session_, nullptr, head, 4, nullptr, nullptr);
  }
  void cancel(std::int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  /// Sends what the session has to send, and takes in what the server wrote.
  void exchange() {
    nghttp2_session_send(session_);
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(peer_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      nghttp2_session_mem_recv(session_, reinterpret_cast<std::uint8_t*>(buf),
                               static_cast<std::size_t>(n));
    }
    nghttp2_session_send(session_);
  }
  /// What stream `id` received since the last take.
  std::string take(std::int32_t id) { return std::exchange(bodies_[id], {}); }

 private:
  int peer_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::string> bodies_;
};

TEST_F(deferred_attach_test, Http2SseStreamsMergeEarlyMessagesAndForgetCancelledStreams) {
  auto m1 = publish("1");
  auto m2 = publish("2");
  settle();
  w_.deferred->hold(true);
  int peer = open();
  h2_client c(peer);
  auto kept = c.get("/v1/events?topic=" + topic_ + "&since=" + m1);
  auto cancelled = c.get("/v1/events?topic=" + topic_);
  for (int i = 0; i < 3; ++i) {
    c.exchange();
    settle();
  }
  EXPECT_EQ(w_.deferred->waiting(), 2u);
  EXPECT_EQ(w_.counters.sse.open.get(), 2u);
  auto m3 = publish("3");
  settle();
  c.cancel(cancelled);  // gone before its answer
  for (int i = 0; i < 3; ++i) {
    c.exchange();
    settle();
  }
  EXPECT_EQ(w_.counters.sse.open.get(), 1u);
  EXPECT_EQ(w_.registry->pending_attaches(), 1u);
  EXPECT_TRUE(sse_ids(c.take(kept)).empty());
  w_.deferred->hold(false);
  w_.deferred->release();
  for (int i = 0; i < 3; ++i) {
    settle();
    c.exchange();
  }
  auto body = c.take(kept);
  EXPECT_EQ(sse_ids(body), (std::vector<std::string>{m1, m2, m3})) << body;
  EXPECT_EQ(body.find("gap"), std::string::npos) << body;
  EXPECT_TRUE(c.take(cancelled).empty());
  auto m4 = publish("4");
  for (int i = 0; i < 3; ++i) {
    settle();
    c.exchange();
  }
  EXPECT_EQ(sse_ids(c.take(kept)), (std::vector<std::string>{m4}));
}

}  // namespace
}  // namespace sb
