#pragma once
// Who is asking, and what they may do: the one place that turns the credentials a request carries
// into grants. Protocol layers only extract credentials (header, cookie, query) and ask.
//   1. a subscribe ticket (?ticket=): redeemed once (with a shared ticket ledger, asynchronously:
//      authenticates_later / authenticate_later);
//   2. Authorization: Bearer: a configured API key or admin key (matched in constant time before
//      any JWT parsing), else a JWT;
//   3. the configured cookie, then ?access_token=: a JWT;
//   4. nothing: anonymous, as the config allows.
// Thread-safe; keys are swapped atomically on reload (SIGHUP) without touching connections.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/admin_sessions.hpp"
#include "auth/api_keys.hpp"
#include "auth/grants.hpp"
#include "auth/jwt.hpp"
#include "auth/tickets.hpp"
#include "core/errc.hpp"

namespace sb::auth {

/// The auth settings (jwt_*, api_keys, auth_cookie, allow_anonymous_*, ticket_ttl_s). The three
/// optional switches are left unset by a config that does not name them; resolved() decides them.
struct authority_config {
  std::string jwt_secret;
  std::string jwt_public_key_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::vector<std::string> api_keys;
  std::vector<std::string> admin_api_keys;  // Bearer keys for the admin endpoints (and only them)
  std::chrono::seconds admin_session_ttl{8 * 3600};
  std::optional<bool> anonymous_subscribe;  // unset: as resolved(); false in the authority
  std::optional<bool> anonymous_publish;
  std::chrono::seconds ticket_ttl{30};
  std::optional<bool> jwt_require_exp;       // a JWT without `exp` is refused (unset: false)
  std::chrono::seconds jwt_leeway{60};       // clock skew allowed on `exp` and `nbf`
  std::string cookie = "switchboard_token";  // the cookie that may carry a JWT (read by http)

  /// True when any credential is configured (then anonymous access is off unless allowed).
  bool configured() const {
    return !jwt_secret.empty() || !jwt_public_key_file.empty() || !api_keys.empty();
  }

  /// The switches decided: anonymous access only in dev mode while no credential is configured,
  /// and `exp` required outside dev mode, unless the config says otherwise.
  authority_config resolved(bool dev) const {
    auto out = *this;
    bool implicit_anonymous = dev && !configured();
    out.anonymous_subscribe = anonymous_subscribe.value_or(implicit_anonymous);
    out.anonymous_publish = anonymous_publish.value_or(implicit_anonymous);
    out.jwt_require_exp = jwt_require_exp.value_or(!dev);
    return out;
  }
};

/// What a request presented. Views into the request; empty when absent.
struct credentials {
  std::string_view bearer;
  std::string_view cookie_token;
  std::string_view query_token;
  std::string_view ticket;
  bool any() const {
    return !bearer.empty() || !cookie_token.empty() || !query_token.empty() || !ticket.empty();
  }
};

struct identity {
  auth::grants grants;
  bool anonymous = false;  // no credentials: a refusal is 401, not 403
  bool api_key = false;    // a backend: may mint tickets
};

class authority {
 public:
  /// Loads keys; an error names what is wrong with the configuration (startup only).
  static result<std::unique_ptr<authority>> create(const authority_config& config,
                                                   std::string& error);

  /// The identity behind `c`; errc::unauthorized (with `why`) when credentials were presented and
  /// do not hold. Never puts a credential in `why`.
  result<identity> authenticate(const credentials& c, std::string& why);

  /// Whether authenticating `c` takes a round trip: a well-formed ticket while tickets live in a
  /// ledger shared by the nodes (broker = redis). Then authenticate_later() answers, not
  /// authenticate() (which refuses a malformed ticket at once, without asking the ledger).
  bool authenticates_later(const credentials& c) const {
    return !c.ticket.empty() && tickets_.shared() && ticket_store::well_formed(c.ticket);
  }
  /// The identity behind `ticket`, redeemed in the shared ledger: `done` runs later on the calling
  /// loop with it, or with errc::unauthorized (unknown, used, expired) or errc::unavailable (the
  /// ledger cannot be reached: the ticket may be fine), and a `why` that names no credential.
  using identity_handler = std::function<void(result<identity>, std::string why)>;
  void authenticate_later(std::string_view ticket, identity_handler done);

  /// The status a refused operation gets: 401 for anonymous callers, 403 for known ones.
  static errc refusal(const identity& who) {
    return who.anonymous ? errc::unauthorized : errc::forbidden;
  }

  /// Admin rights come from an admin key, a JWT with `switchboard.admin: true`, or an admin
  /// session cookie (never from anonymity, dev mode included).
  const admin_sessions& sessions() const { return sessions_; }
  bool admin_configured() const {
    return !admin_keys_.empty() || !config_.jwt_secret.empty() ||
           !config_.jwt_public_key_file.empty();
  }

  ticket_store& tickets() { return tickets_; }
  std::chrono::seconds ticket_ttl() const { return config_.ticket_ttl; }
  /// The cookie that may carry a JWT (auth_cookie).
  const std::string& cookie() const { return config_.cookie; }

  /// Re-reads the public key file and swaps the keys in; false (with `error`) keeps the old ones.
  bool reload(std::string& error);

 private:
  explicit authority(authority_config config, std::shared_ptr<const key_set> keys);

  authority_config config_;
  api_key_set api_keys_;
  api_key_set admin_keys_;
  admin_sessions sessions_;
  jwt_verifier verifier_;
  ticket_store tickets_;
};

}  // namespace sb::auth
