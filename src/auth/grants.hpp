#pragma once
// What an authenticated (or anonymous) client may do: topic patterns for subscribe and publish,
// matched with core/topic_pattern.hpp (`*` one segment, `**` the rest).
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.hpp"

namespace sb::auth {

struct grants {
  std::string subject;                 // JWT `sub`, ticket subject; empty for API keys/anonymous
  std::vector<std::string> subscribe;  // topic patterns
  std::vector<std::string> publish;    // topic patterns
  bool all = false;                    // API key, or anonymous in dev mode: every topic, both ways
  bool admin = false;  // admin endpoints (/admin, /v1/topics, /v1/admin/*): an admin key or claim

  /// True when `topic` may be subscribed to: `all`, or a `subscribe` pattern matches it.
  bool can_subscribe(std::string_view topic) const noexcept;
  /// True when `topic` may be published to: `all`, or a `publish` pattern matches it.
  bool can_publish(std::string_view topic) const noexcept;

  /// A verified token's grants.
  static grants from_claims(claims c);
  /// Everything (a configured API key).
  static grants everything();
  /// Anonymous access as allowed by `allow_anonymous_subscribe` / `allow_anonymous_publish`.
  static grants anonymous(bool subscribe, bool publish);
};

}  // namespace sb::auth
