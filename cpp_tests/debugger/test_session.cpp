// KdSession against a scripted target: the target role of core/link on the other
// end of a socketpair, answering from its own memory. Checks what a user sees:
// bytes read are the target's bytes, writes land, stops arrive, prints arrive.
#define BOOST_TEST_MODULE debugger
#include <boost/test/unit_test.hpp>
#include <atomic>
#include <map>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "backends/stream.hpp"
#include "core/debugger/session.hpp"
#include "core/link/link.hpp"

using namespace openkd;
using wire::kdcom::PacketType;
namespace asio = boost::asio;

namespace {

constexpr std::uint64_t kBase = 0xFFFFF80000400000;

/// A minimal KD target: one CPU, 64 KiB of memory at kBase, a breakpoint table.
class ScriptedTarget {
public:
  explicit ScriptedTarget(int fd) : fd_(fd), link_(link::LinkConfig::target(link::IdScheme::Kdcom)) {
    memory_.resize(0x10000);
    for (std::size_t i = 0; i < memory_.size(); ++i) memory_[i] = std::uint8_t(i * 7 + 3);
    memory_[0] = 'M';
    memory_[1] = 'Z';
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedTarget() {
    done_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::vector<std::uint8_t> memory_;
  std::atomic<int> continues{0};
  std::uint16_t machine_type = 0x8664;     // set before start()
  std::uint32_t control_space_bytes = 224;  // KSPECIAL_REGISTERS; some targets send 216
  bool prompt_on_continue = false;          // the target waits in DbgPrompt instead of stopping

private:
  void send(PacketType t, wire::Bytes body) {
    (void)link_.send(t, std::move(body), link::TimePoint{} + elapsed_);
  }
  void report_stop(std::uint32_t code, std::uint64_t pc) {
    wire::StateChange s;
    s.number_processors = 1;
    s.program_counter = pc;
    wire::ExceptionState e;
    e.record.code = code;
    e.record.address = pc;
    s.state = e;
    send(PacketType::StateChange64, wire::encode(s));
  }
  void on_manipulate(const wire::Manipulate& m) {
    wire::Manipulate r = m;
    r.data.clear();
    r.return_status = wire::kStatusSuccess;
    switch (static_cast<wire::Api>(m.api)) {
      case wire::Api::GetVersion: {
        wire::GetVersion64 v;
        v.major_version = 0x000F;
        v.minor_version = 19041;
        v.machine_type = machine_type;
        v.flags = wire::kVersionFlagPtr64 | wire::kVersionFlagData;
        v.kern_base = kBase;
        v.ps_loaded_module_list = kBase + 0x1000;
        r.args = v;
        break;
      }
      case wire::Api::ReadVirtualMemory: {
        auto t = std::get<wire::MemoryTransfer>(m.args);
        std::uint64_t off = t.target_base_address - kBase;
        std::uint32_t n = 0;
        if (t.target_base_address >= kBase && off < memory_.size())
          n = std::uint32_t(std::min<std::uint64_t>(t.transfer_count, memory_.size() - off));
        r.data.assign(memory_.begin() + off * (n > 0), memory_.begin() + off * (n > 0) + n);
        t.actual_bytes = n;
        r.args = t;
        if (n == 0) r.return_status = wire::kStatusUnsuccessful;
        break;
      }
      case wire::Api::WriteVirtualMemory: {
        auto t = std::get<wire::MemoryTransfer>(m.args);
        std::uint64_t off = t.target_base_address - kBase;
        std::uint32_t n = 0;
        if (t.target_base_address >= kBase && off < memory_.size())
          n = std::uint32_t(std::min<std::uint64_t>(m.data.size(), memory_.size() - off));
        std::copy_n(m.data.begin(), n, memory_.begin() + (n ? off : 0));
        t.actual_bytes = n;
        r.args = t;
        if (n == 0) r.return_status = wire::kStatusUnsuccessful;
        break;
      }
      case wire::Api::ReadControlSpace: {
        auto t = std::get<wire::MemoryTransfer>(m.args);
        std::uint32_t n = t.target_base_address == 2 ? std::min(t.transfer_count, control_space_bytes) : 8;
        r.data.assign(n, 0);
        if (t.target_base_address == 2) r.data[16] = 0x42;  // Cr3 (KSPECIAL_REGISTERS + 0x10) = 0x42
        t.actual_bytes = n;
        r.args = t;
        break;
      }
      case wire::Api::Continue2:
        ++continues;
        if (prompt_on_continue) {
          wire::DebugIo d;
          d.api = wire::kDebugIoGetString;
          d.text = "Answer? ";
          d.length_of_string_read = 16;
          send(PacketType::DebugIo, wire::encode(d));
          return;
        }
        pending_run_ = true;
        return;  // no reply: the target runs, then hits something
      default:
        r.return_status = wire::kStatusNotImplemented;
    }
    send(PacketType::StateManipulate, wire::encode(r));
  }
  void run() {
    bool announced = false;
    std::array<std::uint8_t, 4096> buf;
    while (!done_) {
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, 5);
      elapsed_ += std::chrono::milliseconds(5);
      if (ready > 0) {
        ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n <= 0) return;
        link_.on_receive(wire::ByteView(buf.data(), std::size_t(n)), link::TimePoint{} + elapsed_);
      }
      link_.on_timer(link::TimePoint{} + elapsed_);
      while (auto ev = link_.take_event()) {
        if (auto* pr = std::get_if<link::PacketReceived>(&*ev)) {
          if (pr->packet.type == PacketType::StateManipulate)
            if (auto m = wire::decode_manipulate(pr->packet.body)) on_manipulate(*m);
        } else if (std::holds_alternative<link::ResetReceived>(*ev) && !announced) {
          announced = true;
          report_stop(wire::kExceptionBreakpoint, kBase + 0x100);
        }
      }
      if (pending_run_ && link_.pending_sends() == 0) {
        pending_run_ = false;
        wire::DebugIo d;
        d.text = "hello from the target\n";
        send(PacketType::DebugIo, wire::encode(d));
        report_stop(wire::kExceptionBreakpoint, kBase + 0x200);
      }
      while (auto f = link_.take_frame()) {
        if (::write(fd_, f->data(), f->size()) < 0) return;
      }
    }
  }
  int fd_;
  link::Link link_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  bool pending_run_ = false;
  std::chrono::milliseconds elapsed_{0};
};

struct Pair {
  Pair() {
    int fds[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    target = std::make_unique<ScriptedTarget>(fds[0]);
    debugger::SessionOptions o;
    int fd = fds[1];
    o.request_timeout = std::chrono::milliseconds(5000);
    o.open = [fd]() -> asio::awaitable<std::expected<std::unique_ptr<openkd::io::ByteStream>, std::string>> {
      auto ex = co_await asio::this_coro::executor;
      co_return backends::stream_from_fd(ex, fd, "socketpair");
    };
    session = std::make_unique<debugger::KdSession>(std::move(o));
  }
  std::unique_ptr<ScriptedTarget> target;
  std::unique_ptr<debugger::KdSession> session;
};

}  // namespace

BOOST_AUTO_TEST_CASE(synchronises_and_reports_the_first_stop_and_version) {
  Pair p;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  auto stop = p.session->wait_for_stop(std::chrono::milliseconds(10000));
  BOOST_TEST_REQUIRE(stop.has_value(), (stop ? "" : stop.error().message));
  BOOST_TEST(stop->change.program_counter == kBase + 0x100);
  BOOST_TEST(p.session->version().kern_base == kBase);
  BOOST_TEST(p.session->version().minor_version == 19041);
}

BOOST_AUTO_TEST_CASE(reads_and_writes_match_target_memory_across_chunks) {
  Pair p;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  // 10000 bytes: three requests of at most 3944 bytes each.
  std::vector<std::uint8_t> got(10000);
  auto n = p.session->read_virtual(kBase + 5, got);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == got.size());
  BOOST_TEST(std::equal(got.begin(), got.end(), p.target->memory_.begin() + 5));

