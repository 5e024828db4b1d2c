// The presence registry: members and pages, and the diffs taken once per tick (take_diffs is the
// tick), coalesced per topic so that a member who joins and leaves within a tick is never
// announced (docs/api.md "Presence").
#include "core/presence.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>
#include <vector>

namespace sb {
namespace {

/// A diff as one line: "topic +id=state… -id…", to compare whole ticks at once.
std::vector<std::string> describe(const std::vector<presence_diff>& diffs) {
  std::vector<std::string> out;
  for (const auto& d : diffs) {
    std::string line = d.topic;
    for (const auto& m : d.joins) {
      line += " +" + m.id + "=" + boost::json::serialize(m.state);
    }
    for (const auto& id : d.leaves) {
      line += " -" + id;
    }
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());  // topics come out in shard order
  return out;
}

using lines = std::vector<std::string>;

TEST(presence_registry, a_join_answers_the_members_by_id_and_the_count) {
  presence_registry p;
  p.join("room/1", "bob", 1, 100);
  p.join("room/1", "alice", 2, 100);
  auto page = p.join("room/1", "carol", nullptr, 2);
  EXPECT_EQ(page.count, 3u);
  ASSERT_EQ(page.members.size(), 2u);  // the limit
  EXPECT_EQ(page.members[0].id, "alice");
  EXPECT_EQ(page.members[1].id, "bob");
  EXPECT_EQ(p.count("room/1"), 3u);
  EXPECT_EQ(p.count("room/2"), 0u);
}

TEST(presence_registry, changes_of_one_tick_are_one_diff_per_topic) {
  presence_registry p;
  p.join("room/1", "bob", 1, 100);
  p.join("room/1", "alice", 2, 100);
  p.join("room/2", "carol", nullptr, 100);
  EXPECT_EQ(describe(p.take_diffs()), (lines{"room/1 +alice=2 +bob=1", "room/2 +carol=null"}));
  EXPECT_TRUE(p.take_diffs().empty());  // nothing changed since
}

TEST(presence_registry, a_member_who_joins_and_leaves_within_a_tick_is_never_announced) {
  presence_registry p;
  p.join("room/1", "stays", 1, 100);
  p.join("room/1", "flicker", 1, 100);
  p.update("room/1", "flicker", 2);
  EXPECT_TRUE(p.leave("room/1", "flicker"));
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +stays=1"});
}

TEST(presence_registry, a_leave_after_the_join_was_announced_is_announced) {
  presence_registry p;
  p.join("room/1", "bob", 1, 100);
  p.take_diffs();
  EXPECT_TRUE(p.leave("room/1", "bob"));
  EXPECT_FALSE(p.leave("room/1", "bob"));  // not a member any more
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 -bob"});
  EXPECT_EQ(p.count("room/1"), 0u);
}

TEST(presence_registry, an_announced_member_who_leaves_and_rejoins_within_a_tick_is_a_join) {
  presence_registry p;
  p.join("room/1", "bob", 1, 100);
  p.take_diffs();
  p.leave("room/1", "bob");
  p.join("room/1", "bob", 5, 100);
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +bob=5"});
  // And leaving again within the next tick is still told: the others saw it join.
  p.leave("room/1", "bob");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 -bob"});
}

TEST(presence_registry, state_changes_coalesce_to_the_last_as_a_join) {
  presence_registry p;
  p.join("room/1", "bob", 1, 100);
  p.take_diffs();
  EXPECT_TRUE(p.update("room/1", "bob", 2));
  EXPECT_TRUE(p.update("room/1", "bob", 3));
  EXPECT_FALSE(p.update("room/1", "nobody", 3));
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +bob=3"});
}

TEST(presence_registry, pages_go_by_id_after_a_member) {
  presence_registry p;
  for (auto id : {"d", "a", "c", "b", "e"}) {
    p.join("room/1", id, nullptr, 0);
  }
  auto first = p.page("room/1", "", 2);
  EXPECT_EQ(first.count, 5u);
  ASSERT_EQ(first.members.size(), 2u);
  EXPECT_EQ(first.members[1].id, "b");
  auto next = p.page("room/1", "b", 2);
  ASSERT_EQ(next.members.size(), 2u);
  EXPECT_EQ(next.members[0].id, "c");
  EXPECT_EQ(next.members[1].id, "d");
  auto last = p.page("room/1", "d", 2);
  ASSERT_EQ(last.members.size(), 1u);
  EXPECT_EQ(last.members[0].id, "e");
  EXPECT_EQ(p.page("room/9", "", 2).count, 0u);
}

// --- Cluster: members other nodes own (cluster/presence_sync.hpp applies them) ---

/// The room as one line: "id=state" by id.
std::string room_of(const presence_registry& p, std::string_view topic) {
  std::string out;
  for (const auto& m : p.page(topic, "", 1000).members) {
    out += (out.empty() ? "" : " ") + m.id + "=" + boost::json::serialize(m.state);
  }
  return out;
}

TEST(presence_registry_cluster, remote_members_show_in_pages_and_diffs_but_not_in_local_changes) {
  presence_registry p;
  p.track_local_changes();
  p.join("room/1", "ann", 1, 100);
  p.apply_remote("room/1", "n2", {{"bob", 2}, {"cy", 3}}, {});
  EXPECT_EQ(room_of(p, "room/1"), "ann=1 bob=2 cy=3");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +ann=1 +bob=2 +cy=3"});
  EXPECT_EQ(describe(p.take_local_changes()), lines{"room/1 +ann=1"});
  p.apply_remote("room/1", "n2", {{"bob", 5}}, {"cy"});
  p.leave("room/1", "ann");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +bob=5 -ann -cy"});
  EXPECT_EQ(describe(p.take_local_changes()), lines{"room/1 -ann"});
  EXPECT_EQ(p.count("room/1"), 1u);
}

TEST(presence_registry_cluster, a_snapshot_that_repeats_what_is_known_announces_nothing) {
  presence_registry p;
  p.apply_remote("room/1", "n2", {{"bob", 2}, {"cy", 3}}, {});
  p.take_diffs();
  p.replace_remote("room/1", "n2", {{"bob", 2}, {"cy", 3}});
  EXPECT_TRUE(p.take_diffs().empty());
  p.replace_remote("room/1", "n2", {{"bob", 4}});
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +bob=4 -cy"});
}

TEST(presence_registry_cluster, replace_room_keeps_this_nodes_members_and_drops_nodes_not_in_it) {
  presence_registry p;
  p.join("room/1", "ann", 1, 100);
  p.apply_remote("room/1", "n2", {{"bob", 2}}, {});
  p.apply_remote("room/1", "n3", {{"cy", 3}}, {});
  p.take_diffs();
  p.replace_room("room/1", {{"n3", {{"cy", 3}, {"dee", 4}}}});
  EXPECT_EQ(room_of(p, "room/1"), "ann=1 cy=3 dee=4");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +dee=4 -bob"});
}

TEST(presence_registry_cluster,
     a_dead_node_leaves_every_room_and_a_room_of_no_interest_is_dropped) {
  presence_registry p;
  p.join("room/1", "ann", 1, 100);
  p.apply_remote("room/1", "n2", {{"bob", 2}}, {});
  p.apply_remote("room/2", "n2", {{"bob", 2}}, {});
  p.apply_remote("room/2", "n3", {{"cy", 3}}, {});
  p.take_diffs();
  p.remove_node("n2");
  EXPECT_EQ(describe(p.take_diffs()), (lines{"room/1 -bob", "room/2 -bob"}));
  p.drop_remote("room/2");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/2 -cy"});
  EXPECT_EQ(p.count("room/2"), 0u);
  EXPECT_EQ(room_of(p, "room/1"), "ann=1");
}

TEST(presence_registry_cluster, one_id_on_two_nodes_is_one_member_present_while_either_holds_it) {
  presence_registry p;
  p.apply_remote("room/1", "n2", {{"sam", "on n2"}}, {});
  p.take_diffs();
  p.join("room/1", "sam", "here", 100);  // the latest change shows
  EXPECT_EQ(room_of(p, "room/1"), "sam=\"here\"");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +sam=\"here\""});
  p.leave("room/1", "sam");  // n2 still holds it: present, with n2's state
  EXPECT_EQ(room_of(p, "room/1"), "sam=\"on n2\"");
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 +sam=\"on n2\""});
  EXPECT_FALSE(p.update("room/1", "sam", 1));  // not this node's member any more
  p.apply_remote("room/1", "n2", {}, {"sam"});
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 -sam"});
}

