#pragma once
// An HTTP/1.1 connection between requests: reads with non-blocking syscalls, parses with Beast's
// request parser, answers through the API handlers, and hands the connection over to an SSE
// stream on GET /v1/events. Requests on one connection are answered in order, one at a time.
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>
#include <optional>

#include "http/api/stream_publish.hpp"
#include "http/handoff.hpp"
#include "http/request_parser.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/serve.hpp"
#include "http/services.hpp"
#include "io/connection.hpp"

namespace sb::http {

/// The handler of a connection refused at accept (over a connection limit): it only gets its
/// answer written and closed.
class refusal final : public io::connection_handler {
 public:
  explicit refusal(io::connection&) {}
  void on_readable() override {}
};

class session final : public io::connection_handler {
 public:
  /// `ctx` and `to` outlive the session.
  session(io::connection& conn, loop_services& ctx, handoff& to);
  ~session() override;

  /// Starts waiting for the first request.
  void start();

  void on_readable() override;
  void on_timer() override;
  void on_close() override;
  void on_drain() override;

 private:
  enum class phase : std::uint8_t {
    idle,            // between requests: nothing of the next one has arrived
    head,            // reading a request head (header timeout runs)
    authenticating,  // a ticket is being redeemed in the shared ledger: nothing more is read
    body,            // reading a body to answer at its end
    streaming,       // reading a streaming-publish body, publishing as it arrives
    handling,        // the request is complete and being answered
    finished,        // closing, or handed over to another protocol
  };
  void process();
  void on_head();
  /// What follows authentication in on_head(): admin check, hand-over, or reading the body.
  void after_authentication();
  /// A ticket's redeem came back (authenticating): go on with the request, or answer it.
  void on_authenticated(verdict v);
  void on_complete();
  void open_events();
  void open_websocket();
  void start_h2();
  void begin_streaming();
  /// True when the request may go on now; false when it was answered or waits for a redeem.
  bool authenticate();
  void fail(errc e, std::string_view detail = {});
  void respond(response r);

  io::connection& conn_;
  loop_services& ctx_;
  handoff& to_;
  boost::beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  route route_;
  boost::urls::url_view url_;  // the target of the request being read, parsed once (on_head)
  std::unique_ptr<api::stream_publisher> streaming_;
  /// Beast keeps a reference to its chunk callback, so the callback lives as long as the session.
  std::function<std::size_t(std::uint64_t, std::string_view, boost::system::error_code&)>
      on_chunk_body_;
  std::optional<auth::identity> who_;  // for API endpoints, once the head is in
  std::string client_;                 // `who_` as a rate-limit key
  std::int64_t started_ns_ = 0;        // the request's first byte was parsed (access log)
  std::uint32_t responses_ = 0;        // answers sent: tells whether a call answered the request
  phase phase_ = phase::idle;
  bool processing_ = false;
  bool first_request_ = true;  // only a connection's first bytes may be an HTTP/2 preface
  bool input_ended_ = false;   // the peer sent FIN: answer what it asked, then close
};

}  // namespace sb::http
