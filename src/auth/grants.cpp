#include "auth/grants.hpp"

#include <algorithm>

#include "core/topic_pattern.hpp"

namespace sb::auth {
namespace {

bool any_matches(const std::vector<std::string>& patterns, std::string_view topic) noexcept {
  return std::any_of(patterns.begin(), patterns.end(),
                     [topic](const std::string& p) { return topic_matches(p, topic); });
}

}  // namespace

bool grants::can_subscribe(std::string_view topic) const noexcept {
  return all || any_matches(subscribe, topic);
}

bool grants::can_publish(std::string_view topic) const noexcept {
  return all || any_matches(publish, topic);
}

grants grants::from_claims(claims c) {
  grants g;
  g.subject = std::move(c.subject);
  g.subscribe = std::move(c.subscribe);
  g.publish = std::move(c.publish);
  g.admin = c.admin;
  return g;
}

grants grants::everything() {
  grants g;
  g.all = true;
  return g;
}

grants grants::anonymous(bool subscribe, bool publish) {
  if (subscribe && publish) {
    return everything();
  }
  grants g;
  if (subscribe) {
    g.subscribe.emplace_back("**");
  }
  if (publish) {
    g.publish.emplace_back("**");
  }
  return g;
}

}  // namespace sb::auth
