#include "core/topic_registry.hpp"

namespace sb {

topic_registry::~topic_registry() {
  for (auto& [topic, members] : topics_) {
    members.list.clear();
  }
}

void topic_registry::subscribe(subscription& s, std::string_view topic,
                               std::optional<position> since, broker::attach_handler done) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    it = topics_.emplace(std::string(topic), members{}).first;
  }
  it->second.list.push_back(s);
  ++it->second.count;
  s.topic_ = &it->first;
  attach(s, it->first, since, std::move(done));
}

void topic_registry::resume(subscription& s, std::optional<position> since,
                            broker::attach_handler done) {
  attach(s, *s.topic_, since, std::move(done));
}

void topic_registry::attach(subscription& s, std::string_view topic, std::optional<position> since,
                            broker::attach_handler done) {
  auto ticket = ++next_ticket_;
  pending_[&s] = ticket;
  broker_->attach(loop_index_, topic, since,
                  [this, key = &s, ticket, done = std::move(done)](attach_result r) {
                    auto it = pending_.find(key);
                    if (it == pending_.end() || it->second != ticket) {
                      return;  // unsubscribed meanwhile, or asked again since
                    }
                    pending_.erase(it);
                    done(std::move(r));
                  });
}

void topic_registry::unsubscribe(subscription& s) {
  if (!s.is_linked()) {
    return;
  }
  pending_.erase(&s);
  auto it = topics_.find(*s.topic_);
  it->second.list.erase(it->second.list.iterator_to(s));
  --it->second.count;
  if (it->second.list.empty()) {
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
  for (auto& s : it->second.list) {
    s.owner().on_message(s, m);
  }
}

std::size_t topic_registry::subscriber_count(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.count;
}

}  // namespace sb
