#include "io/counted.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sb::io {
namespace {

struct probe {
  explicit probe(int& destroyed) : destroyed_(&destroyed) {}
  ~probe() { ++*destroyed_; }
  int* destroyed_;
  int value = 7;
};

TEST(Counted, TheLastOwnerDestroysTheObjectOnce) {
  int destroyed = 0;
  auto a = make_counted<probe>(destroyed);
  auto b = a;
  auto c = counted_from(*a);
  EXPECT_EQ(c->value, 7);
  a.reset();
  b = nullptr;
  EXPECT_EQ(destroyed, 0);
  c.reset();
  EXPECT_EQ(destroyed, 1);
}

TEST(Counted, AWeakHandleLocksOnlyWhileAnOwnerRemains) {
  int destroyed = 0;
  auto owner = make_counted<probe>(destroyed);
  auto weak = counted_weak_from(*owner);
  {
    auto locked = weak.lock();
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked.get(), owner.get());
  }
  EXPECT_FALSE(weak.expired());
  owner.reset();
  EXPECT_EQ(destroyed, 1);  // destroyed with its last owner, though a weak handle remains
  EXPECT_TRUE(weak.expired());
  EXPECT_FALSE(weak.lock());
}

TEST(Counted, AWeakHandleOutlivingEverythingFreesTheMemory) {
  // Under ASan, a leak or a use after free here fails the run.
  int destroyed = 0;
  counted_weak<probe> weak;
  {
    auto owner = make_counted<probe>(destroyed);
    weak = counted_weak<probe>(owner);
    auto copy = weak;
    auto moved = std::move(copy);
    EXPECT_FALSE(moved.expired());
  }
  EXPECT_TRUE(weak.expired());
  weak = {};
  EXPECT_EQ(destroyed, 1);
}

TEST(Counted, ReleaseAndAdoptHandAOwnershipOverWithoutAPointer) {
  int destroyed = 0;
  auto owner = make_counted<probe>(destroyed);
  probe* self = counted_from(*owner).release();  // what a started connection keeps of itself
  owner.reset();
  EXPECT_EQ(destroyed, 0);
  auto back = counted_ptr<probe>::adopt(self);
  EXPECT_EQ(destroyed, 0);
  back.reset();
  EXPECT_EQ(destroyed, 1);
}

TEST(Counted, HandlesDroppedOnOtherThreads) {
  // A broker thread may destroy a callback holding a weak handle while the owner lets go here.
  int destroyed = 0;
  for (int round = 0; round < 200; ++round) {
    auto owner = make_counted<probe>(destroyed);
    std::vector<counted_weak<probe>> weaks(8, counted_weak_from(*owner));
    std::vector<counted_ptr<probe>> owners(8, owner);
    std::thread other([w = std::move(weaks), o = std::move(owners)]() mutable {
      w.clear();
      o.clear();
    });
    owner.reset();
    other.join();
  }
  EXPECT_EQ(destroyed, 200);
}

TEST(Counted, TheCountsCostEightBytes) {
  EXPECT_EQ(sizeof(counted_ptr<probe>), sizeof(void*));
  EXPECT_EQ(sizeof(counted_weak<probe>), sizeof(void*));
  EXPECT_EQ(detail::object_offset<probe>, 8u);
}

}  // namespace
}  // namespace sb::io
