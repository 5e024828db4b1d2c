// Minimal HTTP/1.1 client-side pieces for switchboard-bench: URL templates, and an incremental
// response reader (status line, the few headers that frame the body, Content-Length / chunked /
// read-until-close bodies, pipelined responses back to back).
//
// Hand-written because the generator is a single-threaded epoll loop over thousands of raw
// non-blocking sockets with its own buffers, and must not depend on the server's sources; it
// needs only response framing, not a general HTTP library.
#pragma once

#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bench {

struct parsed_url {
  std::string scheme;  // "http" or "ws"
  std::string host;    // numeric IPv4 address
  uint16_t port = 80;
  std::string target;       // path and query
  std::string host_header;  // host[:port]
};

inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

// Parses "http://HOST[:PORT]/path?query" or "ws://..." after substituting "{topic}".
inline std::optional<parsed_url> parse_url(std::string tmpl, std::string_view topic) {
  std::string s = replace_all(std::move(tmpl), "{topic}", topic);
  parsed_url u;
  std::string_view rest = s;
  if (rest.starts_with("http://")) {
    u.scheme = "http";
    rest.remove_prefix(7);
  } else if (rest.starts_with("ws://")) {
    u.scheme = "ws";
    rest.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  u.host_header = std::string(authority);
  if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
    std::string_view p = authority.substr(c + 1);
    unsigned v = 0;
    auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || v == 0 || v > 65535)
      return std::nullopt;
    u.port = static_cast<uint16_t>(v);
    u.host = std::string(authority.substr(0, c));
  } else {
    u.host = std::string(authority);
  }
  if (u.host == "localhost")
    u.host = "127.0.0.1";
  if (u.host.empty())
    return std::nullopt;
  return u;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

inline bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size())
    return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle))
      return true;
  return false;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

struct response_head {
  int status = 0;
  std::string content_type;
  bool chunked = false;
  bool close = false;           // "Connection: close"
  int64_t content_length = -1;  // -1: absent
  std::string raw;              // the head as received (for error messages)
};

// Reads responses from a byte stream. The handler gets:
//   bool on_head(const response_head&)    -- return false to abort
//   void on_body(std::string_view)       -- decoded body bytes (de-chunked)
//   void on_complete()                   -- end of one response (not called for until-close)
// feed() returns false on a framing error (the message is in error()).
class response_reader {
 public:
  explicit response_reader(bool head_request_allows_no_body = false)
      : no_body_(head_request_allows_no_body) {}

  template <class H>
  bool feed(std::string_view in, H& h) {
    while (!in.empty()) {
      switch (state_) {
        case read_state::head: {
          size_t before = buf_.size();
          // Append only up to the end of the head so that body bytes stay in `in`.
          buf_.append(in);
          size_t end = buf_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
          if (end == std::string::npos) {
            if (buf_.size() > max_head)
              return fail("response head too large");
            return true;
          }
          size_t head_len = end + 4;
          size_t consumed = head_len - before;
          buf_.resize(head_len);
          in.remove_prefix(consumed);
          if (!parse_head())
            return false;
          if (!h.on_head(head_))
            return fail("aborted by handler");
          buf_.clear();
          if (no_body_ || head_.status == 204 || head_.status == 304 ||
              (head_.status >= 100 && head_.status < 200)) {
            if (head_.status >= 100 && head_.status < 200) {
              state_ = read_state::head;  // interim response: the real one follows
              continue;
            }
            finish(h);
          } else if (head_.chunked) {
            state_ = read_state::chunk_size;
          } else if (head_.content_length >= 0) {
            remaining_ = static_cast<uint64_t>(head_.content_length);
            state_ = read_state::length;
            if (remaining_ == 0)
              finish(h);
          } else {
            state_ = read_state::until_close;
          }
          break;
        }
        case read_state::length: {
          size_t n = remaining_ < in.size() ? static_cast<size_t>(remaining_) : in.size();
          h.on_body(in.substr(0, n));
          in.remove_prefix(n);
          remaining_ -= n;
          if (remaining_ == 0)
            finish(h);
          break;
        }
        case read_state::until_close:
          h.on_body(in);
          in = {};
          break;
        case read_state::chunk_size: {
          size_t nl = in.find('\n');
          std::string_view part = in.substr(0, nl);
          buf_.append(part);
          if (buf_.size() > 1024)
            return fail("chunk size line too long");
          if (nl == std::string_view::npos)
            return true;
          in.remove_prefix(nl + 1);
          std::string_view line = trim(buf_);
          if (size_t semi = line.find(';'); semi != std::string_view::npos)
            line = trim(line.substr(0, semi));
          uint64_t size = 0;
          auto r = std::from_chars(line.data(), line.data() + line.size(), size, 16);
          if (line.empty() || r.ec != std::errc() || r.ptr != line.data() + line.size())
            return fail("bad chunk size line");
          buf_.clear();
          remaining_ = size;
          state_ = size == 0 ? read_state::trailer : read_state::chunk_data;
          break;
        }
        case read_state::chunk_data: {
          size_t n = remaining_ < in.size() ? static_cast<size_t>(remaining_) : in.size();
          h.on_body(in.substr(0, n));
          in.remove_prefix(n);
          remaining_ -= n;
          if (remaining_ == 0)
            state_ = read_state::chunk_crlf;
          break;
        }
        case read_state::chunk_crlf: {
          // Expect "\r\n" (tolerate a bare "\n").
          char c = in[0];
          in.remove_prefix(1);
          if (c == '\r')
            break;
          if (c != '\n')
            return fail("missing CRLF after chunk data");
          state_ = read_state::chunk_size;
          break;
        }
        case read_state::trailer: {
          size_t nl = in.find('\n');
          buf_.append(in.substr(0, nl));
          if (buf_.size() > max_head)
            return fail("trailer too large");
          if (nl == std::string_view::npos)
            return true;
          in.remove_prefix(nl + 1);
          bool empty = trim(buf_).empty();
          buf_.clear();
          if (empty)
            finish(h);
          break;
        }
      }
    }
    return true;
  }

