#pragma once
// Beast's HTTP/1.1 request parser with what RFC 9112 asks of a server and Beast leaves to its
// user: one framing a request can be read by (§6.1, §6.3), one valid Host (§3.2), and a bound on
// every byte a peer can make it hold. Beast parses; the checks sit in its hooks. Sans-I/O: bytes
// in, a request or an error out.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

#include "core/errc.hpp"

namespace sb::http {

/// Why a request head cannot be framed or routed safely, or nullopt when it can. `chunked` is
/// Beast's own reading of the head (its chunked flag), so that what we accept is exactly what
/// it will parse:
/// - Transfer-Encoding must be exactly `chunked` (one coding, once, across all its fields), never
///   in HTTP/1.0, never with Content-Length;
/// - exactly one Host field whose value is a host[:port] (may be empty); HTTP/1.0 may omit it.
std::optional<std::string_view> framing_problem(const boost::beast::http::fields& head,
                                                unsigned version, bool chunked);

/// Of a chunked body's bytes that the parser holds because they do not yet make a complete
/// element: whether they are the trailer section (after the last chunk) rather than a chunk line
/// (its size and extensions). `pending` starts where the parser stopped.
bool pending_is_trailers(std::string_view pending);

class request_parser final
    : public boost::beast::http::request_parser<boost::beast::http::string_body> {
 public:
  /// `max_framing_bytes` bounds the head, every chunk extension and the trailers together
  /// (max_header_bytes); the body is bounded by body_limit() as with Beast.
  explicit request_parser(std::size_t max_framing_bytes);

  /// Parses what it can of `bytes`, as Beast's put(): returns the bytes used, `need_more` when a
  /// complete element is missing. Errors are Beast's or ours (`sb::errc`, see detail()); nothing
  /// a peer sends makes it throw.
  std::size_t feed(boost::asio::const_buffer bytes, boost::system::error_code& ec);

  /// After feed() needed more: the error to answer when `pending` (the bytes it left unused) is
  /// more than what remains of the bound, `errc::ok` otherwise. Held trailers over it are a 431,
  /// a held chunk line (extensions) a 413.
  errc check_pending(std::string_view pending);

  /// Why the last `sb::errc` error was raised; empty for Beast's errors.
  std::string_view detail() const { return detail_; }

 private:
  void on_field_impl(boost::beast::http::field f, boost::beast::string_view name,
                     boost::beast::string_view value, boost::system::error_code& ec) override;
  void on_header_impl(boost::system::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions,
                            boost::system::error_code& ec) override;
  bool over_bound(std::size_t more) const;
  void refuse(boost::system::error_code& ec, errc e, std::string_view why);

  std::size_t max_;
  std::size_t framing_ = 0;
  std::string_view detail_;
};

/// The error to answer a parse error with: 431 for a head over its bound, 413 for a body over
/// its, our own code as it is, 400 for everything else.
errc answer_for(const boost::system::error_code& ec);

}  // namespace sb::http
