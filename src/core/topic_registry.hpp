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
#include <vector>

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
  /// Messages never reach `s` before `done` has run: with an asynchronous broker those that
  /// arrive first are held and handed to `s` right after `done` (they may repeat what `done`
  /// brought; the subscriber skips by seq).
  void subscribe(subscription& s, std::string_view topic, std::optional<position> since,
                 broker::attach_handler done);

  /// For a subscription linked already: asks the broker again what a reader at `since` missed.
  void resume(subscription& s, std::optional<position> since, broker::attach_handler done);

  /// Unlinks `s`; the loop detaches from the topic when `s` was its last local subscriber.
  void unsubscribe(subscription& s);

  /// Hands `m` to every local subscriber of its topic.
  void dispatch(const message_ptr& m);

  std::size_t topic_count() const { return topics_.size(); }
  std::size_t subscriber_count(std::string_view topic) const;

 private:
  using member_list =
      boost::intrusive::list<subscription, boost::intrusive::constant_time_size<false>>;
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  /// Asks the broker, holding what reaches `s` until the answer is in.
  void attach(subscription& s, std::string_view topic, std::optional<position> since,
              broker::attach_handler done);

  struct pending_attach {
    std::uint64_t token = 0;  // which attach (a subscription may ask again before an answer)
    std::vector<message_ptr> held;
  };

  std::unordered_map<std::string, member_list, string_hash, std::equal_to<>> topics_;
  /// Subscriptions whose attach is not answered yet: a live message must not reach one before it
  /// knows where it stands (it would take the message for news, then get it again as missed).
  std::unordered_map<const subscription*, pending_attach> attaching_;
  std::uint64_t next_token_ = 0;
  broker* broker_;
  std::size_t loop_index_;
};

}  // namespace sb
