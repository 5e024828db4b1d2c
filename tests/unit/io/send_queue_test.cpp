#include "io/send_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sb::io {
namespace {

/// The bytes the next gathered write would see, up to `max` iovecs.
std::string front(const send_queue& q, int max = 1024) {
  std::vector<iovec> iov(static_cast<std::size_t>(max));
  int n = q.gather(iov.data(), max);
  std::string out;
  for (int i = 0; i < n; ++i) {
    out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  }
  return out;
}

/// A write that takes at most `budget` bytes of what gather offers, as a socket might.
std::string write_some(send_queue& q, std::size_t budget, int max_iov = 16) {
  auto avail = front(q, max_iov);
  auto taken = avail.substr(0, budget);
  q.consume(taken.size());
  return taken;
}

TEST(SendQueue, StartsEmpty) {
  send_queue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.segments(), 0u);
  iovec iov[4];
  EXPECT_EQ(q.gather(iov, 4), 0);
}

TEST(SendQueue, PushCountsBytesAndSegmentsAndSkipsEmpty) {
  send_queue q;
  q.push(shared_bytes::from_string("abc"));
  q.push(shared_bytes::from_string(""));
  q.push(shared_bytes::from_string("defgh"));
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.bytes(), 8u);
  EXPECT_EQ(q.segments(), 2u);
}

TEST(SendQueue, GatherPointsAtTheSharedBytesInOrder) {
  send_queue q;
  auto a = shared_bytes::from_string("hello ");
  auto b = shared_bytes::from_string("world");
  q.push(a);
  q.push(b);
  iovec iov[4];
  ASSERT_EQ(q.gather(iov, 4), 2);
  // References, not copies.
  EXPECT_EQ(iov[0].iov_base, a.bytes.data());
  EXPECT_EQ(iov[0].iov_len, 6u);
  EXPECT_EQ(iov[1].iov_base, b.bytes.data());
  EXPECT_EQ(iov[1].iov_len, 5u);
  EXPECT_EQ(front(q), "hello world");
}

TEST(SendQueue, GatherRespectsMax) {
  send_queue q;
  for (const char* s : {"a", "bb", "ccc", "dddd"}) {
    q.push(shared_bytes::from_string(s));
  }
  iovec iov[2];
  EXPECT_EQ(q.gather(iov, 2), 2);
  EXPECT_EQ(front(q, 2), "abb");
  EXPECT_EQ(front(q, 3), "abbccc");
  EXPECT_EQ(q.gather(iov, 0), 0);
}

TEST(SendQueue, PartialConsumeWithinASegment) {
  send_queue q;
  q.push(shared_bytes::from_string("abcdef"));
  q.push(shared_bytes::from_string("gh"));
  q.consume(2);
  EXPECT_EQ(q.bytes(), 6u);
  EXPECT_EQ(q.segments(), 2u);
  EXPECT_EQ(front(q), "cdefgh");
  iovec iov[2];
  ASSERT_EQ(q.gather(iov, 2), 2);
  EXPECT_EQ(iov[0].iov_len, 4u);
  q.consume(3);
  EXPECT_EQ(front(q), "fgh");
  EXPECT_EQ(q.bytes(), 3u);
}

TEST(SendQueue, ConsumeAcrossSegmentBoundaries) {
  send_queue q;
  for (const char* s : {"ab", "cde", "f", "ghij"}) {
    q.push(shared_bytes::from_string(s));
  }
  q.consume(1);  // inside "ab"
  q.consume(3);  // rest of "ab", then "cd"
  EXPECT_EQ(front(q), "efghij");
  EXPECT_EQ(q.segments(), 3u);
  EXPECT_EQ(q.bytes(), 6u);
  q.consume(2);  // exactly "e" and "f": lands on a boundary
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(front(q), "ghij");
  q.consume(4);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.segments(), 0u);
  EXPECT_EQ(front(q), "");
}

TEST(SendQueue, ConsumeZeroChangesNothing) {
  send_queue q;
  q.push(shared_bytes::from_string("abc"));
  q.consume(0);
  EXPECT_EQ(front(q), "abc");
  EXPECT_EQ(q.bytes(), 3u);
}

