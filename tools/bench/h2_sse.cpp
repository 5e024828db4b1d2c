#include "h2_sse.hpp"

#include <nghttp2/nghttp2.h>

#include "http_response.hpp"

namespace bench {

struct h2_sse_callbacks {
  static h2_sse_session& self(void* user) { return *static_cast<h2_sse_session*>(user); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
      return 0;
    h2_sse_session::h2_stream* s = self(user).stream_of(frame->hd.stream_id);
    if (!s)
      return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      s->status = 0;
      for (char ch : v)
        s->status = ch >= '0' && ch <= '9' ? s->status * 10 + (ch - '0') : -1000;
    } else if (n == "content-type") {
      s->content_type = std::string(v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    h2_sse_session& h = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
      return 0;
    h2_sse_session::h2_stream* s = h.stream_of(frame->hd.stream_id);
    if (!s || s->ended || s->ready)
      return 0;
    auto slot = static_cast<uint32_t>(s - h.streams_.data());
    if (s->status == 200 && icontains(s->content_type, "text/event-stream")) {
      s->ready = true;
      h.ev_.on_ready(slot);
      return 0;
    }
    h.end(slot, s->status != 200 ? "HTTP " + std::to_string(s->status)
                                 : "Content-Type is not text/event-stream: " + s->content_type);
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_CANCEL);
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                           size_t len, void* user) {
    h2_sse_session& h = self(user);
    h2_sse_session::h2_stream* s = h.stream_of(stream_id);
    if (!s || !s->ready || s->ended)
      return 0;
    auto slot = static_cast<uint32_t>(s - h.streams_.data());
    s->sse.feed(std::string_view(reinterpret_cast<const char*>(data), len),
                [&](const sse_event& ev) { h.ev_.on_event(slot, ev.data); });
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t code, void* user) {
    h2_sse_session& h = self(user);
    h2_sse_session::h2_stream* s = h.stream_of(stream_id);
    if (!s || s->ended)
      return 0;
    auto slot = static_cast<uint32_t>(s - h.streams_.data());
    h.end(slot, code == NGHTTP2_NO_ERROR
                    ? std::string("stream ended by the server")
                    : std::string("stream reset: ") + nghttp2_http2_strerror(code));
    return 0;
  }
};

h2_sse_session::h2_sse_session(event_sink& ev, config cfg) : ev_(ev), cfg_(cfg) {}

h2_sse_session::~h2_sse_session() {
  if (s_)
    nghttp2_session_del(s_);
}

h2_sse_session::h2_stream* h2_sse_session::stream_of(int32_t id) {
  if (!s_)
    return nullptr;
  return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(s_, id));
}

void h2_sse_session::end(uint32_t slot, const std::string& why) {
  h2_stream& s = streams_[slot];
  if (s.ended)
    return;
  s.ended = true;
  --open_;
  ev_.on_ended(slot, s.ready, why);
}

bool h2_sse_session::start(std::string_view authority, const std::vector<std::string>& paths) {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) {
    error_ = "nghttp2_session_callbacks_new failed";
    return false;
  }
  nghttp2_session_callbacks_set_on_header_callback(cb, &h2_sse_callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &h2_sse_callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &h2_sse_callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &h2_sse_callbacks::on_stream_close);
  int rv = nghttp2_session_client_new(&s_, cb, this);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) {
    error_ = std::string("nghttp2_session_client_new: ") + nghttp2_strerror(rv);
    return false;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg_.stream_window},
  };
  rv = nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  if (rv == 0)
    rv = nghttp2_session_set_local_window_size(s_, NGHTTP2_FLAG_NONE, 0, cfg_.connection_window);
  if (rv != 0) {
    error_ = std::string("nghttp2 settings: ") + nghttp2_strerror(rv);
    return false;
  }
  streams_ = std::vector<h2_stream>(paths.size());  // never resized again: nghttp2 holds pointers
  open_ = streams_.size();
  auto nv = [](std::string_view n, std::string_view v) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                      NGHTTP2_NV_FLAG_NONE};
  };
  for (size_t i = 0; i < paths.size(); ++i) {
    const nghttp2_nv head[] = {
        nv(":method", "GET"),
        nv(":scheme", "http"),
        nv(":authority", authority),
        nv(":path", paths[i]),
        nv("accept", "text/event-stream"),
        nv("cache-control", "no-cache"),
        nv("user-agent", "switchboard-bench"),
    };
    int32_t id = nghttp2_submit_request(s_, nullptr, head, sizeof head / sizeof head[0], nullptr,
                                        &streams_[i]);
    if (id < 0) {
      error_ = std::string("nghttp2_submit_request: ") + nghttp2_strerror(id);
      return false;
    }
    streams_[i].id = id;
  }
  return true;
}

bool h2_sse_session::feed(const char* p, size_t n) {
  ssize_t rv = nghttp2_session_mem_recv(s_, reinterpret_cast<const uint8_t*>(p), n);
  if (rv < 0) {
    error_ = std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(rv));
    return false;
  }
  return true;
}

bool h2_sse_session::take_output(std::string& out) {
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(s_, &data);
    if (n < 0) {
      error_ = std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n));
      return false;
    }
    if (n == 0)
      return true;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

bool h2_sse_session::finished() const {
  return !s_ || (!nghttp2_session_want_read(s_) && !nghttp2_session_want_write(s_));
}

void h2_sse_session::close_all(const std::string& why) {
  for (uint32_t i = 0; i < streams_.size(); ++i)
    end(i, why);
}

}  // namespace bench
