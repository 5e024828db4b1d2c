#include "io/access_log.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/utf8.hpp"

namespace sb::io {
namespace {

access_log_settings settings_;

/// Query parameter names whose values are credentials, or may be (matched as substrings of the
/// lower-cased, percent-decoded name): ticket, token, access_token, api_key, apikey, password…
constexpr std::array<std::string_view, 11> secret_names{"ticket", "token",      "key", "secret",
                                                        "pass",   "auth",       "sig", "session",
                                                        "cookie", "credential", "jwt"};

constexpr std::string_view redacted = "REDACTED";
constexpr std::size_t max_target_logged = 2048;
/// A loop's gathered lines are handed over at this size even within one batch of handlers.
constexpr std::size_t batch_bytes = 16 << 10;

/// What one thread has gathered, and the loop that flushes it.
struct thread_batch {
  std::string text;
  boost::asio::io_context* loop = nullptr;
  bool flush_posted = false;
  // The line prefix's time, formatted again only when the second changes.
  std::time_t second = -1;
  char stamp[32] = {};
  std::size_t stamp_size = 0;

  void flush() {
    flush_posted = false;
    if (!text.empty() && settings_.logger) {
      settings_.logger->log(settings_.level, "{}", text);
    }
    text.clear();
  }
  ~thread_batch() { flush(); }
};

thread_local thread_batch batch;

/// The start of a line: `[2026-12-07 05:22:43.092] [access] [info] ` in text (local time, as the
/// server's other lines), `{"ts":"2026-12-07T05:22:43.092Z","level":"info","logger":"access",` in
/// JSON (UTC).
void append_prefix(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t second = static_cast<std::time_t>(ms / 1000);
  bool json = settings_.format == log_format::json;
  if (second != batch.second) {
    std::tm tm{};
    if (json) {
      gmtime_r(&second, &tm);
    } else {
      localtime_r(&second, &tm);
    }
    batch.stamp_size = std::strftime(batch.stamp, sizeof batch.stamp,
                                     json ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    batch.second = second;
  }
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(ms % 1000));
  auto level = spdlog::level::to_string_view(settings_.level);
  std::string_view stamp(batch.stamp, batch.stamp_size);
  if (json) {
    out.append("{\"ts\":\"").append(stamp).append(millis).append("Z\",\"level\":\"");
    out.append(level.data(), level.size()).append("\",\"logger\":\"access\",");
  } else {
    out.append("[").append(stamp).append(millis).append("] [access] [");
    out.append(level.data(), level.size()).append("] ");
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/// Percent-decoded and lower-cased: `T%69cket` is `ticket`.
std::string decoded_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    } else if (c == '+') {
      c = ' ';
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool secret_name(std::string_view raw_name) {
  auto name = decoded_lower(raw_name);
  return std::any_of(secret_names.begin(), secret_names.end(),
                     [&](std::string_view s) { return name.find(s) != std::string::npos; });
}

/// A JWT (or a JWS/JWE) starts with a base64url JSON header: `eyJ` is `{"`.
bool credential_shaped(std::string_view raw_value) {
  auto value = decoded_lower(raw_value);
  return value.find("eyj") != std::string::npos;
}

/// Replaces every occurrence of a configured secret in `line` (defence in depth: a client that
/// puts its key in a path or an unexpected parameter does not get it logged either).
void scrub(std::string& line) {
  for (const auto& secret : settings_.secrets) {
    if (secret.size() < 4) {
      continue;  // too short to find without mangling ordinary text; never a real key
    }
    for (auto at = line.find(secret); at != std::string::npos; at = line.find(secret, at)) {
      line.replace(at, secret.size(), redacted);
      at += redacted.size();
    }
  }
}

void append_text_value(std::string& out, std::string_view s) {
  // Plain when it is a simple token; quoted and escaped otherwise (logfmt).
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '=';
  });
  if (plain) {
    out.append(s);
  } else {
    append_json_string(out, s);
  }
}

/// One field, in the format chosen: `,"name":"value"` or ` name=value`.
class line_builder {
 public:
  explicit line_builder(std::string_view msg) {
    out_.reserve(400);  // a typical line, so appending fields does not reallocate
    append_prefix(out_);
    if (json()) {
      out_.append("\"msg\":");
      append_json_string(out_, msg);
    } else {
      out_.append(msg);
    }
  }
  void text(std::string_view name, std::string_view value) {
    key(name);
    if (json()) {
      append_json_string(out_, value);
    } else {
      append_text_value(out_, value);
    }
  }
  void number(std::string_view name, std::uint64_t value) {
    key(name);
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    out_.append(buf, end);
  }
  void seconds(std::string_view name, double value) {
    key(name);
    char buf[48];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 6);
    out_.append(buf, ec == std::errc() ? end : buf);
  }
  std::string take() {
    scrub(out_);
    out_.append(json() ? "}\n" : "\n");
    return std::move(out_);
  }

