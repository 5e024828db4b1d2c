// Which embedded store for history_dir: appends 1 KiB records as a broker would (one write per
// publish, 100 topics round-robin, the oldest record of a topic deleted once it holds 1,000), and
// makes them durable per fsync mode: always = one sync per group of 32 writes (one loop turn),
// everysec = a background thread syncs once a second, no = never. Prints records/s and RSS.
// Not part of the build (LMDB and SQLite are not dependencies of the server); with liblmdb-dev,
// libsqlite3-dev and librocksdb-dev installed:
//   g++ -O2 -std=c++20 bench/store_choice.cpp -llmdb -lsqlite3 -lrocksdb -o store_choice
// Run:   taskset -c 1 ./store_choice lmdb|sqlite|rocksdb always|everysec|no DIR [N]
#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

static long rss_kib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0)
      return std::stol(line.substr(strlen(field)));
  }
  return -1;
}

static std::string key(unsigned topic, unsigned long seq) {
  char k[12];
  for (int i = 0; i < 4; ++i)
    k[i] = char(topic >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i)
    k[4 + i] = char(seq >> (56 - 8 * i));
  return std::string(k, 12);
}

int main(int argc, char** argv) {
  std::string kind = argv[1], mode = argv[2], dir = argv[3];
  long n = argc > 4 ? atol(argv[4]) : 100000;
  std::string value(1024, 'x');
  std::function<void(const std::string&)> put;
  std::function<void(const std::string&)> del;
  std::function<void()> sync;
  MDB_env* env = nullptr;
  MDB_dbi dbi;
  sqlite3* db = nullptr;
  sqlite3_stmt *ins = nullptr, *rm = nullptr;
  int wal_fd = -1;
  rocksdb::DB* rdb = nullptr;
  if (kind == "lmdb") {
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, size_t(4) << 30);
    if (mdb_env_open(env, dir.c_str(), MDB_NOSYNC, 0644))
      return 1;
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    mdb_dbi_open(t, nullptr, 0, &dbi);
    mdb_txn_commit(t);
    auto write = [&](const std::string& k, bool erase) {
      MDB_txn* txn;
      mdb_txn_begin(env, nullptr, 0, &txn);
      MDB_val kv{k.size(), (void*)k.data()}, vv{value.size(), value.data()};
      if (erase)
        mdb_del(txn, dbi, &kv, nullptr);
      else
        mdb_put(txn, dbi, &kv, &vv, 0);
      mdb_txn_commit(txn);
    };
    put = [=](const std::string& k) { write(k, false); };
    del = [=](const std::string& k) { write(k, true); };
    sync = [&] { mdb_env_sync(env, 1); };
  } else if (kind == "sqlite") {
    if (sqlite3_open((dir + "/h.db").c_str(), &db))
      return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS "
                 "m(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;",
                 0, 0, 0);
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO m VALUES(?,?)", -1, &ins, 0);
    sqlite3_prepare_v2(db, "DELETE FROM m WHERE k=?", -1, &rm, 0);
    wal_fd = open((dir + "/h.db-wal").c_str(), O_RDWR);
    put = [&](const std::string& k) {
      sqlite3_bind_blob(ins, 1, k.data(), int(k.size()), SQLITE_STATIC);
      sqlite3_bind_blob(ins, 2, value.data(), int(value.size()), SQLITE_STATIC);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    };
    del = [&](const std::string& k) {
      sqlite3_bind_blob(rm, 1, k.data(), int(k.size()), SQLITE_STATIC);
      sqlite3_step(rm);
      sqlite3_reset(rm);
    };
    sync = [&] { fdatasync(wal_fd); };
  } else {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.write_buffer_size = 8 << 20;
    o.max_write_buffer_number = 2;
    if (!rocksdb::DB::Open(o, dir, &rdb).ok())
      return 1;
    put = [&](const std::string& k) { rdb->Put(rocksdb::WriteOptions(), k, value); };
    del = [&](const std::string& k) { rdb->Delete(rocksdb::WriteOptions(), k); };
    sync = [&] { rdb->SyncWAL(); };
  }
  std::atomic<bool> stop{false};
  std::thread syncer;
  if (mode == "everysec") {
    syncer = std::thread([&] {
      while (!stop) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        sync();
      }
    });
  }
  long rss0 = rss_kib("VmRSS:");
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    unsigned topic = unsigned(i % 100);
    unsigned long seq = unsigned(i / 100) + 1;
    put(key(topic, seq));
    if (seq > 1000)
      del(key(topic, seq - 1000));
    if (mode == "always" && i % 32 == 31)
      sync();
  }
  auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  if (syncer.joinable())
    syncer.join();
  std::printf("%s %s: %ld records in %.2f s = %.0f/s, RSS %ld -> %ld KiB (peak %ld)\n",
              kind.c_str(), mode.c_str(), n, s, n / s, rss0, rss_kib("VmRSS:"), rss_kib("VmHWM:"));
  if (rdb)
    delete rdb;
  if (db)
    sqlite3_close(db);
  if (env)
    mdb_env_close(env);
}
