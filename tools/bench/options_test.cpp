// Unit tests of the command line: several targets (--base list or repeated), --procs bounds, and
// what storm needs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "options.hpp"

namespace bench {
namespace {

std::optional<run_options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "switchboard-bench");
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

TEST(options, base_takes_a_list_and_repeats) {
  auto o = parse({"fanout", "--base", "http://127.0.0.1:1,http://127.0.0.1:2", "--base",
                  "http://127.0.0.1:3/"});
  ASSERT_TRUE(o);
  ASSERT_EQ(o->targets.size(), 3u);
  EXPECT_EQ(o->targets[0].sse_url, "http://127.0.0.1:1/v1/events?topic={topic}");
  EXPECT_EQ(o->targets[1].pub_url, "http://127.0.0.1:2/v1/topics/{topic}");
  EXPECT_EQ(o->targets[2].ws_url, "ws://127.0.0.1:3/v1/ws");
  EXPECT_EQ(o->target.sse_url, o->targets[0].sse_url);
  EXPECT_EQ(o->resume_base, "http://127.0.0.1:1");
}

TEST(options, one_base_by_default) {
  auto o = parse({"idle"});
  ASSERT_TRUE(o);
  ASSERT_EQ(o->targets.size(), 1u);
  EXPECT_EQ(o->procs, 1);
  EXPECT_EQ(o->proc_index, -1);
}

TEST(options, overrides_apply_to_every_target) {
  auto o = parse({"fanout", "--base", "http://127.0.0.1:1,http://127.0.0.1:2", "--pub-url",
                  "http://127.0.0.1:9/p/{topic}"});
  ASSERT_TRUE(o);
  for (const bench_target& t : o->targets)
    EXPECT_EQ(t.pub_url, "http://127.0.0.1:9/p/{topic}");
}

TEST(options, several_targets_and_procs_only_where_supported) {
  EXPECT_FALSE(parse({"room", "--base", "http://127.0.0.1:1,http://127.0.0.1:2"}));
  EXPECT_FALSE(parse({"roundtrip", "--procs", "2"}));
  EXPECT_FALSE(parse({"fanout", "--procs", "0"}));
  EXPECT_FALSE(parse({"fanout", "--procs", "65"}));
  EXPECT_FALSE(parse({"fanout", "--base", "ftp://x"}));
  auto o = parse({"idle", "--procs", "6", "-n", "100000"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->procs, 6);
}

TEST(options, storm_takes_its_victim_and_balancer) {
  auto o = parse({"storm", "--base", "http://127.0.0.1:1", "--base", "http://127.0.0.1:2", "--kill",
                  "1234", "--kill-after", "2.5", "--resume-base", "http://127.0.0.1:8080",
                  "--at-kill", "true"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->kill_pid, 1234);
  EXPECT_DOUBLE_EQ(o->kill_after, 2.5);
  EXPECT_EQ(o->resume_base, "http://127.0.0.1:8080");
  EXPECT_EQ(o->at_kill, "true");
  EXPECT_EQ(o->targets.size(), 2u);
}

}  // namespace
}  // namespace bench