TEST(SendQueue, AnEmptiedQueueHoldsNoStorage) {
  send_queue q;
  q.push(shared_bytes::from_string("head"));
  q.push(shared_bytes::from_string("preamble"));
  ASSERT_GE(q.capacity(), 2u);
  q.consume(4);
  EXPECT_GE(q.capacity(), 2u);  // still a segment to write
  q.consume(8);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);  // what an idle connection keeps: nothing
  q.push(shared_bytes::from_string("again"));
  EXPECT_EQ(front(q), "again");
}

TEST(SendQueue, ConsumedSegmentsReleaseTheirOwner) {
  send_queue q;
  auto owner = std::make_shared<const std::string>("shared message");
  std::weak_ptr<const std::string> watch = owner;
  q.push({owner, *owner});
  q.push(shared_bytes::from_string("tail"));
  owner.reset();
  ASSERT_FALSE(watch.expired());  // the queue holds it
  q.consume(5);
  EXPECT_FALSE(watch.expired());  // partly written: still needed
  q.consume(9);
  EXPECT_TRUE(watch.expired());  // fully written: released at once
  EXPECT_EQ(front(q), "tail");
}

TEST(SendQueue, OneBufferSharedByManyQueues) {
  auto msg = shared_bytes::from_string("data: x\n\n");
  std::weak_ptr<const void> watch = msg.owner;
  std::vector<send_queue> queues(3);
  for (auto& q : queues) {
    q.push(msg);
  }
  msg = {};
  queues[0].consume(9);
  queues[1].consume(6);
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(front(queues[1]), "x\n\n");
  EXPECT_EQ(front(queues[2]), "data: x\n\n");
  queues[1].clear();
  queues[2].consume(9);
  EXPECT_TRUE(watch.expired());
}

TEST(SendQueue, PartialWritesDeliverEveryByteInOrder) {
  std::mt19937 rng(42);
  for (std::size_t budget : {1u, 3u, 7u, 64u, 1000u}) {
    send_queue q;
    std::string expected, written;
    int next = 0;
    // Interleave pushes and partial writes; enough segments to pass the compaction threshold.
    for (int round = 0; round < 400; ++round) {
      for (int k = 0; k < static_cast<int>(rng() % 3); ++k) {
        std::string s(1 + rng() % 20, static_cast<char>('a' + next++ % 26));
        expected += s;
        q.push(shared_bytes::from_string(std::move(s)));
      }
      written += write_some(q, budget);
      ASSERT_EQ(q.bytes(), expected.size() - written.size())
          << "budget " << budget << " round " << round;
    }
    while (!q.empty()) {
      written += write_some(q, budget);
    }
    EXPECT_EQ(written, expected) << "budget " << budget;
    EXPECT_EQ(q.bytes(), 0u);
    EXPECT_EQ(q.segments(), 0u);
  }
}

TEST(SendQueue, ManySegmentsDrainedOneByOneKeepOrder) {
  send_queue q;
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    auto s = std::to_string(i) + ",";
    expected += s;
    q.push(shared_bytes::from_string(s));
  }
  std::string written;
  for (int i = 0; i < 200; ++i) {
    written += write_some(q, std::to_string(i).size() + 1, 1);
  }
  EXPECT_EQ(q.segments(), 100u);
  // Push more after the front was compacted away.
  for (int i = 300; i < 310; ++i) {
    auto s = std::to_string(i) + ",";
    expected += s;
    q.push(shared_bytes::from_string(s));
  }
  EXPECT_EQ(q.segments(), 110u);
  while (!q.empty()) {
    written += write_some(q, 5000, 8);
  }
  EXPECT_EQ(written, expected);
}

TEST(SendQueue, AnIdleQueueIsOnePointer) {
  // What every idle connection and HTTP/2 stream pays for its queue.
  static_assert(sizeof(send_queue) == sizeof(void*));
  send_queue q;
  EXPECT_EQ(q.capacity(), 0u);
}

