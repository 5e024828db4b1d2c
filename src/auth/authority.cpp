#include "auth/authority.hpp"

#include "auth/auth_error.hpp"

namespace sb::auth {

result<std::unique_ptr<authority>> authority::create(const authority_config& config,
                                                     std::string& error) {
  std::shared_ptr<const key_set> keys;
  if (!config.jwt_secret.empty() || !config.jwt_public_key_file.empty()) {
    auto loaded = key_set::load(config.jwt_secret, config.jwt_public_key_file);
    if (!loaded) {
      error = (config.jwt_public_key_file.empty()
                   ? std::string("jwt_secret")
                   : "jwt_public_key_file " + config.jwt_public_key_file) +
              ": " + loaded.error().message();
      return errc::invalid_request;
    }
    keys = std::move(*loaded);
  }
  return std::unique_ptr<authority>(new authority(config, std::move(keys)));
}

authority::authority(authority_config config, std::shared_ptr<const key_set> keys)
    : config_(std::move(config)),
      api_keys_(config_.api_keys),
      admin_keys_(config_.admin_api_keys),
      sessions_(
          [this] {
            auto secrets = config_.admin_api_keys;
            secrets.push_back(config_.jwt_secret);
            return secrets;
          }(),
          config_.admin_session_ttl),
      verifier_(std::move(keys),
                jwt_options{config_.jwt_issuer, config_.jwt_audience, config_.jwt_leeway,
                            config_.jwt_require_exp.value_or(false)}) {}

result<identity> authority::authenticate(const credentials& c, std::string& why) {
  if (!c.ticket.empty()) {
    if (auto g = tickets_.redeem(c.ticket)) {
      return identity{std::move(*g), false, false};
    }
    why = "the ticket is unknown, used or expired";
    return errc::unauthorized;
  }
  if (!c.bearer.empty() && api_keys_.matches(c.bearer)) {
    auto g = grants::everything();
    g.admin = admin_keys_.matches(c.bearer);
    return identity{std::move(g), false, true};
  }
  if (!c.bearer.empty() && admin_keys_.matches(c.bearer)) {
    grants g;  // an operator's key: the admin endpoints, no topic
    g.admin = true;
    return identity{std::move(g), false, false};
  }
  std::string_view token = !c.bearer.empty()         ? c.bearer
                           : !c.cookie_token.empty() ? c.cookie_token
                                                     : c.query_token;
  if (token.empty()) {
    return identity{grants::anonymous(config_.anonymous_subscribe.value_or(false),
                                      config_.anonymous_publish.value_or(false)),
                    true, false};
  }
  std::string_view reason;
  auto claims = verifier_.verify(token, reason);
  if (!claims) {
    why = reason.empty() ? claims.error().message() : std::string(reason);
    return errc::unauthorized;
  }
  return identity{grants::from_claims(std::move(*claims)), false, false};
}

void authority::authenticate_later(std::string_view ticket, identity_handler done) {
  tickets_.redeem_later(ticket, [done = std::move(done)](result<grants> g) {
    if (g) {
      done(identity{std::move(*g), false, false}, {});
    } else if (g.error() == errc::unavailable) {
      done(g.error(), "tickets cannot be checked now (the ticket ledger is unreachable); retry");
    } else {
      done(g.error(), "the ticket is unknown, used or expired");
    }
  });
}

bool authority::reload(std::string& error) {
  if (config_.jwt_public_key_file.empty()) {
    return true;  // nothing read from disk
  }
  auto loaded = key_set::load(config_.jwt_secret, config_.jwt_public_key_file);
  if (!loaded) {
    error = "jwt_public_key_file " + config_.jwt_public_key_file + ": " + loaded.error().message();
    return false;
  }
  verifier_.set_keys(std::move(*loaded));
  return true;
}

}  // namespace sb::auth