  bool in_body() const { return state_ != read_state::head; }
  const response_head& head() const { return head_; }
  const std::string& error() const { return error_; }

 private:
  static constexpr size_t max_head = 64 * 1024;
  enum class read_state { head, length, until_close, chunk_size, chunk_data, chunk_crlf, trailer };

  template <class H>
  void finish(H& h) {
    state_ = read_state::head;
    buf_.clear();
    h.on_complete();
  }

  bool fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  bool parse_head() {
    head_ = response_head{};
    head_.raw = buf_;
    std::string_view s = buf_;
    size_t eol = s.find("\r\n");
    std::string_view status_line = s.substr(0, eol);
    // "HTTP/1.x SP 3DIGIT SP reason"
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ')
      return fail("bad status line: " + std::string(status_line.substr(0, 80)));
    int code = 0;
    auto r = std::from_chars(status_line.data() + 9, status_line.data() + 12, code);
    if (r.ec != std::errc() || r.ptr != status_line.data() + 12)
      return fail("bad status code: " + std::string(status_line.substr(0, 80)));
    head_.status = code;
    bool http10 = status_line[7] == '0';
    head_.close = http10;
    s.remove_prefix(eol + 2);
    while (!s.empty()) {
      size_t e = s.find("\r\n");
      std::string_view line = s.substr(0, e);
      s.remove_prefix(e == std::string_view::npos ? s.size() : e + 2);
      if (line.empty())
        break;
      size_t c = line.find(':');
      if (c == std::string_view::npos)
        continue;
      std::string_view name = trim(line.substr(0, c));
      std::string_view value = trim(line.substr(c + 1));
      if (iequals(name, "content-length")) {
        int64_t v = 0;
        auto rr = std::from_chars(value.data(), value.data() + value.size(), v);
        if (rr.ec != std::errc() || v < 0)
          return fail("bad content-length");
        head_.content_length = v;
      } else if (iequals(name, "transfer-encoding")) {
        head_.chunked = icontains(value, "chunked");
      } else if (iequals(name, "content-type")) {
        head_.content_type = std::string(value);
      } else if (iequals(name, "connection")) {
        if (icontains(value, "close"))
          head_.close = true;
        if (icontains(value, "keep-alive"))
          head_.close = false;
      }
    }
    return true;
  }

  read_state state_ = read_state::head;
  bool no_body_;
  std::string buf_;
  response_head head_;
  uint64_t remaining_ = 0;
  std::string error_;
};

}  // namespace bench
