#include "ws/extension.hpp"

#include <algorithm>
#include <vector>

#include "core/ascii.hpp"

namespace sb::ws {
namespace {

/// Splits `s` at `sep` outside quoted strings. A quote left open makes the last piece hold the
/// rest, which then fails to parse as a parameter (and its offer is declined).
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == sep) {
      out.push_back(trim_ows(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim_ows(s.substr(start)));
  return out;
}

bool is_token(std::string_view s) {
  // RFC 7230 tchar
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

/// A parameter's value: a token, or a quoted string holding one (RFC 7692 §7.1: the value
/// must conform to the token rule either way). nullopt: malformed.
std::optional<std::string> param_value(std::string_view raw) {
  raw = trim_ows(raw);
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
      if (raw[i] == '\\') {
        if (++i + 1 >= raw.size()) {
          return std::nullopt;
        }
      }
      out.push_back(raw[i]);
    }
    return is_token(out) ? std::optional<std::string>(std::move(out)) : std::nullopt;
  }
  return is_token(raw) ? std::optional<std::string>(raw) : std::nullopt;
}

/// 8..15 written without a sign or a leading zero (RFC 7692 §7.1.2.1).
std::optional<std::uint8_t> window_bits(std::string_view v) {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') {
    return static_cast<std::uint8_t>(v[0] - '0');
  }
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') {
    return static_cast<std::uint8_t>(10 + v[1] - '0');
  }
  return std::nullopt;
}

/// One offer (its parameters after the extension name), or nullopt when we decline it.
std::optional<deflate_params> accept_offer(std::span<const std::string_view> params,
                                           const deflate_settings& s) {
  deflate_params p;
  bool seen_server_nct = false, seen_client_nct = false, seen_server_bits = false,
       seen_client_bits = false;
  std::optional<std::uint8_t> client_bits;
  for (auto param : params) {
    auto eq = param.find('=');
    auto name = trim_ows(param.substr(0, eq));
    std::optional<std::string> value;
    if (eq != std::string_view::npos) {
      value = param_value(param.substr(eq + 1));
      if (!value) {
        return std::nullopt;
      }
    }
    auto once = [](bool& seen) {
      bool first = !seen;
      seen = true;
      return first;
    };
    if (ascii_iequals(name, "server_no_context_takeover")) {
      if (value || !once(seen_server_nct)) {
        return std::nullopt;
      }
    } else if (ascii_iequals(name, "client_no_context_takeover")) {
      if (value || !once(seen_client_nct)) {
        return std::nullopt;
      }
      p.client_no_context_takeover = true;
    } else if (ascii_iequals(name, "server_max_window_bits")) {
      if (!value || !once(seen_server_bits)) {
        return std::nullopt;
      }
      auto bits = window_bits(*value);
      if (!bits || *bits < 15) {
        return std::nullopt;  // valid, but we compress with 15 (see the header)
      }
      p.answer_server_window = true;
    } else if (ascii_iequals(name, "client_max_window_bits")) {
      if (!once(seen_client_bits)) {
        return std::nullopt;
      }
      if (value) {
        client_bits = window_bits(*value);
        if (!client_bits) {
          return std::nullopt;
        }
      }
      p.answer_client_window = true;
    } else {
      return std::nullopt;
    }
  }
  if (p.answer_client_window) {
    // The client lets us choose up to its value (15 when it gave none).
    p.client_window_bits = static_cast<std::uint8_t>(std::clamp<unsigned>(
        std::min<unsigned>(client_bits.value_or(15), s.client_window_bits), 8, 15));
  }
  if (!s.client_context_takeover) {
    // RFC 7692 §7.1.1.2: a server may ask for it even when the client did not offer it.
    p.client_no_context_takeover = true;
  }
  return p;
}

}  // namespace

std::optional<deflate_params> negotiate_deflate(std::span<const std::string_view> header_values,
                                                const deflate_settings& s) {
  if (!s.enabled) {
    return std::nullopt;
  }
  for (auto header : header_values) {
    for (auto extension : split(header, ',')) {
      auto parts = split(extension, ';');
      if (!ascii_iequals(parts.front(), "permessage-deflate")) {
        continue;
      }
      if (auto p = accept_offer(std::span(parts).subspan(1), s)) {
        return p;
      }
    }
  }
  return std::nullopt;
}

std::string deflate_response(const deflate_params& p) {
  std::string out = "permessage-deflate; server_no_context_takeover";
  if (p.client_no_context_takeover) {
    out += "; client_no_context_takeover";
  }
  if (p.answer_server_window) {
    out += "; server_max_window_bits=15";
  }
  if (p.answer_client_window) {
    out += "; client_max_window_bits=" + std::to_string(p.client_window_bits);
  }
  return out;
}

}  // namespace sb::ws
