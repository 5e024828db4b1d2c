#pragma once
// Single-use subscribe tickets (`POST /v1/tickets`): a backend holding an API key mints one for a
// subject and a topic set; the browser redeems it once on `/v1/events?...&ticket=`, so no
// long-lived token travels in a URL.
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/grants.hpp"
#include "core/errc.hpp"

namespace sb::auth {

struct ticket_limits {
  std::size_t max_outstanding = 100'000;  // minting over this is refused (rate_limited)
  std::size_t max_topics = 256;           // topic patterns per ticket
  std::chrono::seconds max_ttl = std::chrono::hours(1);
};

/// Thread-safe (one mutex; minting and redeeming are rare next to deliveries). Tickets are 43
/// characters of unpadded base64url over 32 bytes from RAND_bytes; the store keeps only their
/// SHA-256, so lookups reveal nothing about live tickets through timing and a memory dump holds
/// none. Expired tickets are purged on every mint and redeem.
class ticket_store {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  explicit ticket_store(ticket_limits limits = {}, clock_fn clock = {});

  /// A new ticket granting subscribe on `topics` (names or patterns) to `subject` for `ttl`.
  /// Errors: invalid_topic (a bad pattern), invalid_request (no topics, too many, ttl <= 0 or over
  /// max_ttl), rate_limited (max_outstanding unexpired tickets), unavailable (no randomness).
  result<std::string> mint(std::string subject, std::vector<std::string> topics,
                           std::chrono::seconds ttl);

  /// The ticket's grants (subject, subscribe = its topics, no publish), exactly once and only
  /// before it expires; nullopt otherwise.
  std::optional<grants> redeem(std::string_view ticket);

  /// Unredeemed tickets held, expired ones purged first.
  std::size_t outstanding();

 private:
  using time_point = std::chrono::steady_clock::time_point;
  using digest = std::string;  // 32 raw bytes of SHA-256

  struct digest_hash {
    std::size_t operator()(const digest& d) const noexcept;  // the digest is already uniform
  };
  struct entry {
    time_point expires;
    std::string subject;
    std::vector<std::string> topics;
  };

  time_point now() const { return clock_ ? clock_() : std::chrono::steady_clock::now(); }
  void purge_locked(time_point now);

  ticket_limits limits_;
  clock_fn clock_;
  std::mutex mutex_;
  std::unordered_map<digest, entry, digest_hash> tickets_;
  std::set<std::pair<time_point, digest>> by_expiry_;  // same entries, oldest expiry first
};

}  // namespace sb::auth