TEST(SendQueue, WrittenSlotsAreReusedBeforeGrowing) {
  send_queue q;
  std::string expected, written;
  for (int i = 0; i < 4; ++i) {
    expected += std::to_string(i);
    q.push(shared_bytes::from_string(std::to_string(i)));
  }
  auto cap = q.capacity();
  written += write_some(q, 3);
  for (int i = 4; i < 7; ++i) {
    expected += std::to_string(i);
    q.push(shared_bytes::from_string(std::to_string(i)));
  }
  EXPECT_EQ(q.capacity(), cap);  // three written slots made room for three more
  EXPECT_EQ(q.segments(), 4u);
  q.push(shared_bytes::from_string("7"));  // now full with live segments: grows
  expected += "7";
  EXPECT_GT(q.capacity(), cap);
  while (!q.empty()) {
    written += write_some(q, 2, 3);
  }
  EXPECT_EQ(written, expected);
}

TEST(SendQueue, ClearDropsEverything) {
  send_queue q;
  q.push(shared_bytes::from_string("abc"));
  q.push(shared_bytes::from_string("def"));
  q.consume(1);
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.segments(), 0u);
  q.push(shared_bytes::from_string("xyz"));
  EXPECT_EQ(front(q), "xyz");  // no stale offset
  EXPECT_EQ(q.bytes(), 3u);
}

TEST(SendQueue, ReusableAfterDrainingWithoutStaleOffset) {
  send_queue q;
  q.push(shared_bytes::from_string("abc"));
  q.consume(3);
  ASSERT_TRUE(q.empty());
  q.push(shared_bytes::from_string("def"));
  EXPECT_EQ(front(q), "def");
  q.consume(1);
  EXPECT_EQ(front(q), "ef");
}

TEST(SendQueue, TakeFrontHandsOnReferencesNotCopies) {
  // An HTTP/2 DATA frame's payload: a prefix of a stream's queue, crossing segment boundaries,
  // handed on as views of the same owners.
  auto shared = shared_bytes::from_string("hello, world");
  send_queue q;
  q.push(shared);
  q.push(shared_bytes::from_string("!!"));
  q.consume(2);  // "llo, world" + "!!"
  std::vector<shared_bytes> taken;
  q.take_front(11, [&](shared_bytes b) { taken.push_back(std::move(b)); });
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].bytes, "llo, world");
  EXPECT_EQ(taken[0].bytes.data(), shared.bytes.data() + 2);  // the same memory
  EXPECT_EQ(taken[0].owner, shared.owner);
  EXPECT_EQ(taken[1].bytes, "!");
  EXPECT_EQ(q.bytes(), 1u);
  EXPECT_EQ(front(q), "!");
  q.take_front(100,
               [&](shared_bytes b) { taken.push_back(std::move(b)); });  // at most what is there
  EXPECT_EQ(taken.back().bytes, "!");
  EXPECT_TRUE(q.empty());
  q.take_front(5, [](shared_bytes) { ADD_FAILURE() << "nothing to take"; });
}

TEST(SendQueue, DropUnstartedKeepsThePartlyWrittenSegment) {
  send_queue q;
  q.push(shared_bytes::from_string("frame-one"));
  q.push(shared_bytes::from_string("frame-two"));
  q.push(shared_bytes::from_string("frame-three"));
  EXPECT_EQ(write_some(q, 3), "fra");
  q.drop_unstarted();
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(q.bytes(), 6u);
  EXPECT_EQ(front(q), "me-one");
  q.push(shared_bytes::from_string("close"));
  EXPECT_EQ(front(q), "me-oneclose");
}

TEST(SendQueue, DropUnstartedOnASegmentBoundaryDropsEverything) {
  send_queue q;
  q.push(shared_bytes::from_string("one"));
  q.push(shared_bytes::from_string("two"));
  EXPECT_EQ(write_some(q, 3), "one");
  q.drop_unstarted();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  q.push(shared_bytes::from_string("close"));
  EXPECT_EQ(front(q), "close");
}

}  // namespace
}  // namespace sb::io
