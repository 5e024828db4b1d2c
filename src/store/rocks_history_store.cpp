#include "store/rocks_history_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace sb::store {
namespace {

constexpr std::string_view magic = "switchboard-history";
// Past this many messages a trim is one range tombstone instead of one tombstone per message.
constexpr std::uint64_t range_delete_from = 64;

// Fixed-width little-endian fields: the records are ours alone, so a hand-written layout of a few
// lines beats a serialization library.
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>(v >> (8 * i)));
  }
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>(v >> (8 * i)));
  }
}

/// Reads fixed-width fields off the front of a record; any short read marks it bad.
struct reader {
  std::string_view rest;
  bool bad = false;

  std::uint64_t u64() { return number(8); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(number(4)); }
  std::string bytes(std::size_t n) {
    if (rest.size() < n) {
      bad = true;
      return {};
    }
    std::string out(rest.substr(0, n));
    rest.remove_prefix(n);
    return out;
  }

 private:
  std::uint64_t number(int width) {
    if (rest.size() < static_cast<std::size_t>(width)) {
      bad = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(rest[static_cast<std::size_t>(i)]))
           << (8 * i);
    }
    rest.remove_prefix(static_cast<std::size_t>(width));
    return v;
  }
};

std::string topic_key(std::string_view topic) {
  std::string k = "t";
  k.append(topic);
  return k;
}

std::string retained_key(std::string_view topic) {
  std::string k = "r";
  k.append(topic);
  return k;
}

std::string message_prefix(std::string_view topic) {
  std::string k = "m";
  k.append(topic);
  k.push_back('\0');  // never in a topic name, so one topic's keys never interleave with another's
  return k;
}

std::string message_key(std::string_view topic, std::uint64_t seq) {
  auto k = message_prefix(topic);
  for (int i = 7; i >= 0; --i) {
    k.push_back(static_cast<char>(seq >> (8 * i)));  // big-endian: keys sort in seq order
  }
  return k;
}

std::string encode_head(position p) {
  std::string out;
  put_u64(out, p.epoch);
  put_u64(out, p.seq);
  return out;
}

std::string encode_message(const message& m) {
  std::string out;
  out.reserve(37 + m.event.size() + m.from.size() + m.data.size());
  put_u64(out, m.pos.epoch);
  put_u64(out, m.pos.seq);
  put_u64(out, static_cast<std::uint64_t>(m.time_ms));
  out.push_back(m.retain ? 1 : 0);
  put_u32(out, static_cast<std::uint32_t>(m.event.size()));
  out.append(m.event);
  put_u32(out, static_cast<std::uint32_t>(m.from.size()));
  out.append(m.from);
  std::string scratch;
  out.append(m.data_view(scratch));  // the SSE encoding may hold the data by now
  return out;
}

std::unique_ptr<message> decode_message(std::string_view topic, std::string_view value) {
  reader r{value};
  auto m = std::make_unique<message>();
  m->topic = std::string(topic);
  m->pos.epoch = r.u64();
  m->pos.seq = r.u64();
  m->time_ms = static_cast<std::int64_t>(r.u64());
  auto flags = r.bytes(1);
  m->retain = !flags.empty() && flags[0] == 1;
  m->event = r.bytes(r.u32());
  m->from = r.bytes(r.u32());
  if (r.bad) {
    return nullptr;
  }
  m->data = std::string(r.rest);
  return m;
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

}  // namespace

std::optional<fsync_mode> parse_fsync_mode(std::string_view text) {
  if (text == "always")
    return fsync_mode::always;
  if (text == "everysec")
    return fsync_mode::everysec;
  if (text == "no")
    return fsync_mode::no;
  return std::nullopt;
}