  std::vector<std::uint8_t> data(5000, 0x5A);
  auto w = p.session->write_virtual(kBase + 0x3000, data);
  BOOST_TEST_REQUIRE(w.has_value());
  BOOST_TEST(*w == data.size());
  std::vector<std::uint8_t> back(5000);
  BOOST_TEST(*p.session->read_virtual(kBase + 0x3000, back) == back.size());
  BOOST_TEST((back == data));
}

BOOST_AUTO_TEST_CASE(unreadable_memory_is_an_error_and_a_partial_read_is_short) {
  Pair p;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  std::vector<std::uint8_t> buf(16);
  auto bad = p.session->read_virtual(0x1000, buf);
  BOOST_TEST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().message.find("Memory access error") != std::string::npos);
  std::vector<std::uint8_t> tail(64);
  auto partial = p.session->read_virtual(kBase + 0x10000 - 16, tail);
  BOOST_TEST_REQUIRE(partial.has_value());
  BOOST_TEST(*partial == 16u);
}

BOOST_AUTO_TEST_CASE(resume_delivers_prints_then_the_next_stop) {
  Pair p;
  std::mutex m;
  std::string printed;
  p.session->set_callbacks({[&](std::string_view t) { std::lock_guard l(m); printed += t; }, nullptr, nullptr});
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  auto stop = p.session->resume({});
  BOOST_TEST_REQUIRE(stop.has_value(), (stop ? "" : stop.error().message));
  BOOST_TEST(stop->change.program_counter == kBase + 0x200);
  BOOST_TEST(p.target->continues.load() == 1);
  std::lock_guard l(m);
  BOOST_TEST(printed == "hello from the target\n");
}

