#pragma once
// One loop's view of who is subscribed to what. Lives on its loop's thread and is never locked.
// Membership lists are intrusive: a subscription is linked and unlinked in O(1) with no
// allocation, and a message reaches a topic's local subscribers by walking one list.
#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/broker.hpp"

namespace sb {

class subscription;

/// Whatever holds subscriptions (an SSE stream, a WebSocket session).
class subscriber {
 public:
  /// A message of `s`'s topic reached this loop. It may be one the subscriber already has (the
  /// subscriber skips by seq). Must not subscribe or unsubscribe during the call: mark, then act
  /// after the turn.
  virtual void on_message(subscription& s, const message_ptr& m) = 0;

 protected:
  ~subscriber() = default;
};

class subscription : public boost::intrusive::list_base_hook<> {
 public:
  explicit subscription(subscriber& owner) : owner_(&owner) {}
  /// For arrays of subscriptions: the owner is set before subscribing.
  subscription() = default;
  void set_owner(subscriber& owner) { owner_ = &owner; }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  ~subscription() = default;

  subscriber& owner() const { return *owner_; }
  /// The topic name; valid while subscribed.
  const std::string& topic() const { return *topic_; }
  bool subscribed() const { return is_linked(); }

  /// The last position this subscriber has (delivered or queued); kept by the subscriber.
  position at;

 private:
  friend class topic_registry;
  subscriber* owner_ = nullptr;
  const std::string* topic_ = nullptr;
};

class topic_registry {
 public:
  topic_registry(broker& b, std::size_t loop_index) : broker_(&b), loop_index_(loop_index) {}
  topic_registry(const topic_registry&) = delete;
  topic_registry& operator=(const topic_registry&) = delete;
  ~topic_registry();

  /// Links `s` to `topic` on this loop, then asks the broker what a reader at `since` missed.
  /// Messages may reach `s` through `on_message` before `done` runs (asynchronous brokers).
  /// `done` runs only while `s` is still subscribed and this is its latest attach: an answer that
  /// arrives after unsubscribe() (the stream closed meanwhile) or after another resume() is
  /// dropped here, so `done` may capture `s` and its owner.
  void subscribe(subscription& s, std::string_view topic, std::optional<position> since,
                 broker::attach_handler done);

  /// For a subscription linked already: asks the broker again what a reader at `since` missed
  /// (the same guarantee for `done`).
  void resume(subscription& s, std::optional<position> since, broker::attach_handler done);

  /// Unlinks `s`; the loop detaches from the topic when `s` was its last local subscriber.
  void unsubscribe(subscription& s);

  /// Hands `m` to every local subscriber of its topic.
  void dispatch(const message_ptr& m);

  std::size_t topic_count() const { return topics_.size(); }
  /// Local subscribers of `topic`: O(1), kept as they come and go (the admin listing reads it).
  std::size_t subscriber_count(std::string_view topic) const;
  /// Calls `f(topic, local subscribers)` for every topic with a local subscriber.
  template <class F>
  void for_each_topic(F&& f) const {
    for (const auto& [name, members] : topics_) {
      f(std::string_view(name), members.count);
    }
  }
  /// Attaches asked and not answered yet.
  std::size_t pending_attaches() const { return pending_.size(); }

 private:
  void attach(subscription& s, std::string_view topic, std::optional<position> since,
              broker::attach_handler done);

  using member_list =
      boost::intrusive::list<subscription, boost::intrusive::constant_time_size<false>>;
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct members {
    member_list list;
    std::size_t count = 0;  // the list's size (the list does not keep one, to stay small)
  };
  std::unordered_map<std::string, members, string_hash, std::equal_to<>> topics_;
  /// The attaches not answered yet, by subscription, each with the ticket of its latest ask. The
  /// answer carries its ticket and the subscription's address, never touched unless it is here.
  std::unordered_map<const subscription*, std::uint64_t> pending_;
  std::uint64_t next_ticket_ = 0;
  broker* broker_;
  std::size_t loop_index_;
};

}  // namespace sb
