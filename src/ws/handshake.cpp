#include "ws/handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

#include "core/ascii.hpp"

namespace sb::ws {
namespace {

namespace bhttp = boost::beast::http;

/// True when the comma-separated header list `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (ascii_iequals(trim_ows(list.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view value(const bhttp::fields& req, bhttp::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

/// What both handshakes ask of the client (RFC 6455 §4.2.1, RFC 8441 §5): version 13, and the
/// subprotocol among those it offers. Status 101 when both hold.
handshake_verdict check_offer(const bhttp::fields& req) {
  if (value(req, bhttp::field::sec_websocket_version) != "13") {
    return {426, "Sec-WebSocket-Version must be 13", {}};
  }
  // Every Sec-WebSocket-Protocol header counts; the client lists what it speaks.
  bool offered = false;
  auto [first, last] = req.equal_range(bhttp::field::sec_websocket_protocol);
  for (auto it = first; it != last; ++it) {
    offered = offered || has_token(it->value(), subprotocol);
  }
  if (!offered) {
    return {
        400, "offer the subprotocol switchboard.v1 (Sec-WebSocket-Protocol: switchboard.v1)", {}};
  }
  return {101, {}, {}};
}

}  // namespace

handshake_verdict check_upgrade(const bhttp::request<bhttp::string_body>& req,
                                const deflate_settings& deflate) {
  if (req.method() != bhttp::verb::get) {
    return {405, "a WebSocket upgrade is a GET", {}};
  }
  if (!has_token(value(req, bhttp::field::upgrade), "websocket") ||
      !has_token(value(req, bhttp::field::connection), "upgrade")) {
    return {
        426, "this endpoint speaks WebSocket: send Upgrade: websocket and Connection: Upgrade", {}};
  }
  if (auto refused = check_offer(req); refused.status != 101) {
    return refused;
  }
  auto key = value(req, bhttp::field::sec_websocket_key);
  if (key.size() != 24) {  // base64 of 16 bytes
    return {400, "Sec-WebSocket-Key must be base64 of 16 bytes", {}};
  }
  handshake_verdict ok{101, {}, accept_key(key), std::nullopt};
  if (deflate.enabled) {
    std::vector<std::string_view> offers;
    auto [efirst, elast] = req.equal_range(bhttp::field::sec_websocket_extensions);
    for (auto it = efirst; it != elast; ++it) {
      offers.emplace_back(it->value());
    }
    ok.deflate = negotiate_deflate(offers, deflate);
  }
  return ok;
}

std::string refusal_body(const handshake_verdict& refused) {
  return boost::json::serialize(
      boost::json::object{{"error", "websocket_handshake"}, {"message", refused.detail}});
}

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  auto n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(n));
}

std::string switching_response(std::string_view accept,
                               const std::optional<deflate_params>& deflate) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
      "Upgrade\r\nSec-WebSocket-Accept: ";
  out.append(accept);
  out.append("\r\nSec-WebSocket-Protocol: ").append(subprotocol).append("\r\n");
  if (deflate) {
    out.append("Sec-WebSocket-Extensions: ").append(deflate_response(*deflate)).append("\r\n");
  }
  out.append("\r\n");
  return out;
}

handshake_verdict check_connect(std::string_view method, std::string_view protocol,
                                const bhttp::fields& headers) {
  if (method != "CONNECT" || !ascii_iequals(protocol, "websocket")) {
    return {426,
            "over HTTP/2 this endpoint speaks WebSocket: send an extended CONNECT with :protocol "
            "websocket (RFC 8441)",
            {}};
  }
  if (auto refused = check_offer(headers); refused.status != 101) {
    return refused;
  }
  return {200, {}, {}};
}

}  // namespace sb::ws
