#include "http/request_parser.hpp"

#include <algorithm>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>
#include <exception>
#include <stdexcept>

#include "core/ascii.hpp"

namespace sb::http {
namespace bhttp = boost::beast::http;

namespace {

// Beast stores a field's name and value lengths in 16 bits and throws beyond (its `off_t`).
constexpr std::size_t max_field_part = 0xffff - 2;

// True when the Transfer-Encoding fields, read as one list (RFC 9110 §5.3), name exactly one
// coding and it is `chunked`. Empty list elements are ignored, as §5.6.1 asks.
bool only_chunked(const bhttp::fields& head) {
  std::size_t codings = 0;
  bool chunked = false;
  auto [first, last] = head.equal_range(bhttp::field::transfer_encoding);
  for (auto it = first; it != last; ++it) {
    std::string_view rest(it->value());
    while (true) {
      auto comma = rest.find(',');
      auto element = trim_ows(rest.substr(0, comma));
      if (!element.empty()) {
        ++codings;
        chunked = ascii_iequals(element, "chunked");
      }
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
  }
  return codings == 1 && chunked;
}

bool valid_host(std::string_view value) {
  if (value.empty()) {
    return true;  // allowed when the target URI has no authority (RFC 9112 §3.2)
  }
  // Nearly every Host is a name or an IPv4 address with maybe a port: letters, digits, dots and
  // dashes, then `:digits`. That is a reg-name (RFC 3986 §3.2.2) and a port, so it is valid; only
  // other forms (IP literals, percent-escapes, user info to refuse) go to Boost.URL's full
  // grammar, which took a tenth of a small publish's CPU when it read every Host.
  auto colon = value.find(':');
  auto name = value.substr(0, colon);
  auto port = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
  auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  };
  if (!name.empty() && std::all_of(name.begin(), name.end(), is_name_char) &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return true;
  }
  auto authority = boost::urls::parse_authority(value);
  return authority && !authority->has_userinfo() && !authority->host().empty();
}

}  // namespace

std::optional<std::string_view> framing_problem(const bhttp::fields& head, unsigned version,
                                                bool chunked) {
  // One pass in arrival order, comparing the parsed field codes: cheaper than a lookup per name
  // in Beast's index (a case-insensitive tree), and every request pays it.
  std::size_t hosts = 0;
  std::size_t transfer_encodings = 0;
  std::size_t content_lengths = 0;
  std::string_view host;
  for (const auto& f : head) {
    switch (f.name()) {
      case bhttp::field::host:
        ++hosts;
        host = f.value();
        break;
      case bhttp::field::transfer_encoding:
        ++transfer_encodings;
        break;
      case bhttp::field::content_length:
        ++content_lengths;
        break;
      default:
        break;
    }
  }
  if (hosts > 1) {
    return "more than one Host header field";
  }
  if (hosts == 0 && version >= 11) {
    return "an HTTP/1.1 request needs a Host header field";
  }
  if (hosts == 1 && !valid_host(host)) {
    return "the Host header field is not a host[:port]";
  }
  if (transfer_encodings == 0) {
    return std::nullopt;
  }
  if (version < 11) {
    return "Transfer-Encoding in an HTTP/1.0 request";
  }
  if (content_lengths > 0) {
    return "Transfer-Encoding together with Content-Length";
  }
  if (!only_chunked(head) || !chunked) {
    return "Transfer-Encoding must be exactly chunked";
  }
  return std::nullopt;
}

bool pending_is_trailers(std::string_view pending) {
  // A chunk line follows the CRLF that ends the previous chunk's data. Beast parses a chunk line
  // as soon as it is complete, unless it is the last chunk's, which it holds with the trailers
  // until the empty line that ends them.
  if (pending.substr(0, 2) == "\r\n") {
    pending.remove_prefix(2);
  }
  return pending.find("\r\n") != std::string_view::npos;
}

request_parser::request_parser(std::size_t max_framing_bytes) : max_(max_framing_bytes) {}

std::size_t request_parser::feed(boost::asio::const_buffer bytes, boost::system::error_code& ec) {
  bool in_head = !is_header_done();
  std::size_t used = 0;
  try {
    used = put(bytes, ec);
  } catch (const std::length_error&) {
    // Beast's own bounds on what it stores; on_field_impl keeps fields under them, so this is a
    // last line of defence: no input may end the process.
    refuse(ec, errc::headers_too_large, "a header field is too large");
    return 0;
  } catch (const std::exception&) {
    refuse(ec, errc::invalid_request, "the request could not be parsed");
    return 0;
  }
  if (in_head) {
    framing_ += used;  // Beast stops at the end of the head unless eager
    // Beast bounds the request line and the fields each on its own; the head as a whole is ours.
    if (!ec && is_header_done() && framing_ > max_) {
      refuse(ec, errc::headers_too_large, "the request head is over max_header_bytes");
    }
  }
  return used;
}

errc request_parser::check_pending(std::string_view pending) {
  if (!is_header_done() || is_done() || !chunked() || !over_bound(pending.size())) {
    return errc::ok;
  }
  boost::system::error_code ec;
  if (pending_is_trailers(pending)) {
    refuse(ec, errc::headers_too_large, "the trailer section is over max_header_bytes");
    return errc::headers_too_large;
  }
  refuse(ec, errc::payload_too_large, "chunk extensions are over max_header_bytes");
  return errc::payload_too_large;
}

bool request_parser::over_bound(std::size_t more) const {
  // Held bytes also carry the chunk-size digits and CRLFs, which are not counted: a little room
  // for them, so that a chunk line split across reads is never refused for them alone.
  constexpr std::size_t chunk_line_room = 64;
  return framing_ > max_ || more > max_ - framing_ + chunk_line_room;
}

void request_parser::refuse(boost::system::error_code& ec, errc e, std::string_view why) {
  ec = e;
  detail_ = why;
}

void request_parser::on_field_impl(bhttp::field f, boost::beast::string_view name,
                                   boost::beast::string_view value, boost::system::error_code& ec) {
  if (is_header_done()) {
    // A trailer field: counted, then dropped. Nothing here reads trailers, and merging them into
    // the header section after the head was checked would let them override it (RFC 9110 §6.5.1).
    framing_ += name.size() + value.size() + 4;
    if (framing_ > max_) {
      refuse(ec, errc::headers_too_large, "the trailer section is over max_header_bytes");
    }
    return;
  }
  if (name.size() > max_field_part || value.size() > max_field_part) {
    refuse(ec, errc::headers_too_large, "a header field is over 64 KiB");
    return;
  }
  get().insert(f, name, value);
}

void request_parser::on_header_impl(boost::system::error_code& ec) {
  if (auto why = framing_problem(get(), get().version(), chunked())) {
    refuse(ec, errc::invalid_request, *why);
  }
}

void request_parser::on_chunk_header_impl(std::uint64_t, boost::beast::string_view extensions,
                                          boost::system::error_code& ec) {
  // Extensions are parsed and ignored (none is defined that we would act on), but counted.
  framing_ += extensions.size();
  if (framing_ > max_) {
    refuse(ec, errc::payload_too_large, "chunk extensions are over max_header_bytes");
  }
}

errc answer_for(const boost::system::error_code& ec) {
  if (ec.category() == switchboard_category()) {
    return static_cast<errc>(ec.value());
  }
  if (ec == bhttp::error::header_limit) {
    return errc::headers_too_large;
  }
  if (ec == bhttp::error::body_limit) {
    return errc::payload_too_large;
  }
  return errc::invalid_request;
}

}  // namespace sb::http
