#pragma once
// The opening handshake (RFC 6455 §4.2): checks an upgrade request and writes the 101 answer; and
// its HTTP/2 form (RFC 8441 §5), an extended CONNECT answered 200.
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ws/extension.hpp"

namespace sb::ws {

inline constexpr std::string_view subprotocol = "switchboard.v1";

struct handshake_verdict {
  unsigned status = 101;  // 101 (200 over HTTP/2), or the status that refuses the upgrade
  std::string detail;     // why it was refused
  std::string accept;     // Sec-WebSocket-Accept, when accepted
  std::optional<deflate_params> deflate;  // permessage-deflate, when offered and accepted
};

/// Checks method, Upgrade/Connection tokens, version 13, the key, and that the client offers
/// `switchboard.v1` (refused with 400 and a message naming it otherwise; 426 for another version).
/// Negotiates permessage-deflate from every Sec-WebSocket-Extensions header (declining never
/// refuses the upgrade: the connection is then uncompressed).
handshake_verdict check_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& req,
    const deflate_settings& deflate = {});

/// The JSON body of a refused handshake (either form): {"error":"websocket_handshake","message":…}.
std::string refusal_body(const handshake_verdict& refused);

/// base64(SHA-1(key + RFC 6455 GUID)).
std::string accept_key(std::string_view client_key);

/// The 101 response that switches the connection to WebSocket with our subprotocol (and the
/// extension, when negotiated).
std::string switching_response(std::string_view accept,
                               const std::optional<deflate_params>& deflate = std::nullopt);

/// RFC 8441: a WebSocket on an HTTP/2 stream is a CONNECT with `:protocol` websocket; it carries
/// no Upgrade, Connection or key, and is accepted with a 200 (no Sec-WebSocket-Accept). Checks
/// that, then version 13 and the offered subprotocol as check_upgrade does (same statuses: 426
/// for a request that is not a WebSocket one or another version, 400 without switchboard.v1).
handshake_verdict check_connect(std::string_view method, std::string_view protocol,
                                const boost::beast::http::fields& headers);

}  // namespace sb::ws
