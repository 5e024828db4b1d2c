#include "server/logging.hpp"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/access_log.hpp"

namespace sb::server {
namespace {

/// Lines waiting for the logging thread; past this the oldest are dropped (and counted) rather
/// than a loop waiting for stdout.
constexpr std::size_t log_queue_lines = 16384;

/// `%*` in a JSON pattern: the message as the contents of a JSON string.
class json_message_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string s;
    io::append_json_string(s, std::string_view(msg.payload.data(), msg.payload.size()));
    // Without the quotes: the pattern has them.
    dest.append(s.data() + 1, s.data() + s.size() - 1);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

constexpr const char* json_time = R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n",)";

/// `fields`: the payload is already JSON fields ("msg":"request","status":200…), written as is;
/// otherwise it is text, escaped into "msg". `raw`: the payload is complete lines.
std::unique_ptr<spdlog::formatter> formatter_for(bool json, bool fields, bool raw = false) {
  if (raw) {
    return std::make_unique<spdlog::pattern_formatter>("%v", spdlog::pattern_time_type::local,
                                                       std::string());
  }
  if (!json) {
    return std::make_unique<spdlog::pattern_formatter>("[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %v");
  }
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<json_message_flag>('*');
  f->set_pattern(std::string(json_time) + (fields ? "%v}" : R"("msg":"%*"})"));
  return f;
}

/// Flushes the sinks within a second of a line written to them, and sleeps while nothing is
/// written: spdlog::flush_every would wake its thread, and through it the logging thread, every
/// second of an idle server's life.
class lazy_flusher {
 public:
  ~lazy_flusher() { stop(); }

  /// Before any line is logged.
  void add(spdlog::sink_ptr sink) {
    std::lock_guard lock(mutex_);
    sinks_.push_back(std::move(sink));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { run(); });
    }
  }
  /// A line was written (the logging thread).
  void noted() {
    if (!dirty_.exchange(true)) {
      std::lock_guard lock(mutex_);
      wake_.notify_one();
    }
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopped_) {
      wake_.wait(lock, [this] { return stopped_ || dirty_.load(); });
      // A second's lines go out together, as with flush_every (warnings are flushed at once by
      // flush_on).
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopped_; });
      dirty_.store(false);
      for (auto& sink : sinks_) {
        sink->flush();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<spdlog::sink_ptr> sinks_;
  std::atomic<bool> dirty_{false};
  bool stopped_ = false;
  std::thread thread_;
};

lazy_flusher& flusher() {
  static lazy_flusher f;
  return f;
}

/// `Sink`, telling the flusher of every line it writes.
template <class Sink>
class noted_sink final : public Sink {
 public:
  using Sink::Sink;
  void log(const spdlog::details::log_msg& msg) override {
    Sink::log(msg);
    flusher().noted();
  }
};

/// A sink of its own per logger (a sink holds the formatter), all writing stdout under spdlog's
/// one console mutex. Colours only in text and only on a terminal (the colour sink checks).
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, bool json, bool fields,
                                            bool raw = false) {
  spdlog::sink_ptr sink;
  if (json) {
    sink = std::make_shared<noted_sink<spdlog::sinks::stdout_sink_mt>>();
  } else {
    sink = std::make_shared<noted_sink<spdlog::sinks::stdout_color_sink_mt>>();
  }
  flusher().add(sink);
  auto logger = std::make_shared<spdlog::async_logger>(
      name, std::move(sink), spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  logger->set_formatter(formatter_for(json, fields, raw));
  return logger;
}

std::shared_ptr<spdlog::logger> config_logger;

}  // namespace

void setup_logging(const config& c) {
  bool json = c.log_format == "json";
  spdlog::init_thread_pool(log_queue_lines, 1);
  auto level = spdlog::level::from_str(c.log_level);
  auto main = make_logger("switchboard", json, false);
  main->set_level(level);
  // Warnings and errors reach the terminal or journal at once; the rest within a second.
  main->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(main);

  auto access = make_logger("access", json, json, true);
  access->set_level(level);
  spdlog::register_logger(access);
  config_logger = make_logger("config", json, json);
  config_logger->set_level(level);
  spdlog::register_logger(config_logger);

  io::access_log_settings s;
  s.format = json ? io::log_format::json : io::log_format::text;
  s.level = spdlog::level::from_str(c.access_log_level);
  s.sample = c.access_log_sample;
  s.logger = access;
  for (const auto& e : config_table()) {
    if (!e.secret) {
      continue;
    }
    auto value = shown_value(c, e);
    using list_slot = config_entry::slot<std::vector<std::string>>;
    if (std::holds_alternative<list_slot>(e.field)) {
      // The slot reads and writes; here it is only read.
      for (const auto& item : std::get<list_slot>(e.field)(const_cast<config&>(c))) {
        s.secrets.push_back(item);
      }
    } else if (!value.empty()) {
      s.secrets.push_back(value);
    }
  }
  io::configure_access_log(std::move(s));
}

void log_effective_config(const config& c) {
  bool json = c.log_format == "json";
  std::string line = json ? R"("msg":"config")" : "config";
  for (const auto& e : config_table()) {
    auto value = shown_value(c, e);
    if (e.secret && !value.empty()) {
      value = "REDACTED";
    }
    if (json) {
      line.append(",");
      io::append_json_string(line, e.key);
      line.append(":");
      io::append_json_string(line, value);
    } else {
      line.append(" ").append(e.key).append("=");
      if (!value.empty() && value.find_first_of(" \"\\=") == std::string::npos) {
        line.append(value);
      } else {
        io::append_json_string(line, value);
      }
    }
  }
  config_logger->info("{}", line);
}

std::uint64_t log_lines_dropped() {
  auto pool = spdlog::thread_pool();
  return pool ? pool->overrun_counter() : 0;
}

void shutdown_logging() {
  io::flush_access_log();  // lines of streams that ended as the server was torn down
  flusher().stop();
  spdlog::shutdown();
}

}  // namespace sb::server
