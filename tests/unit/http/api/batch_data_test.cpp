#include "http/api/batch_data.hpp"

#include <gtest/gtest.h>

namespace sb::http::api {
namespace {

using texts = std::vector<std::optional<std::string>>;

TEST(BatchData, NumbersKeepTheirSourceText) {
  auto t = batch_data_texts(
      R"({"messages":[{"topic":"t","data":1e400},{"topic":"t","data":12345678901234567890123},)"
      R"({"topic":"t","data":-0.10},{"topic":"t","data":1E-7},{"topic":"t","data":-9223372036854775809}]})");
  EXPECT_EQ(t,
            (texts{"1e400", "12345678901234567890123", "-0.10", "1E-7", "-9223372036854775809"}));
}

TEST(BatchData, ContainersAreWrittenBackCompactWithNumbersIntact) {
  auto t = batch_data_texts(
      R"({ "messages" : [ { "data" : { "a" : [ 1.0 , 2e400, {"b\n":null} ] , "c" : true } ,
      "topic" : "t" } ] })");
  EXPECT_EQ(t, (texts{R"({"a":[1.0,2e400,{"b\n":null}],"c":true})"}));
  EXPECT_EQ(batch_data_texts(R"({"messages":[{"data":[]},{"data":{}},{"data":[[],[1]]}]})"),
            (texts{"[]", "{}", "[[],[1]]"}));
}

TEST(BatchData, StringsLiteralsAndMissingData) {
  auto t = batch_data_texts(
      R"({"messages":[{"data":"x\u00e9\"y"},{"topic":"t"},{"data":false},{"data":null}]})");
  EXPECT_EQ(t, (texts{"\"xé\\\"y\"", std::nullopt, "false", "null"}));
}

TEST(BatchData, OnlyMessagesDataIsTaken) {
  // "data" elsewhere (top level, nested deeper, inside the data itself) is not a message's data.
  auto t = batch_data_texts(
      R"({"data":1,"x":{"messages":[{"data":2}]},"messages":[{"meta":{"data":3},"data":{"data":4.50}}]})");
  EXPECT_EQ(t, (texts{R"({"data":4.50})"}));
}

TEST(BatchData, RepeatedKeysKeepTheLastAsTheDomDoes) {
  EXPECT_EQ(batch_data_texts(
                R"({"messages":[{"data":1},{"data":2}],"messages":[{"data":3.0,"data":4.0}]})"),
            (texts{"4.0"}));
}

TEST(BatchData, InvalidJsonGivesNothing) {
  EXPECT_TRUE(batch_data_texts(R"({"messages":[{"data":1e400}])").empty());
  EXPECT_TRUE(batch_data_texts("").empty());
  EXPECT_TRUE(batch_data_texts(R"({"messages":[]} x)").empty());
}

}  // namespace
}  // namespace sb::http::api