TEST(presence_registry_cluster, a_snapshot_never_hides_a_state_heard_live) {
  presence_registry p;
  p.join("room/1", "sam", "here", 100);
  p.take_diffs();
  p.replace_room("room/1", {{"n2", {{"sam", "older, on n2"}}}});  // read after the join
  EXPECT_EQ(room_of(p, "room/1"), "sam=\"here\"");
  EXPECT_TRUE(p.take_diffs().empty());
  p.apply_remote("room/1", "n2", {{"sam", "newer, on n2"}}, {});  // heard live: it shows
  EXPECT_EQ(room_of(p, "room/1"), "sam=\"newer, on n2\"");
}

TEST(presence_registry_cluster, local_members_lists_what_this_node_owns) {
  presence_registry p;
  p.join("room/1", "ann", 1, 100);
  p.apply_remote("room/1", "n2", {{"bob", 2}}, {});
  p.apply_remote("room/2", "n2", {{"cy", 3}}, {});
  EXPECT_EQ(describe(p.local_members()), lines{"room/1 +ann=1"});
  // Without track_local_changes (one node) nothing is kept for the others.
  EXPECT_TRUE(p.take_local_changes().empty());
}

// The server's presence tick is armed by on_change, so it runs only while a change is pending.
TEST(presence_registry, on_change_tells_once_per_tick_and_only_of_changes) {
  presence_registry p;
  int told = 0;
  p.on_change([&] {
    ++told;
    // Outside the registry's locks: the hook may read the registry (a lock held would deadlock).
    EXPECT_GE(p.count("room/1") + p.count("room/2"), 0u);
  });
  p.join("room/1", "bob", 1, 100);
  EXPECT_EQ(told, 1);
  p.join("room/2", "ann", 1, 100);
  p.update("room/1", "bob", 2);
  p.leave("room/2", "ann");
  EXPECT_EQ(told, 1);  // one tick serves them all
  p.take_diffs();
  EXPECT_FALSE(p.update("room/1", "nobody", 3));
  EXPECT_FALSE(p.leave("room/1", "nobody"));
  p.page("room/1", "", 10);
  p.take_diffs();
  EXPECT_EQ(told, 1);  // nothing changed: no tick wanted
  p.leave("room/1", "bob");
  EXPECT_EQ(told, 2);
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 -bob"});
}

TEST(presence_registry_cluster, on_change_tells_of_other_nodes_changes_too) {
  presence_registry p;
  p.track_local_changes();
  int told = 0;
  p.on_change([&] { ++told; });
  p.apply_remote("room/1", "n2", {{"bob", 2}}, {});
  EXPECT_EQ(told, 1);
  p.take_diffs();
  p.remove_node("n2");
  EXPECT_EQ(told, 2);
  EXPECT_EQ(describe(p.take_diffs()), lines{"room/1 -bob"});
}

}  // namespace
}  // namespace sb
