#include "http/api/tickets.hpp"

#include <boost/json.hpp>

namespace sb::http::api {

void mint_ticket(const request& req, loop_services& ctx, respond_fn done) {
  if (!req.who.api_key) {
    done(req.who.anonymous
             ? refusal(req.who, {})
             : response::error(errc::forbidden, "tickets are minted with an API key"));
    return;
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(req.body, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  const auto* topics = o ? o->if_contains("topics") : nullptr;
  if (!o || !topics || !topics->is_array()) {
    done(response::error(errc::invalid_request,
                         "body must be {\"subject\",\"topics\":[…],\"ttl_s\"?}"));
    return;
  }
  std::string subject;
  if (const auto* s = o->if_contains("subject"); s && s->is_string()) {
    subject = s->as_string();
  }
  std::vector<std::string> names;
  for (const auto& t : topics->as_array()) {
    if (!t.is_string()) {
      done(response::error(errc::invalid_request, "\"topics\" must hold strings"));
      return;
    }
    names.emplace_back(t.as_string());
  }
  auto ttl = ctx.shared.auth->ticket_ttl();
  if (const auto* t = o->if_contains("ttl_s"); t && !t->is_null()) {
    if (!t->is_int64() || t->as_int64() <= 0) {
      done(response::error(errc::invalid_request, "\"ttl_s\" must be a positive whole number"));
      return;
    }
    ttl = std::chrono::seconds(t->as_int64());
  }
  // In memory the answer comes within this call; with the shared ledger (broker = redis), once
  // Redis stored the ticket: 503 with Retry-After when it could not.
  ctx.shared.auth->tickets().mint(
      std::move(subject), std::move(names), ttl,
      [ttl, done = std::move(done)](result<std::string> ticket) {
        if (!ticket) {
          auto e = ticket.error().category() == switchboard_category()
                       ? static_cast<errc>(ticket.error().value())
                       : errc::invalid_request;
          auto detail = e == errc::unavailable
                            ? std::string("the ticket could not be stored; retry")
                            : ticket.error().message();
          done(response::error(e, detail));
          return;
        }
        boost::json::object out{{"ticket", *ticket}, {"expires_in", ttl.count()}};
        auto r = response::json(201, boost::json::serialize(out));
        r.headers.emplace_back("Cache-Control", "no-store");
        done(std::move(r));
      });
}

}  // namespace sb::http::api