 private:
  static bool json() { return settings_.format == log_format::json; }
  void key(std::string_view name) {
    if (json()) {
      out_.append(",\"").append(name).append("\":");
    } else {
      out_.append(" ").append(name).append("=");
    }
  }
  std::string out_;
};

void write(const std::string& line) {
  batch.text.append(line);
  if (!batch.loop || batch.text.size() >= batch_bytes) {
    batch.flush();
  } else if (!batch.flush_posted) {
    // Runs once the handlers the loop already has queued are done: the lines of one busy turn
    // leave together.
    batch.flush_posted = true;
    boost::asio::post(*batch.loop, [] { batch.flush(); });
  }
}

}  // namespace

void bind_access_log(boost::asio::io_context* loop) {
  batch.loop = loop;
}

void flush_access_log() {
  batch.flush();
}

void configure_access_log(access_log_settings s) {
  settings_ = std::move(s);
  if (settings_.sample == 0) {
    settings_.sample = 1;
  }
}

bool access_log_wanted_at_all() {
  return settings_.logger && settings_.level != spdlog::level::off &&
         settings_.logger->should_log(settings_.level);
}

bool access_log_wanted(bool always) {
  if (!access_log_wanted_at_all()) {
    return false;
  }
  if (always || settings_.sample == 1) {
    return true;
  }
  thread_local std::uint64_t seen = 0;
  return seen++ % settings_.sample == 0;
}

void log_request(const request_entry& e) {
  line_builder b("request");
  b.text("transport", e.transport);
  b.text("method", e.method);
  b.text("path", redact_target(e.target));
  b.number("status", e.status);
  b.number("bytes", e.bytes);
  b.seconds("duration_s", e.seconds);
  b.text("client", e.client);
  b.text("subject", e.subject);
  write(b.take());
}

void log_stream_end(const stream_entry& e) {
  line_builder b("stream_end");
  b.text("transport", e.transport);
  b.number("topics", e.topics);
  b.seconds("duration_s", e.seconds);
  b.number("messages", e.messages);
  b.number("bytes", e.bytes);
  b.text("reason", e.reason);
  b.text("client", e.client);
  b.text("subject", e.subject);
  write(b.take());
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& at) {
  if (at.address().is_v4()) {
    // By hand: the library's to_string allocates twice and goes through inet_ntop, per request.
    auto bytes = at.address().to_v4().to_bytes();
    char buf[24];
    char* p = buf;
    for (std::size_t i = 0; i < 4; ++i) {
      p = std::to_chars(p, buf + sizeof buf, static_cast<unsigned>(bytes[i])).ptr;
      *p++ = i < 3 ? '.' : ':';
    }
    p = std::to_chars(p, buf + sizeof buf, at.port()).ptr;
    return std::string(buf, p);
  }
  auto address = at.address().to_string();
  if (at.address().is_v6()) {
    address = "[" + address + "]";
  }
  return address + ":" + std::to_string(at.port());
}

std::string redact_target(std::string_view target) {
  if (target.size() > max_target_logged) {
    target = target.substr(0, max_target_logged);
  }
  auto q = target.find('?');
  std::string out(target.substr(0, q));
  if (q == std::string_view::npos) {
    return out;
  }
  auto query = target.substr(q + 1);
  out += '?';
  bool first = true;
  while (true) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    auto eq = part.find('=');
    if (!first) {
      out += '&';
    }
    first = false;
    if (eq == std::string_view::npos) {
      // A bare value: a name alone, unless it looks like a credential.
      out.append(credential_shaped(part) ? redacted : part);
    } else {
      auto name = part.substr(0, eq);
      auto value = part.substr(eq + 1);
      out.append(name).append("=");
      out.append(secret_name(name) || credential_shaped(value) ? redacted : value);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query = query.substr(amp + 1);
  }
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  bool utf8 = is_valid_utf8(s);
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else if (u >= 0x80 && !utf8) {
      out += "\xef\xbf\xbd";  // U+FFFD: the line stays valid JSON (and UTF-8)
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace sb::io
