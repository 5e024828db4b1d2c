#pragma once
// history_store on RocksDB (docs/decisions.md says why RocksDB): a write per publish goes to the
// write-ahead log and reaches the OS before the publish returns; fsync is a separate step, taken
// by whoever needs it (history_fsync = always: the loops, before any byte leaves; everysec: a
// background thread once a second; no: never). The log's records carry checksums, so a torn tail
// after a power loss is dropped at the next start and the store stays consistent in every mode.
//
// Keys: "f" the format and node epoch; "s" how the last run ended; "t<topic>" the topic's epoch and
// last seq; "m<topic>\0<seq, 8 bytes big-endian>" a message; "r<topic>" the retained message.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/history_store.hpp"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace sb::store {

enum class fsync_mode { always, everysec, no };

/// "always", "everysec" or "no"; nullopt otherwise.
std::optional<fsync_mode> parse_fsync_mode(std::string_view text);

/// history_dir and history_fsync.
struct settings {
  std::string dir;                 // empty: history in memory only, lost on restart
  std::string fsync = "everysec";  // checked against the table's choices when loaded

  fsync_mode mode() const { return parse_fsync_mode(fsync).value_or(fsync_mode::everysec); }
};

class rocks_history_store final : public history_store {
 public:
  /// The format this build writes; a store written by a newer one is refused.
  static constexpr std::uint32_t format_version = 1;

  /// Opens `dir` (created when missing). Throws std::runtime_error naming the directory and the
  /// cause when it cannot be opened, is damaged, is in use by another process, or was written by
  /// a newer format: a server must not start on history it cannot vouch for.
  rocks_history_store(const std::string& dir, fsync_mode mode);
  /// Writes pending trims, syncs and closes.
  ~rocks_history_store() override;

  std::uint64_t node_epoch(std::uint64_t fresh) override;
  void load(const std::function<void(stored_topic&&)>& each) override;
  bool append(const message& m) override;
  void trim(std::string_view topic, std::uint64_t first_kept) override;
  bool needs_sync() const override { return synced_.load() < written_.load(); }
  bool sync() override;

 private:
  struct topic_span {
    std::uint64_t first_on_disk = 0;  // oldest seq that may still be stored
    std::uint64_t first_kept = 0;     // what the history keeps; below it is to be deleted
  };

  /// "s": the boot this run started in, whether it stopped cleanly, whether it synced every write.
  std::string run_state(bool clean) const;
  void write_synced(const std::string& key, const std::string& value);
  void renumber(stored_topic& t);
  void add_pending_trims(rocksdb::WriteBatch& batch);
  void flush_trims();
  void run_background();

  std::string dir_;
  fsync_mode mode_;
  std::unique_ptr<rocksdb::DB> db_;
  std::string boot_id_;
  bool loaded_ = false;    // load() went through: this store is ours to write
  bool renumber_ = false;  // the last run may have lost writes: new epochs (see node_epoch())
  std::uint64_t new_epoch_ = 0;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> synced_{0};
  std::mutex sync_mutex_;

  std::mutex trim_mutex_;
  std::unordered_map<std::string, topic_span> spans_;
  std::vector<std::string> trim_pending_;  // topics whose first_kept moved past first_on_disk

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread background_;
};

}  // namespace sb::store
