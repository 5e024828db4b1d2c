#pragma once
// The opening handshake (RFC 6455 §4.2): checks an upgrade request and writes the 101 answer.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ws/extension.hpp"

namespace sb::ws {

inline constexpr std::string_view subprotocol = "switchboard.v1";

struct handshake_verdict {
  unsigned status = 101;                  // 101, or the status that refuses the upgrade
  std::string detail;                     // why it was refused
  std::string accept;                     // Sec-WebSocket-Accept, when accepted
  std::optional<deflate_params> deflate;  // permessage-deflate, when offered and accepted
};

/// Checks method, Upgrade/Connection tokens, version 13, the key, and that the client offers
/// `switchboard.v1` (refused with 400 and a message naming it otherwise; 426 for another version).
/// Negotiates permessage-deflate from every Sec-WebSocket-Extensions header (declining never
/// refuses the upgrade: the connection is then uncompressed).
handshake_verdict check_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& req,
    const deflate_settings& deflate = {});

/// base64(SHA-1(key + RFC 6455 GUID)).
std::string accept_key(std::string_view client_key);

/// The 101 response that switches the connection to WebSocket with our subprotocol (and the
/// extension, when negotiated).
std::string switching_response(std::string_view accept,
                               const std::optional<deflate_params>& deflate = std::nullopt);

}  // namespace sb::ws
