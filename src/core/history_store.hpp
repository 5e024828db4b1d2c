#pragma once
// Where a single node keeps history across restarts (history_dir). The in-memory broker stays the
// source of truth while it runs; the store is a copy written as messages are published and read
// back once at start. Core declares the interface and knows no storage library; the
// implementation lives in src/store/.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.hpp"

namespace sb {

/// One topic as the store kept it.
struct stored_topic {
  std::string name;
  position head;  // the topic's epoch and last seq
  /// Oldest first, consecutive seqs (may be empty); not encoded. Messages are neither copied nor
  /// moved (their encodings point into them), so they come by pointer.
  std::vector<std::unique_ptr<message>> messages;
  std::unique_ptr<message> retained;
};

class history_store {
 public:
  virtual ~history_store() = default;

  /// The epoch that topics new to this node start in: the one kept by the store, or `fresh` (then
  /// kept) for a new store. Called once, before anything else.
  virtual std::uint64_t node_epoch(std::uint64_t fresh) = 0;

  /// Calls `each` for every topic kept. Called once at start, before any append.
  virtual void load(const std::function<void(stored_topic&&)>& each) = 0;

  /// Writes a stored message (and, when it is retained, the topic's retained message) before the
  /// broker shares it. Called under the topic's lock, so one topic's messages arrive in seq order;
  /// any thread. The write reaches the OS before this returns (it survives the process being
  /// killed); when it reaches the disk is sync()'s business. False when it could not be written.
  virtual bool append(const message& m) = 0;

  /// The topic's messages before `first_kept` left the history: drop them from the store too
  /// (soon; not necessarily before this returns). Any thread.
  virtual void trim(std::string_view topic, std::uint64_t first_kept) = 0;

  /// True while something appended has not been synced yet. Cheap; any thread.
  virtual bool needs_sync() const = 0;

  /// Makes everything appended so far durable (group commit: concurrent callers share one sync).
  /// False when the disk refused (logged): what was appended may not survive a power loss.
  virtual bool sync() = 0;
};

}  // namespace sb
