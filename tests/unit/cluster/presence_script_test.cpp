// The pure parts of presence across nodes: the key names, the record nodes publish to each other
// (presence_body / parse_presence_record), and the seam between a room's snapshot and its live
// records (presence_seam).
#include "cluster/presence_script.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace sb::cluster {
namespace {

TEST(presence_script, keys_of_a_room_share_the_topics_hash_tag) {
  EXPECT_EQ(presence_member_key("room/7", "n1"), "sb:{room/7}:p:n1");
  EXPECT_EQ(presence_member_prefix("room/7"), "sb:{room/7}:p:");
  EXPECT_EQ(presence_nodes_key("room/7"), "sb:{room/7}:pn");
  EXPECT_EQ(node_liveness_key("n1"), "sb:node:n1");
  EXPECT_EQ(node_rooms_key("n1"), "sb:node:n1:rooms");
}

TEST(presence_script, a_record_round_trips_ids_states_and_leaves) {
  presence_diff d{"room/7", {{"ann", boost::json::object{{"x", 1}}}, {"c3@n1", nullptr}}, {"bob"}};
  auto body = presence_body(d);
  EXPECT_EQ(body, R"({"j":[["ann",{"x":1}],["c3@n1",null]],"l":["bob"]})");
  auto r = parse_presence_record("0 7\nnode 12" + body);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->reset);
  EXPECT_EQ(r->node, "node 12");  // a node id may hold anything: it is counted, not delimited
  ASSERT_EQ(r->joins.size(), 2u);
  EXPECT_EQ(r->joins[0].id, "ann");
  EXPECT_EQ(boost::json::serialize(r->joins[0].state), R"({"x":1})");
  EXPECT_TRUE(r->joins[1].state.is_null());
  EXPECT_EQ(r->leaves, std::vector<std::string>{"bob"});
  auto reset = parse_presence_record("1 2\nn2{\"j\":[],\"l\":[]}");
  ASSERT_TRUE(reset);
  EXPECT_TRUE(reset->reset);
  EXPECT_TRUE(reset->joins.empty());
}

TEST(presence_script, malformed_records_are_refused) {
  for (std::string_view bad :
       {"", "0 2", "0 2\n", "2 2\nn1{\"j\":[],\"l\":[]}", "0 x\nn1{}", "0 0\n{\"j\":[],\"l\":[]}",
        "0 9\nn1{\"j\":[],\"l\":[]}", "0 2\nn1{\"j\":[]}", "0 2\nn1{\"j\":[[1,2]],\"l\":[]}",
        "0 2\nn1{\"j\":[],\"l\":[3]}", "0 2\nn1not json"}) {
    EXPECT_FALSE(parse_presence_record(bad)) << bad;
  }
}

TEST(presence_script, a_stored_state_that_is_not_json_reads_as_null) {
  EXPECT_EQ(boost::json::serialize(parse_presence_member("a", R"({"k":[1]})").state),
            R"({"k":[1]})");
  EXPECT_TRUE(parse_presence_member("a", "{nope").state.is_null());
}

TEST(presence_seam, records_before_the_token_are_dropped_after_it_held_until_the_snapshot) {
  presence_seam s;
  EXPECT_EQ(s.on_record(), presence_seam::step::apply);  // no load yet
  s.begin("t1");
  EXPECT_TRUE(s.loading());
  EXPECT_EQ(s.on_record(), presence_seam::step::drop);  // in the snapshot already
  EXPECT_FALSE(s.on_token("t0"));                       // an older load's token
  EXPECT_EQ(s.on_record(), presence_seam::step::drop);
  EXPECT_TRUE(s.on_token("t1"));
  EXPECT_FALSE(s.done());
  EXPECT_EQ(s.on_record(), presence_seam::step::hold);  // after the snapshot was read
  s.on_snapshot();
  EXPECT_TRUE(s.done());
  EXPECT_FALSE(s.loading());
  EXPECT_EQ(s.on_record(), presence_seam::step::apply);
}

TEST(presence_seam, a_snapshot_before_the_token_still_drops_what_precedes_the_token) {
  presence_seam s;
  s.begin("t1");
  s.on_snapshot();
  EXPECT_EQ(s.on_record(), presence_seam::step::drop);
  EXPECT_TRUE(s.on_token("t1"));
  EXPECT_FALSE(s.on_token("t1"));  // once
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.on_record(), presence_seam::step::apply);
  s.begin("t2");  // loaded again (the pub/sub connection dropped)
  EXPECT_EQ(s.on_record(), presence_seam::step::drop);
}

}  // namespace
}  // namespace sb::cluster