rocks_history_store::rocks_history_store(const std::string& dir, fsync_mode mode)
    : dir_(dir), mode_(mode) {
  std::getline(std::ifstream("/proc/sys/kernel/random/boot_id"), boot_id_);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    throw std::runtime_error("history_dir " + dir_ + ": cannot create it: " + ec.message());
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // A torn tail of the log (power lost mid-write under everysec or no) is dropped, not an error:
  // what is left is a consistent prefix of what was written.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Memory: the broker keeps history in memory already and the store is read only at start, so
  // small write buffers and a small block cache (measured in docs/decisions.md).
  options.write_buffer_size = 4 << 20;
  options.max_write_buffer_number = 2;
  options.max_total_wal_size = 64 << 20;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(1 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DB* db = nullptr;
  auto status = rocksdb::DB::Open(options, dir_, &db);
  if (!status.ok()) {
    throw std::runtime_error(
        "history_dir " + dir_ + ": cannot open the history store (" + status.ToString() +
        "). If another switchboard uses it, stop that one; if it is damaged, move it aside "
        "to start with empty history (clients then resume into a gap)");
  }
  db_.reset(db);
  background_ = std::thread([this] { run_background(); });
}

rocks_history_store::~rocks_history_store() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (background_.joinable()) {
    background_.join();
  }
  flush_trims();
  // A clean stop leaves everything on disk whatever the mode: the next start resumes exactly.
  if (auto s = db_->SyncWAL(); !s.ok()) {
    spdlog::error("history_dir {}: final sync failed: {}", dir_, s.ToString());
  } else if (loaded_) {
    // The next start may trust every seq. (Not for a store this run refused: it is not ours to
    // mark.)
    rocksdb::WriteOptions sync_write;
    sync_write.sync = true;
    db_->Put(sync_write, "s", run_state(true));
  }
  if (auto s = db_->Close(); !s.ok()) {
    spdlog::error("history_dir {}: close failed: {}", dir_, s.ToString());
  }
}

std::uint64_t rocks_history_store::node_epoch(std::uint64_t fresh) {
  std::string value;
  auto status = db_->Get(rocksdb::ReadOptions(), "f", &value);
  if (status.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) {
      throw std::runtime_error("history_dir " + dir_ +
                               ": holds data but no switchboard format record; refusing to use it");
    }
    std::string record(magic);
    put_u32(record, format_version);
    put_u64(record, fresh);
    write_synced("f", record);
    write_synced("s", run_state(false));
    return fresh;
  }
  if (!status.ok()) {
    throw std::runtime_error("history_dir " + dir_ + ": cannot read: " + status.ToString());
  }
  if (!std::string_view(value).starts_with(magic)) {
    throw std::runtime_error("history_dir " + dir_ +
                             ": the format record is not switchboard's; refusing to use it");
  }
  reader r{std::string_view(value).substr(magic.size())};
  auto version = r.u32();
  auto epoch = r.u64();
  if (r.bad) {
    throw std::runtime_error("history_dir " + dir_ +
                             ": the format record is damaged; refusing to use it");
  }
  if (version > format_version) {
    throw std::runtime_error("history_dir " + dir_ + ": written by a newer switchboard (format " +
                             std::to_string(version) + "; this build reads up to " +
                             std::to_string(format_version) + "); refusing to start");
  }
  // The last run neither stopped cleanly nor synced every write, and the machine has booted
  // since: the OS may have lost the last writes, which subscribers may have seen. Reusing their
  // seqs could hand a client a different message under an id it already has, so every topic moves
  // to a new epoch (its history is kept, renumbered): resuming clients are told of a gap.
  std::string state;
  if (db_->Get(rocksdb::ReadOptions(), "s", &state).ok()) {
    auto at = state.find('\0');
    bool clean = at != std::string::npos && at + 1 < state.size() && state[at + 1] == 1;
    bool synced_every_write =
        at != std::string::npos && at + 2 < state.size() && state[at + 2] == 1;
    if (!clean && !synced_every_write && !boot_id_.empty() && state.substr(0, at) != boot_id_) {
      spdlog::warn(
          "history_dir {}: the machine restarted while history_fsync was not always and "
          "switchboard had "
          "not stopped cleanly; the last writes may be lost, so every topic starts a new epoch "
          "(resuming "
          "clients get a gap)",
          dir_);
      renumber_ = true;
      epoch = fresh;
      std::string record(magic);
      put_u32(record, format_version);
      put_u64(record, fresh);
      write_synced("f", record);
    }
  }
  write_synced("s", run_state(false));
  new_epoch_ = epoch;
  return epoch;
}

