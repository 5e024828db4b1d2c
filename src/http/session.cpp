#include "http/session.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>
#include <cstring>
#include <memory>

#include "http/h2_session.hpp"
#include "http/serve.hpp"
#include "io/access_log.hpp"
#include "ws/handshake.hpp"

namespace sb::http {
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t read_chunk = 16 << 10;

/// Where every session of this thread (so of its loop) reads into: only what a read brought is
/// copied into the session's own buffer, so a connection holds a buffer the size of its request
/// rather than a 16 KiB one. Most connections send one small request and upgrade (an SSE stream,
/// a WebSocket), and 10,000 of them arriving at once left their 16 KiB blocks freed in the middle
/// of the heap, where glibc keeps them.
char* read_scratch() {
  thread_local std::unique_ptr<char[]> scratch(new char[read_chunk]);
  return scratch.get();
}

}  // namespace

session::session(io::connection& conn, loop_services& ctx, handoff& to)
    : conn_(conn),
      ctx_(ctx),
      to_(to),
      on_chunk_body_([this](std::uint64_t, std::string_view body, boost::system::error_code& ec) {
        if (streaming_->feed(body) != errc::ok) {
          ec = bhttp::error::body_limit;
        }
        // A stream may last as long as its source: what times out is silence, not length.
        conn_.set_timer(ctx_.shared.limits.idle_timeout);
        return body.size();
      }) {}

session::~session() = default;

void session::start() {
  conn_.set_timer(ctx_.shared.limits.header_timeout);
}

void session::on_readable() {
  if (phase_ == phase::finished) {
    return;
  }
  boost::system::error_code ec;
  char* scratch = read_scratch();
  for (int reads = 0; reads < 8; ++reads) {
    auto n = conn_.read_some(scratch, read_chunk, ec);
    if (ec == boost::asio::error::would_block) {
      ec = {};
      break;
    }
    if (ec) {
      break;
    }
    auto space = buffer_.prepare(n);
    std::memcpy(space.data(), scratch, n);
    buffer_.commit(n);
    if (buffer_.size() > ctx_.shared.limits.max_header_bytes + read_chunk &&
        phase_ != phase::body && phase_ != phase::streaming) {
      break;  // the parser reports the oversized head below; stop reading more of it
    }
  }
  process();
  if (ec) {
    // The peer is done sending (or the socket failed). Requests it completed are still answered,
    // since a client may half-close right after its request (`printf … | nc` does); a request cut
    // short cannot be.
    input_ended_ = true;
    if (phase_ == phase::idle) {
      phase_ = phase::finished;
      conn_.close_after_flush();  // an answer may still be corked for the end of the loop turn
    } else if (phase_ != phase::finished && phase_ != phase::handling &&
               phase_ != phase::authenticating) {
      phase_ = phase::finished;
      conn_.close();
    }
    return;
  }
  if (phase_ != phase::finished && phase_ != phase::handling && phase_ != phase::authenticating) {
    conn_.wait_readable();
  }
}

