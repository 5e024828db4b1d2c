#include "io/mailbox.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "io/loop.hpp"

namespace sb::io {
namespace {

// Items reach the loop in posting order, and a burst costs one post to the loop.
TEST(Mailbox, DeliversInPostingOrderOnePostPerBurst) {
  loop l(0, std::chrono::milliseconds(10));
  std::vector<int> got;
  mailbox<int> box(l, [&](int& v) { got.push_back(v); });
  for (int i = 0; i < 100; ++i) {
    box.post(i);
  }
  EXPECT_TRUE(got.empty());  // nothing runs until the loop turns
  auto handlers = l.context().poll();
  EXPECT_EQ(handlers, 1u);
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[i], i);
  }
  box.post(100);
  l.context().restart();
  EXPECT_EQ(l.context().poll(), 1u);
  EXPECT_EQ(got.back(), 100);
}

// post_all hands over a whole vector behind what waits already, in order, with one post to the
// loop, and leaves the vector empty (the Redis broker hands a loop a turn's messages this way).
TEST(Mailbox, PostAllKeepsOrderBehindWhatWaits) {
  loop l(0, std::chrono::milliseconds(10));
  std::vector<int> got;
  mailbox<int> box(l, [&](int& v) { got.push_back(v); });
  box.post(0);
  std::vector<int> batch{1, 2, 3};
  box.post_all(batch);
  EXPECT_TRUE(batch.empty());
  std::vector<int> more{4, 5};
  box.post_all(more);
  std::vector<int> none;
  box.post_all(none);
  EXPECT_EQ(l.context().poll(), 1u);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  std::vector<int> alone{6};
  box.post_all(alone);  // into an empty box: swapped in, not copied
  l.context().restart();
  EXPECT_EQ(l.context().poll(), 1u);
  EXPECT_EQ(got.back(), 6);
}

// An item posted while the loop is handing out a batch (here: by the handler itself, as a loop's
// own publish does) comes after that batch, never before an item already handed out.
TEST(Mailbox, AnItemPostedDuringABatchFollowsIt) {
  loop l(0, std::chrono::milliseconds(10));
  std::vector<int> got;
  mailbox<int>* self = nullptr;
  mailbox<int> box(l, [&](int& v) {
    got.push_back(v);
    if (v == 1) {
      self->post(3);
    }
  });
  self = &box;
  box.post(1);
  box.post(2);
  l.context().poll();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

// Posts from other threads: each thread's items keep their order, and none is lost.
TEST(Mailbox, PostsFromManyThreads) {
  loop l(0, std::chrono::milliseconds(10));
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::vector<std::vector<int>> seen(threads);
  int total = 0;
  mailbox<std::pair<int, int>> box(l, [&](std::pair<int, int>& v) {
    seen[v.first].push_back(v.second);
    ++total;
    if (total == threads * per_thread) {
      l.context().stop();
    }
  });
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&box, t] {
      for (int i = 0; i < per_thread; ++i) {
        box.post({t, i});
      }
    });
  }
  auto guard = boost::asio::make_work_guard(l.context());
  l.context().run_for(std::chrono::seconds(10));
  for (auto& p : posters) {
    p.join();
  }
  ASSERT_EQ(total, threads * per_thread);
  for (int t = 0; t < threads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(per_thread));
    for (int i = 0; i < per_thread; ++i) {
      ASSERT_EQ(seen[t][i], i);
    }
  }
}

}  // namespace
}  // namespace sb::io