std::string rocks_history_store::run_state(bool clean) const {
  auto out = boot_id_;
  out.push_back('\0');
  out.push_back(clean ? 1 : 0);
  out.push_back(mode_ == fsync_mode::always ? 1 : 0);
  return out;
}

void rocks_history_store::write_synced(const std::string& key, const std::string& value) {
  rocksdb::WriteOptions sync_write;
  sync_write.sync = true;
  if (auto s = db_->Put(sync_write, key, value); !s.ok()) {
    throw std::runtime_error("history_dir " + dir_ + ": cannot write: " + s.ToString());
  }
}

void rocks_history_store::load(const std::function<void(stored_topic&&)>& each) {
  auto corrupt = [this](std::string_view topic, std::string_view what) {
    return std::runtime_error(
        "history_dir " + dir_ + ": topic " + std::string(topic) + ": " + std::string(what) +
        "; refusing to start (move the directory aside to start with empty history)");
  };
  std::unique_ptr<rocksdb::Iterator> topics(db_->NewIterator(rocksdb::ReadOptions()));
  std::unique_ptr<rocksdb::Iterator> messages(db_->NewIterator(rocksdb::ReadOptions()));
  std::size_t topic_count = 0;
  std::size_t message_count = 0;
  for (topics->Seek("t"); topics->Valid() && topics->key().starts_with("t"); topics->Next()) {
    stored_topic t;
    t.name = std::string(view(topics->key()).substr(1));
    reader head{view(topics->value())};
    t.head.epoch = head.u64();
    t.head.seq = head.u64();
    if (head.bad || t.head.epoch == 0) {
      throw corrupt(t.name, "damaged head record");
    }
    auto prefix = message_prefix(t.name);
    for (messages->Seek(prefix); messages->Valid() && messages->key().starts_with(prefix);
         messages->Next()) {
      auto m = decode_message(t.name, view(messages->value()));
      if (!m || m->pos.epoch != t.head.epoch || m->pos.seq > t.head.seq ||
          (!t.messages.empty() && m->pos.seq != t.messages.back()->pos.seq + 1) ||
          message_key(t.name, m->pos.seq) != view(messages->key())) {
        throw corrupt(t.name, "damaged or out-of-order message record");
      }
      t.messages.push_back(std::move(m));
    }
    if (!messages->status().ok()) {
      throw corrupt(t.name, messages->status().ToString());
    }
    std::string value;
    auto status = db_->Get(rocksdb::ReadOptions(), retained_key(t.name), &value);
    if (status.ok()) {
      t.retained = decode_message(t.name, value);
      if (!t.retained) {
        throw corrupt(t.name, "damaged retained message");
      }
    } else if (!status.IsNotFound()) {
      throw corrupt(t.name, status.ToString());
    }
    if (renumber_) {
      renumber(t);
    }
    {
      std::lock_guard lock(trim_mutex_);
      auto first = t.messages.empty() ? t.head.seq + 1 : t.messages.front()->pos.seq;
      spans_[t.name] = topic_span{first, first};
    }
    ++topic_count;
    message_count += t.messages.size();
    each(std::move(t));
  }
  if (!topics->status().ok()) {
    throw std::runtime_error("history_dir " + dir_ +
                             ": cannot read: " + topics->status().ToString());
  }
  if (renumber_) {
    db_->SyncWAL();
  }
  loaded_ = true;
  spdlog::info(
      "history_dir {}: {} topic(s) and {} message(s) kept from the last run (history_fsync = {})",
      dir_, topic_count, message_count,
      mode_ == fsync_mode::always     ? "always"
      : mode_ == fsync_mode::everysec ? "everysec"
                                      : "no");
}

