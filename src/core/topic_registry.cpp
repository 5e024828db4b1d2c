#include "core/topic_registry.hpp"

namespace sb {

topic_registry::~topic_registry() {
  for (auto& [topic, members] : topics_) {
    members.clear();
  }
}

void topic_registry::subscribe(subscription& s, std::string_view topic,
                               std::optional<position> since, broker::attach_handler done) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    it = topics_.emplace(std::string(topic), member_list{}).first;
  }
  it->second.push_back(s);
  s.topic_ = &it->first;
  attach(s, it->first, since, std::move(done));
}

void topic_registry::resume(subscription& s, std::optional<position> since,
                            broker::attach_handler done) {
  attach(s, *s.topic_, since, std::move(done));
}

void topic_registry::attach(subscription& s, std::string_view topic, std::optional<position> since,
                            broker::attach_handler done) {
  auto token = ++next_token_;
  attaching_[&s] = pending_attach{token, {}};
  broker_->attach(loop_index_, topic, since,
                  [this, sp = &s, token, done = std::move(done)](attach_result r) {
                    auto it = attaching_.find(sp);
                    if (it == attaching_.end() || it->second.token != token) {
                      done(std::move(r));  // unsubscribed, or asked again: the caller's guard
                      return;
                    }
                    auto held = std::move(it->second.held);
                    attaching_.erase(it);
                    done(std::move(r));
                    if (held.empty()) {
                      return;
                    }
                    // `done` may have ended the subscription: hand over only if still linked.
                    auto t = topics_.find(std::string_view(held.front()->topic));
                    if (t == topics_.end()) {
                      return;
                    }
                    for (auto& member : t->second) {
                      if (&member == sp) {
                        for (const auto& m : held) {
                          sp->owner().on_message(*sp, m);
                        }
                        break;
                      }
                    }
                  });
}

void topic_registry::unsubscribe(subscription& s) {
  if (!s.is_linked()) {
    return;
  }
  attaching_.erase(&s);
  auto it = topics_.find(*s.topic_);
  it->second.erase(it->second.iterator_to(s));
  if (it->second.empty()) {
    broker_->detach(loop_index_, it->first);
    topics_.erase(it);
  }
  s.topic_ = nullptr;
}

void topic_registry::dispatch(const message_ptr& m) {
  auto it = topics_.find(std::string_view(m->topic));
  if (it == topics_.end()) {
    return;
  }
  for (auto& s : it->second) {
    if (!attaching_.empty()) {
      if (auto a = attaching_.find(&s); a != attaching_.end()) {
        a->second.held.push_back(m);
        continue;
      }
    }
    s.owner().on_message(s, m);
  }
}

std::size_t topic_registry::subscriber_count(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end()
             ? 0
             : static_cast<std::size_t>(std::distance(it->second.begin(), it->second.end()));
}

}  // namespace sb
