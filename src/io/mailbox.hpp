#pragma once
// A loop's inbox for work from other threads (STYLE.md habit 5: cross threads by posting). Items
// posted from any thread are handed to the loop's thread in the order they were posted, and one
// post to the loop carries everything that arrived since the last one: under load, a hand-off per
// loop per burst, not per item.
//
// Why not a plain post per item: Asio defers a post made from the loop's own thread until its
// current handler returns, so an item posted by another thread meanwhile would overtake it, and
// messages of a topic must reach a loop in seq order.
#include <boost/asio/post.hpp>
#include <functional>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

#include "io/loop.hpp"

namespace sb::io {

template <class T>
class mailbox {
 public:
  /// `on_item` runs on `owner`'s thread, once per item, in posting order. Both outlive the box.
  mailbox(loop& owner, std::function<void(T&)> on_item)
      : owner_(owner), on_item_(std::move(on_item)) {}
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  /// From any thread: every item of `items` (left empty), in order, with one hand-off.
  void post_all(std::vector<T>& items) {
    if (items.empty()) {
      return;
    }
    bool schedule = false;
    {
      std::lock_guard lock(mutex_);
      if (items_.empty()) {
        items_.swap(items);
      } else {
        items_.insert(items_.end(), std::make_move_iterator(items.begin()),
                      std::make_move_iterator(items.end()));
      }
      schedule = !scheduled_;
      scheduled_ = true;
    }
    items.clear();
    if (schedule) {
      boost::asio::post(owner_.context(), [this] { drain(); });
    }
  }

  /// From any thread.
  void post(T item) {
    bool schedule = false;
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
      schedule = !scheduled_;
      scheduled_ = true;
    }
    if (schedule) {
      boost::asio::post(owner_.context(), [this] { drain(); });
    }
  }

 private:
  void drain() {
    std::vector<T> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(items_);
      scheduled_ = false;
    }
    for (auto& item : batch) {
      on_item_(item);
    }
  }

  loop& owner_;
  std::function<void(T&)> on_item_;
  std::mutex mutex_;
  std::vector<T> items_;
  bool scheduled_ = false;
};

}  // namespace sb::io
