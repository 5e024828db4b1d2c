#pragma once
// An HTTP/2 client for in-process tests: nghttp2's client session (the other side of the engine
// the server uses) over a peer_socket, recording what each stream received and the connection's
// SETTINGS, GOAWAY and resets, so that tests assert on frames rather than on server internals.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "in_process_server.hpp"
#include "peer_socket.hpp"

namespace sb::testing {

class h2_client {
 public:
  struct stream {
    std::map<std::string, std::string> headers;  // the response's, :status included
    std::string body;
    std::optional<std::uint32_t> reset;  // RST_STREAM's error code
    bool closed = false;
    bool ended = false;   // the server sent END_STREAM
    std::string outbox;   // request body bytes written and not yet framed
    bool finish = false;  // end the request once the outbox is sent
  };

  /// Connects to `server` (prior knowledge: the preface and an empty SETTINGS). Nothing is
  /// exchanged until pump().
  explicit h2_client(in_process_server& server) : server_(server) {
    server_.accept(peer_);
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &h2_client::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &h2_client::on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &h2_client::on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &h2_client::on_close);
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  h2_client(const h2_client&) = delete;
  h2_client& operator=(const h2_client&) = delete;
  ~h2_client() { nghttp2_session_del(session_); }

  /// Submits a request; `end_stream` false leaves the request open (a body that never comes).
  std::int32_t request(std::string method, std::string path,
                       std::vector<std::pair<std::string, std::string>> headers = {},
                       bool end_stream = true) {
    headers.insert(headers.begin(), {{":method", std::move(method)},
                                     {":scheme", "http"},
                                     {":authority", "test"},
                                     {":path", std::move(path)}});
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : headers) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                     reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    // An open request's body is what write() gives it (an extended CONNECT's, RFC 8441).
    nghttp2_data_provider body{};
    body.read_callback = [](nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                            std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                            void* user) -> ssize_t {
      auto& st = self(user).streams_[id];
      auto n = std::min(length, st.outbox.size());
      if (n == 0 && !st.finish) {
        return NGHTTP2_ERR_DEFERRED;
      }
      st.outbox.copy(reinterpret_cast<char*>(buf), n);
      st.outbox.erase(0, n);
      if (st.outbox.empty() && st.finish) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
      return static_cast<ssize_t>(n);
    };
    auto id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                     end_stream ? nullptr : &body, nullptr);
    streams_[id];
    return id;
  }

  /// Sends `bytes` on an open request's stream (DATA frames), then END_STREAM when `end`.
  void write(std::int32_t id, std::string_view bytes, bool end = false) {
    auto& st = streams_[id];
    st.outbox.append(bytes);
    st.finish = st.finish || end;
    nghttp2_session_resume_data(session_, id);
  }

  /// Exchanges frames with the server until neither side has anything more to say.
  void pump() {
    for (int round = 0; round < 64; ++round) {
      bool moved = false;
      const std::uint8_t* data = nullptr;
      for (ssize_t n; (n = nghttp2_session_mem_send(session_, &data)) > 0;) {
        peer_.write(std::string_view(reinterpret_cast<const char*>(data), n));
        moved = true;
      }
      server_.run();
      auto in = peer_.read();
      if (!in.empty()) {
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in.data()),
                                 in.size());
        moved = true;
      }
      if (!moved) {
        return;
      }
    }
  }

  stream& at(std::int32_t id) { return streams_[id]; }
  /// The server's SETTINGS values by identifier.
  const std::map<std::int32_t, std::uint32_t>& settings() const { return settings_; }
  /// The error code of the GOAWAY received, if any.
  std::optional<std::uint32_t> goaway() const { return goaway_; }
  bool hung_up() const { return peer_.hung_up(); }

 private:
  static h2_client& self(void* user) { return *static_cast<h2_client*>(user); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    self(user)
        .streams_[frame->hd.stream_id]
        .headers[std::string(reinterpret_cast<const char*>(name), namelen)] =
        std::string(reinterpret_cast<const char*>(value), valuelen);
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                     std::size_t len, void* user) {
    self(user).streams_[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      for (std::size_t i = 0; i < frame->settings.niv; ++i) {
        c.settings_[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
      }
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
      c.goaway_ = frame->goaway.error_code;
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
      c.streams_[frame->hd.stream_id].reset = frame->rst_stream.error_code;
    }
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      c.streams_[frame->hd.stream_id].ended = true;
    }
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
    self(user).streams_[id].closed = true;
    return 0;
  }

  in_process_server& server_;
  peer_socket peer_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, stream> streams_;
  std::map<std::int32_t, std::uint32_t> settings_;
  std::optional<std::uint32_t> goaway_;
};

}  // namespace sb::testing