void rocks_history_store::renumber(stored_topic& t) {
  rocksdb::WriteBatch batch;
  t.head.epoch = new_epoch_;
  batch.Put(topic_key(t.name), encode_head(t.head));
  for (auto& m : t.messages) {
    m->pos.epoch = new_epoch_;
    batch.Put(message_key(t.name, m->pos.seq), encode_message(*m));
  }
  if (t.retained) {
    t.retained->pos.epoch = new_epoch_;
    batch.Put(retained_key(t.name), encode_message(*t.retained));
  }
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    throw std::runtime_error("history_dir " + dir_ + ": cannot write: " + s.ToString());
  }
}

bool rocks_history_store::append(const message& m) {
  rocksdb::WriteBatch batch;
  auto record = encode_message(m);
  batch.Put(message_key(m.topic, m.pos.seq), record);
  batch.Put(topic_key(m.topic), encode_head(m.pos));
  if (m.retain) {
    batch.Put(retained_key(m.topic), record);
  }
  {
    std::lock_guard lock(trim_mutex_);
    spans_.try_emplace(m.topic, topic_span{m.pos.seq, m.pos.seq});
    add_pending_trims(batch);
  }
  // Not synced here: the log write reaches the OS now, the disk at the next sync().
  auto status = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!status.ok()) {
    spdlog::error("history_dir {}: write failed: {}", dir_, status.ToString());
    return false;
  }
  written_.fetch_add(1);
  return true;
}

void rocks_history_store::trim(std::string_view topic, std::uint64_t first_kept) {
  std::lock_guard lock(trim_mutex_);
  auto it = spans_.find(std::string(topic));
  if (it == spans_.end() || first_kept <= it->second.first_kept) {
    return;
  }
  if (it->second.first_kept == it->second.first_on_disk) {
    trim_pending_.push_back(it->first);
  }
  it->second.first_kept = first_kept;
}

void rocks_history_store::add_pending_trims(rocksdb::WriteBatch& batch) {
  for (const auto& topic : trim_pending_) {
    auto& span = spans_[topic];
    if (span.first_kept - span.first_on_disk >= range_delete_from) {
      batch.DeleteRange(message_key(topic, span.first_on_disk),
                        message_key(topic, span.first_kept));
    } else {
      for (auto seq = span.first_on_disk; seq < span.first_kept; ++seq) {
        batch.Delete(message_key(topic, seq));
      }
    }
    span.first_on_disk = span.first_kept;
  }
  trim_pending_.clear();
}

void rocks_history_store::flush_trims() {
  rocksdb::WriteBatch batch;
  {
    std::lock_guard lock(trim_mutex_);
    if (trim_pending_.empty()) {
      return;
    }
    add_pending_trims(batch);
  }
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    spdlog::error("history_dir {}: trim failed: {}", dir_, s.ToString());
  }
}

bool rocks_history_store::sync() {
  auto target = written_.load();
  if (synced_.load() >= target) {
    return true;
  }
  std::lock_guard lock(sync_mutex_);
  if (synced_.load() >= target) {
    return true;  // a sync that started after our write finished while we waited: it covered us
  }
  auto upto = written_.load();
  if (auto s = db_->SyncWAL(); !s.ok()) {
    spdlog::error("history_dir {}: sync failed: {}", dir_, s.ToString());
    return false;
  }
  synced_.store(upto);
  return true;
}

void rocks_history_store::run_background() {
  // Trims that no append carried are written here; under everysec this is also the sync that
  // keeps the loops from ever waiting on the disk.
  std::unique_lock lock(stop_mutex_);
  while (!stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
    lock.unlock();
    flush_trims();
    if (mode_ == fsync_mode::everysec) {
      sync();
    }
    lock.lock();
  }
}

}  // namespace sb::store