void session::process() {
  processing_ = true;
  struct reset_flag {
    bool& flag;
    ~reset_flag() { flag = false; }
  } reset{processing_};
  while (phase_ != phase::finished && phase_ != phase::handling &&
         phase_ != phase::authenticating && buffer_.size() > 0) {
    if (phase_ == phase::idle && first_request_) {
      // HTTP/2 over TLS is chosen by ALPN; in cleartext, by the client preface (prior knowledge).
      static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      std::string_view have(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      auto n = std::min(have.size(), preface.size());
      if (conn_.alpn() == "h2" || have.substr(0, n) == preface.substr(0, n)) {
        if (n < preface.size() && conn_.alpn() != "h2") {
          break;  // possibly a preface: wait for the rest
        }
        start_h2();
        return;
      }
    }
    if (phase_ == phase::idle) {
      first_request_ = false;
      phase_ = phase::head;
      started_ns_ = steady_now_ns();
      parser_.emplace(ctx_.shared.limits.max_header_bytes);
      parser_->header_limit(static_cast<std::uint32_t>(ctx_.shared.limits.max_header_bytes));
      parser_->body_limit(
          std::max(ctx_.shared.limits.max_request_bytes, ctx_.shared.messages.max_message_bytes));
      conn_.set_timer(ctx_.shared.limits.header_timeout);
    }
    boost::system::error_code ec;
    auto used = parser_->feed(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) {
      // What the parser leaves unused is an unfinished chunk line or trailer section: bounded
      // here, since Beast holds no limit on either and they would grow with every read.
      std::string_view pending(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      if (auto over = parser_->check_pending(pending); over != errc::ok) {
        fail(over, parser_->detail());
        return;
      }
      if (used == 0) {
        break;
      }
      continue;
    }
    if (ec) {
      auto e = answer_for(ec);
      std::string detail;
      if (ec.category() == switchboard_category()) {
        detail = parser_->detail();
      } else if (e == errc::invalid_request) {
        detail = ec.message();
      }
      fail(e, detail);
      return;
    }
    if (phase_ == phase::head && parser_->is_header_done()) {
      on_head();
    }
    if ((phase_ == phase::body || phase_ == phase::streaming) && parser_->is_done()) {
      on_complete();
    }
  }
}

void session::on_head() {
  phase_ = phase::body;
  conn_.set_timer(ctx_.shared.limits.idle_timeout);  // from here on: inactivity, not a deadline
  const auto& req = parser_->get();
  // Parsed once here; every later step of this request reads `url_` (it points into the head,
  // which the parser keeps until the answer).
  auto parsed = boost::urls::parse_origin_form(std::string_view(req.target()));
  url_ = parsed ? *parsed : boost::urls::url_view();
  auto routed = route_request(req.method_string(), parsed ? &url_ : nullptr, req, ctx_);
  if (auto* answer = std::get_if<response>(&routed)) {
    respond(std::move(*answer));
    return;
  }
  route_ = std::move(std::get<route>(routed));
  if (!is_public(route_.endpoint) && !authenticate()) {
    return;
  }
  after_authentication();
}

void session::after_authentication() {
  const auto& req = parser_->get();
  if (is_admin(route_.endpoint)) {
    if (auto refused = refuse_admin(route_.endpoint, req, *who_, ctx_)) {
      respond(std::move(*refused));
      return;
    }
  }
  if (route_.endpoint == endpoint::events || route_.endpoint == endpoint::admin_stats) {
    open_events();
    return;
  }
  if (route_.endpoint == endpoint::websocket) {
    open_websocket();
    return;
  }
  std::size_t limit = body_limit(route_.endpoint, ctx_.shared.limits, ctx_.shared.messages);
  if (auto length = parser_->content_length(); length && *length > limit) {
    fail(errc::payload_too_large);
    return;
  }
  if (route_.endpoint == endpoint::topic_stream) {
    begin_streaming();
    return;
  }
  parser_->body_limit(limit);
}

bool session::authenticate() {
  const auto& req = parser_->get();
  // The answer of a redeem goes nowhere if the connection closed or changed hands meanwhile.
  auto now = http::authenticate(
      req, url_, conn_.peer().address(), ctx_, [this, conn = conn_.weak_ref()](verdict v) {
        if (auto c = conn.lock();
            c && c->is_open() && c->handler() == this && phase_ == phase::authenticating) {
          on_authenticated(std::move(v));
        }
      });
  if (!now) {
    // Nothing more is read meanwhile (the body, a pipelined request): it waits in the socket.
    phase_ = phase::authenticating;
    return false;
  }
  if (auto* refused = std::get_if<response>(&*now)) {
    respond(std::move(*refused));
    return false;
  }
  auto& c = std::get<caller>(*now);
  who_ = std::move(c.who);
  client_ = std::move(c.client);
  return true;
}

void session::on_authenticated(verdict v) {
  phase_ = phase::body;
  if (auto* refused = std::get_if<response>(&v)) {
    respond(std::move(*refused));  // goes on with what is buffered when the connection stays
    return;
  }
  auto& c = std::get<caller>(v);
  who_ = std::move(c.who);
  client_ = std::move(c.client);
  conn_.set_timer(ctx_.shared.limits.idle_timeout);  // it may have fired while we waited
  auto responses = responses_;
  after_authentication();
  if (responses != responses_ || (phase_ != phase::body && phase_ != phase::streaming)) {
    return;  // answered (respond() went on with what is buffered), handed over, or closed
  }
  if (parser_->is_done()) {
    on_complete();  // a request without a body: complete with its head
    return;
  }
  process();
  if (phase_ == phase::finished || phase_ == phase::handling) {
    return;
  }
  if (input_ended_) {
    phase_ = phase::finished;
    conn_.close();  // the peer sent FIN while we waited: the rest of this body never comes
    return;
  }
  conn_.wait_readable();
}

void session::begin_streaming() {
  if (auto refused = refuse_stream_publish(route_.topic, *who_, ctx_)) {
    respond(std::move(*refused));
    return;
  }
  api::request req{"POST", url_, parser_->get(), {}, route_.topic, *who_, client_};
  streaming_ = std::make_unique<api::stream_publisher>(route_.topic, req.query_flag("retain"),
                                                       who_->grants.subject, client_, ctx_);
  phase_ = phase::streaming;
  if (parser_->chunked()) {
    // Consume chunk bytes as they arrive so the body is never accumulated.
    parser_->body_limit(boost::none);
    parser_->on_chunk_body(on_chunk_body_);
  } else {
    parser_->body_limit(ctx_.shared.limits.max_request_bytes);
  }
}

void session::on_complete() {
  phase_ = phase::handling;
  auto& req = parser_->get();
  if (streaming_) {
    if (!parser_->chunked()) {
      streaming_->feed(req.body());
    }
    // An asynchronous broker acknowledges the publishes later: the answer goes nowhere if the
    // connection closed or changed hands meanwhile.
    streaming_->finish([this, conn = conn_.weak_ref()](response r) {
      if (auto c = conn.lock(); c && c->is_open() && c->handler() == this) {
        respond(std::move(r));
      }
    });
    streaming_.reset();
    return;
  }
  static const auth::identity nobody{{}, true, false};
  api::request request{std::string_view(req.method_string()),
                       url_,
                       req,
                       req.body(),
                       route_.topic,
                       who_ ? *who_ : nobody,
                       client_};
  // An asynchronous broker (a history read) may answer after the connection closed, or after it
  // was handed to another handler: the answer then goes nowhere.
  serve(route_.endpoint, request, ctx_, [this, conn = conn_.weak_ref()](response r) {
    if (auto c = conn.lock(); c && c->is_open() && c->handler() == this) {
      respond(std::move(r));
    }
  });
}

void session::open_events() {
  const auto& req = parser_->get();
  auto checked = route_.endpoint == endpoint::admin_stats ? check_admin_stats(ctx_)
                                                          : check_events(req, url_, *who_, ctx_);
  if (auto* refused = std::get_if<response>(&checked)) {
    respond(std::move(*refused));
    return;
  }
  auto& events = std::get<events_request>(checked);
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (const auto& [name, value] : events_headers(req, ctx_)) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head.append("Connection: close\r\n\r\n");
  phase_ = phase::finished;
  conn_.cancel_timer();
  conn_.send(std::move(head));
  ctx_.counters.response(200);
  conn_.park();  // a subscriber: long-lived and mostly idle
  auto stream = std::make_unique<sse::h1_stream>(conn_, to_.sse);
  auto* s = stream.get();
  s->set_origin(who_ ? std::string_view(who_->grants.subject) : std::string_view());
  conn_.replace_handler(std::move(stream));
  s->start(std::move(events.topics), events.from);
}

void session::start_h2() {
  phase_ = phase::finished;
  conn_.cancel_timer();
  std::string early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  conn_.park();  // many streams on one long-lived connection
  auto h2 = std::make_unique<h2_session>(conn_, ctx_, to_);
  auto* s = h2.get();
  conn_.replace_handler(std::move(h2));
  s->start(early);
}

void session::open_websocket() {
  if (ctx_.shared.is_draining()) {
    fail(errc::unavailable, "draining");
    return;
  }
  auto verdict = ws::check_upgrade(parser_->get(), to_.ws.config.deflate);
  if (verdict.status != 101) {
    ctx_.counters.bad_requests.add();
    auto r = response::json(verdict.status, ws::refusal_body(verdict));
    if (verdict.status == 426) {
      r.headers.emplace_back("Upgrade", "websocket");
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
    }
    r.close = true;
    respond(std::move(r));
    return;
  }
  phase_ = phase::finished;
  conn_.cancel_timer();
  conn_.send(ws::switching_response(verdict.accept, verdict.deflate));
  ctx_.counters.response(101);
  // Frames the client sent right behind its handshake are already in our buffer: pass them on.
  auto early = boost::beast::buffers_to_string(buffer_.data());
  conn_.park();  // long-lived, mostly idle
  auto session = std::make_unique<ws::connection_session>(conn_, to_.ws, std::move(early),
                                                          std::move(*who_), verdict.deflate);
  auto* s = session.get();
  conn_.replace_handler(std::move(session));
  s->start();
}

void session::fail(errc e, std::string_view detail) {
  ctx_.counters.bad_requests.add();
  auto r = response::error(e, detail);
  r.close = true;  // what is left of the request cannot be trusted to frame the next one
  respond(std::move(r));
}

void session::respond(response r) {
  if (phase_ == phase::finished) {
    return;
  }
  // Any answer keeps the connection when the request was read to its end: what follows is then
  // framed by a request we understood. An answer given before the body was read closes it.
  bool keep_alive = parser_ && parser_->is_done() && parser_->keep_alive() && !r.close &&
                    !input_ended_ && !ctx_.shared.is_draining();
  bool head_only = false;
  if (parser_ && parser_->is_header_done()) {
    const auto& req = parser_->get();
    if (req.method() !=
        bhttp::verb::options) {  // a preflight answer carries its CORS headers already
      for (auto& h : ctx_.shared.cors.headers_for(header_value(req, bhttp::field::origin))) {
        r.headers.push_back(std::move(h));
      }
    }
    head_only = req.method() == bhttp::verb::head;
  }
  conn_.send(serialize(r, keep_alive, head_only));
  ++responses_;
  ctx_.counters.response(r.status);
  if (io::access_log_wanted(r.status >= 400)) {
    std::string_view method;
    std::string_view target;
    if (parser_ && parser_->is_header_done()) {
      method = parser_->get().method_string();
      target = parser_->get().target();
    }
    io::log_request({"http/1.1", method, target, r.status, head_only ? 0 : r.body.size(),
                     static_cast<double>(steady_now_ns() - started_ns_) / 1e9,
                     io::endpoint_text(conn_.peer()),
                     who_ ? who_->grants.subject : std::string_view()});
  }
  parser_.reset();
  who_.reset();
  if (!keep_alive) {
    phase_ = phase::finished;
    conn_.close_after_flush();
    return;
  }
  phase_ = phase::idle;
  conn_.set_timer(ctx_.shared.limits.idle_timeout);
  if (!processing_) {
    // Answered after process() returned (an asynchronous broker): go on with what is buffered.
    process();
    if (phase_ != phase::finished && phase_ != phase::handling) {
      conn_.wait_readable();
    }
  }
}

void session::on_timer() {
  switch (phase_) {
    case phase::idle:
      phase_ = phase::finished;
      conn_.close();  // an idle keep-alive connection: nothing to answer
      break;
    case phase::head:
    case phase::body:
    case phase::streaming:
      fail(errc::header_timeout);
      break;
    default:
      break;
  }
}

void session::on_close() {
  phase_ = phase::finished;
}

void session::on_drain() {
  if (phase_ == phase::idle && first_request_) {
    // Accepted just before the drain (its request may still be on the wire): closing it now would
    // reset a client that did nothing wrong, which a handover to a new process (reuse_port) must
    // not do. Its request gets an answer with Connection: close, if it comes within a second.
    conn_.set_timer(std::min<std::chrono::milliseconds>(ctx_.shared.limits.header_timeout,
                                                        std::chrono::seconds(1)));
    return;
  }
  if (phase_ == phase::idle) {
    phase_ = phase::finished;
    conn_.close_after_flush();
  }
  // A request in progress is answered with Connection: close (respond() checks draining).
}

}  // namespace sb::http
