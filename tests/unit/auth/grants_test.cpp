#include "auth/grants.hpp"

#include <gtest/gtest.h>

namespace sb::auth {
namespace {

TEST(Grants, PatternsDecideSubscribeAndPublishSeparately) {
  grants g;
  g.subject = "u1";
  g.subscribe = {"rooms/*", "user/u1/**"};
  g.publish = {"rooms/42"};
  EXPECT_TRUE(g.can_subscribe("rooms/42"));
  EXPECT_TRUE(g.can_subscribe("rooms/7"));
  EXPECT_FALSE(g.can_subscribe("rooms/7/chat"));
  EXPECT_FALSE(g.can_subscribe("rooms"));
  EXPECT_TRUE(g.can_subscribe("user/u1/inbox"));
  EXPECT_TRUE(g.can_subscribe("user/u1/a/b/c"));
  EXPECT_FALSE(g.can_subscribe("user/u1"));
  EXPECT_FALSE(g.can_subscribe("user/u2/inbox"));
  EXPECT_TRUE(g.can_publish("rooms/42"));
  EXPECT_FALSE(g.can_publish("rooms/7"));
  EXPECT_FALSE(g.can_publish("user/u1/inbox"));
}

TEST(Grants, NothingByDefault) {
  grants g;
  EXPECT_FALSE(g.can_subscribe("a"));
  EXPECT_FALSE(g.can_publish("a"));
}

TEST(Grants, AllAllowsEverything) {
  auto g = grants::everything();
  EXPECT_TRUE(g.all);
  EXPECT_TRUE(g.can_subscribe("a/b/c"));
  EXPECT_TRUE(g.can_publish("x"));
}

TEST(Grants, DoubleStarAtTheRootMatchesEveryTopic) {
  grants g;
  g.subscribe = {"**"};
  EXPECT_TRUE(g.can_subscribe("a"));
  EXPECT_TRUE(g.can_subscribe("a/b/c"));
  EXPECT_FALSE(g.can_subscribe(""));
  EXPECT_FALSE(g.can_publish("a"));
}

TEST(Grants, Anonymous) {
  auto none = grants::anonymous(false, false);
  EXPECT_FALSE(none.can_subscribe("a"));
  EXPECT_FALSE(none.can_publish("a"));
  auto listen = grants::anonymous(true, false);
  EXPECT_TRUE(listen.can_subscribe("a/b"));
  EXPECT_FALSE(listen.can_publish("a/b"));
  auto speak = grants::anonymous(false, true);
  EXPECT_FALSE(speak.can_subscribe("a/b"));
  EXPECT_TRUE(speak.can_publish("a/b"));
  EXPECT_TRUE(grants::anonymous(true, true).all);
}

TEST(Grants, FromClaims) {
  claims c;
  c.subject = "alice";
  c.subscribe = {"feed/*"};
  c.publish = {"feed/alice"};
  auto g = grants::from_claims(c);
  EXPECT_EQ(g.subject, "alice");
  EXPECT_FALSE(g.all);
  EXPECT_TRUE(g.can_subscribe("feed/bob"));
  EXPECT_TRUE(g.can_publish("feed/alice"));
  EXPECT_FALSE(g.can_publish("feed/bob"));
}

}  // namespace
}  // namespace sb::auth