BOOST_AUTO_TEST_CASE(an_api_the_target_lacks_is_an_error_with_its_status) {
  Pair p;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  auto r = p.session->read_msr(0xC0000082);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().ntstatus == wire::kStatusNotImplemented);
}

BOOST_AUTO_TEST_CASE(a_closed_transport_is_reported_not_hung) {
  int fds[2];
  BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  ::close(fds[0]);
  debugger::SessionOptions o;
  int fd = fds[1];
  o.open = [fd]() -> asio::awaitable<std::expected<std::unique_ptr<openkd::io::ByteStream>, std::string>> {
    auto ex = co_await asio::this_coro::executor;
    co_return backends::stream_from_fd(ex, fd, "socketpair");
  };
  debugger::KdSession s(std::move(o));
  BOOST_TEST_REQUIRE(s.start().has_value());
  auto stop = s.wait_for_stop(std::chrono::milliseconds(10000));
  BOOST_TEST_REQUIRE(!stop.has_value());
  BOOST_TEST(stop.error().message.find("lost") != std::string::npos, stop.error().message);
}

BOOST_AUTO_TEST_CASE(an_x86_target_is_refused_with_a_clear_message) {
  Pair p;
  p.target->machine_type = 0x014c;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  auto stop = p.session->wait_for_stop(std::chrono::milliseconds(10000));
  BOOST_TEST_REQUIRE(!stop.has_value());
  BOOST_TEST((stop.error().kind == debugger::ErrorKind::Unsupported));
  BOOST_TEST(stop.error().message.find("x86") != std::string::npos, stop.error().message);
}

BOOST_AUTO_TEST_CASE(a_short_control_space_reply_still_gives_cr3) {
  Pair p;
  p.target->control_space_bytes = 216;
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  auto s = p.session->get_special_registers();
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  BOOST_TEST(s->cr3 == 0x42u);
}

BOOST_AUTO_TEST_CASE(closing_while_a_prompt_waits_and_a_resume_waits_returns_promptly) {
  Pair p;
  p.target->prompt_on_continue = true;
  std::atomic<int> prompts{0};
  p.session->set_callbacks(debugger::TargetCallbacks{
      nullptr, [&](std::uint64_t, std::string_view, std::uint32_t) { ++prompts; }, nullptr});
  BOOST_TEST_REQUIRE(p.session->start().has_value());
  BOOST_TEST_REQUIRE(p.session->wait_for_stop(std::chrono::milliseconds(10000)).has_value());
  std::optional<debugger::Result<debugger::StopEvent>> resumed;
  std::thread engine([&] { resumed = p.session->resume(debugger::ResumeOptions{}); });
  for (int i = 0; i < 500 && prompts.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BOOST_TEST(prompts.load() == 1);
  auto t0 = std::chrono::steady_clock::now();
  p.session->close();  // the prompt is never answered; the resume never stops
  engine.join();
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)));
  BOOST_TEST_REQUIRE(resumed.has_value());
  BOOST_TEST(!resumed->has_value());
}
