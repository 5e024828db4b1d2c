#pragma once
// Single-use subscribe tickets (`POST /v1/tickets`): a backend holding an API key mints one for a
// subject and a topic set; the browser redeems it once on `/v1/events?...&ticket=`, so no
// long-lived token travels in a URL.
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
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

class ticket_ledger;

/// The record a shared ledger keeps for a ticket (JSON {"s":subject,"t":[topics]}), and back:
/// nullopt when it is not one (or names an invalid pattern).
std::string encode_ticket_record(std::string_view subject, const std::vector<std::string>& topics);
std::optional<grants> decode_ticket_record(std::string_view record);

/// Thread-safe (one mutex; minting and redeeming are rare next to deliveries). Tickets are 43
/// characters of unpadded base64url over 32 bytes from RAND_bytes; the store keeps only their
/// SHA-256, so lookups reveal nothing about live tickets through timing and a memory dump holds
/// none. Expired tickets are purged on every mint and redeem.
///
/// Tickets live in this process's memory (one node), or, once set_ledger() is called, in a
/// ledger every node shares (broker = redis): then minting and redeeming take a round trip, and
/// the ledger alone decides which single redeem gets a ticket.
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

  /// Unredeemed tickets held, expired ones purged first. With a shared ledger: the tickets this
  /// node minted (or is minting) that have not expired, redeemed or not.
  std::size_t outstanding();

  /// From now on tickets live in `ledger`, shared by every node, not in this process's memory.
  /// Startup only, before the first mint; `ledger` outlives the store.
  void set_ledger(ticket_ledger* ledger) { ledger_ = ledger; }
  /// Whether tickets live in a shared ledger (then redeeming is redeem_later()).
  bool shared() const { return ledger_ != nullptr; }
  /// Whether `ticket` has the shape of one (a redeem may find it); anything else is refused
  /// without asking the ledger.
  static bool well_formed(std::string_view ticket);

  using mint_handler = std::function<void(result<std::string>)>;
  /// mint(), answered through `done`: inside this call in memory; with a shared ledger, later on
  /// the calling loop, once the ledger stored the ticket (errc::unavailable when it could not).
  /// There max_outstanding bounds what this node's clients make the ledger hold: each node counts
  /// the tickets it minted until they expire (a redeem on another node is not seen here).
  void mint(std::string subject, std::vector<std::string> topics, std::chrono::seconds ttl,
            mint_handler done);

  using redeem_handler = std::function<void(result<grants>)>;
  /// redeem() against the shared ledger (only when shared() and well_formed(ticket)): `done` runs
  /// later on the calling loop with the grants, exactly once across all nodes for a ticket;
  /// errc::unauthorized for a ticket unknown, used or expired; errc::unavailable when the ledger
  /// cannot tell.
  void redeem_later(std::string_view ticket, redeem_handler done);

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

  /// A checked request's ticket and the SHA-256 it is kept under.
  struct fresh {
    std::string ticket;
    digest key;
  };
  result<fresh> prepare(const std::vector<std::string>& topics, std::chrono::seconds ttl) const;
  time_point now() const { return clock_ ? clock_() : std::chrono::steady_clock::now(); }
  void purge_locked(time_point now);

  ticket_limits limits_;
  clock_fn clock_;
  std::mutex mutex_;
  std::unordered_map<digest, entry, digest_hash> tickets_;
  std::set<std::pair<time_point, digest>> by_expiry_;  // same entries, oldest expiry first
  ticket_ledger* ledger_ = nullptr;
  // With a ledger: when each ticket this node minted expires (soonest on top), and the mints
  // waiting for the ledger; together they are what max_outstanding bounds.
  std::priority_queue<time_point, std::vector<time_point>, std::greater<>> minted_;
  std::size_t minting_ = 0;
};

}  // namespace sb::auth
