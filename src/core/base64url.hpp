#pragma once
// Unpadded base64url (RFC 4648 §5). Hand-written because the Debian Boost only has it in a
// `detail` namespace and OpenSSL's EVP_EncodeBlock is padded, non-URL-safe and not sans-I/O.
#include <optional>
#include <string>
#include <string_view>

namespace sb {

void append_base64url(std::string& out, std::string_view bytes);

/// nullopt when `text` holds a character outside the alphabet or has an impossible length.
std::optional<std::string> decode_base64url(std::string_view text);

}  // namespace sb
