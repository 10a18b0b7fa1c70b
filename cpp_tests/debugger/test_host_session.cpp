// HostSession, the I/O-free host core, driven by a scripted target (the
// target role of core/link answering from a small memory) and a fake clock,
// as LLDB's gdb-remote tests drive their client. Each case is one thing a
// user met: stale stops, malformed replies that hung, refusals that hung,
// a flipped ACK that stepped twice, storms that grew without bound.
#include <boost/test/unit_test.hpp>
#include <functional>

#include "core/debugger/host_session.hpp"

using namespace openkd;
using namespace openkd::debugger;
using wire::kdcom::PacketType;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kBase = 0xFFFFF80000400000;

/// A target stub: core/link in the target role plus a few DbgKd handlers.
struct FakeTarget {
  explicit FakeTarget(link::IdScheme scheme = link::IdScheme::Kdcom) : link(link::LinkConfig::target(scheme)) {}
  link::Link link;
  std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(0x4000, 0xAB);
  int continues = 0;            // Continue2 requests acted on
  std::uint64_t pc = kBase + 0x100;
  bool running = false;
  std::uint16_t machine = 0x8664;
  // Hooks: replace the answer to one API (return true when handled).
  std::function<bool(const wire::Manipulate&, FakeTarget&)> on_request;
  // Every frame the target writes passes here (a fault injector can change it).
  std::function<void(wire::Bytes&)> corrupt;
  std::vector<wire::Manipulate> requests;
  int break_ins_to_ignore = 0;  // busy in a packet exchange: the byte is line noise
  int break_ins = 0;

  void send(PacketType t, wire::Bytes body, TimePoint now) { (void)link.send(t, std::move(body), now); }
  void report_stop(TimePoint now, std::uint32_t code = wire::kExceptionBreakpoint) {
    wire::StateChange s;
    s.number_processors = 1;
    s.program_counter = pc;
    wire::ExceptionState e;
    e.record.code = code;
    e.record.address = pc;
    s.state = e;
    running = false;
    send(PacketType::StateChange64, wire::encode(s), now);
  }
  void print(TimePoint now, std::string text) {
    wire::DebugIo d;
    d.api = wire::kDebugIoPrintString;
    d.text = std::move(text);
    send(PacketType::DebugIo, wire::encode(d), now);
  }
  void reply(wire::Manipulate r, TimePoint now) { send(PacketType::StateManipulate, wire::encode(r), now); }
  void reply_raw(wire::Bytes body, TimePoint now) { send(PacketType::StateManipulate, std::move(body), now); }

  void on_manipulate(const wire::Manipulate& m, TimePoint now) {
    requests.push_back(m);
    if (on_request && on_request(m, *this)) return;
    wire::Manipulate r = m;
    r.data.clear();
    r.return_status = wire::kStatusSuccess;
    switch (static_cast<wire::Api>(m.api)) {
      case wire::Api::GetVersion: {
        wire::GetVersion64 v;
        v.major_version = 0xF;
        v.minor_version = 19041;
        v.machine_type = machine;
        r.args = v;
        break;
      }
      case wire::Api::ReadVirtualMemory: {
        auto t = std::get<wire::MemoryTransfer>(m.args);
        std::uint64_t off = t.target_base_address - kBase;
        std::uint32_t n = off < memory.size() ? std::uint32_t(std::min<std::uint64_t>(t.transfer_count, memory.size() - off)) : 0;
        if (n) r.data.assign(memory.begin() + off, memory.begin() + off + n);
        t.actual_bytes = n;
        r.args = t;
        if (!n) r.return_status = wire::kStatusUnsuccessful;
        break;
      }
      case wire::Api::WriteVirtualMemory: {
        auto t = std::get<wire::MemoryTransfer>(m.args);
        std::uint64_t off = t.target_base_address - kBase;
        std::copy(m.data.begin(), m.data.end(), memory.begin() + off);
        t.actual_bytes = std::uint32_t(m.data.size());
        r.args = t;
        break;
      }
      case wire::Api::Continue2: {
        ++continues;
        auto c = std::get<wire::Continue2Args>(m.args);
        running = true;
        if (c.trace_flag) {  // one instruction, then a single-step stop
          pc += 1;
          report_stop(now, wire::kExceptionSingleStep);
        }
        return;
      }
      default:
        r.return_status = wire::kStatusNotImplemented;
    }
    reply(std::move(r), now);
  }

  void receive(wire::ByteView bytes, TimePoint now) {
    link.on_receive(bytes, now);
    while (auto e = link.take_event()) {
      if (std::holds_alternative<link::BreakInReceived>(*e)) {
        ++break_ins;
        if (break_ins_to_ignore > 0) --break_ins_to_ignore;
        else if (running) report_stop(now);
        continue;
      }
      if (auto* p = std::get_if<link::PacketReceived>(&*e); p && p->packet.type == PacketType::StateManipulate) {
        auto m = wire::decode_manipulate(p->packet.body);
        if (m) on_manipulate(*m, now);
      }
    }
  }
};

/// The host core and the target joined by a perfect wire, with a fake clock.
struct Rig {
  HostSession host;
  FakeTarget target;
  TimePoint now{};
  std::vector<HostEvent> events;

  explicit Rig(HostConfig c = {}) : host(c), target(c.scheme) {}

  /// Moves bytes both ways until both sides are quiet.
  void exchange() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      while (auto f = host.take_frame()) {
        target.receive(*f, now);
        moved = true;
      }
      while (auto f = target.link.take_frame()) {
        if (target.corrupt) target.corrupt(*f);
        host.on_bytes(*f, now);
        moved = true;
      }
      while (auto e = host.take_event()) events.push_back(std::move(*e));
      if (!moved) return;
    }
  }
  /// Lets `d` of fake time pass in small steps, with timers on both sides.
  void advance(std::chrono::milliseconds d) {
    auto end = now + d;
    while (now < end) {
      now += 50ms;
      host.on_timer(now);
      target.link.on_timer(now);
      exchange();
    }
  }
  /// Connects and takes the target's first stop.
  void attach() {
    host.on_connected(now);
    exchange();
    target.report_stop(now);
    exchange();
    BOOST_REQUIRE(host.stopped());
    events.clear();
  }
  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
    return out;
  }
  /// The answer to request `id` (ReplyReady, Stopped or RequestFailed), if any.
  const HostEvent* answer(RequestId id) const {
    for (const auto& e : events) {
      if (auto* r = std::get_if<ReplyReady>(&e); r && r->id == id) return &e;
      if (auto* s = std::get_if<Stopped>(&e); s && s->id == id) return &e;
      if (auto* f = std::get_if<RequestFailed>(&e); f && f->id == id) return &e;
    }
    return nullptr;
  }
};

wire::Manipulate make(wire::Api api) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(api);
  m.args = wire::args_for_api(m.api);
  return m;
}
wire::Manipulate continue2(bool step) {
  auto m = make(wire::Api::Continue2);
  wire::Continue2Args c;
  c.continue_status = wire::kDbgContinue;
  c.trace_flag = step;
  m.args = c;
  return m;
}
wire::Manipulate read_request(std::uint64_t address, std::uint32_t n) {
  auto m = make(wire::Api::ReadVirtualMemory);
  m.args = wire::MemoryTransfer{address, n, 0};
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(host_session)

BOOST_AUTO_TEST_CASE(a_read_is_answered_with_the_target_bytes) {
  Rig rig;
  rig.attach();
  rig.target.memory[0x10] = 0x42;
  auto id = rig.host.submit(read_request(kBase + 0x10, 4), Expect::Reply, rig.now);
  rig.exchange();
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  auto* r = std::get_if<ReplyReady>(a);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->reply.data.size() == 4u);
  BOOST_TEST(r->reply.data[0] == 0x42);
}

BOOST_AUTO_TEST_CASE(the_traffic_record_names_packets_and_stays_bounded) {
  Rig rig;
  rig.attach();
  auto id = rig.host.submit(read_request(kBase + 0x10, 4), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(id));
  const auto& t = rig.host.traffic();
  BOOST_REQUIRE(t.size() >= 3u);  // the attach stop, the request, its reply
  const TrafficEntry& sent = t[t.size() - 2];
  const TrafficEntry& got = t.back();
  BOOST_TEST(sent.outgoing);
  BOOST_TEST(!got.outgoing);
  BOOST_TEST(got.api == static_cast<std::uint32_t>(wire::Api::ReadVirtualMemory));
  BOOST_TEST(got.status == wire::kStatusSuccess);
  BOOST_TEST(to_string(sent) == "-> KD_STATE_MANIPULATE ReadVirtualMemory len 56");
  BOOST_TEST(to_string(got).find("<- KD_STATE_MANIPULATE id 0x") == 0u);
  BOOST_TEST(to_string(got).find("ReadVirtualMemory status 00000000 len 60") != std::string::npos);
  // A read the target refuses shows its status.
  auto bad = rig.host.submit(read_request(kBase + 0x100000, 4), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(bad));
  BOOST_TEST(rig.host.traffic().back().status == wire::kStatusUnsuccessful);
  for (int i = 0; i < 400; ++i) {
    rig.host.submit(read_request(kBase, 4), Expect::Reply, rig.now);
    rig.exchange();
  }
  BOOST_TEST(rig.host.traffic().size() == HostSession::kTrafficRecord);
}

BOOST_AUTO_TEST_CASE(a_stop_resent_after_a_reset_is_not_the_next_resume_result) {
  // A target that sends its state change again on every RESET (or on a
  // break-in byte while stopped): the copies are stray stops; `g` returns the
  // stop that came after it.
  Rig rig;
  rig.attach();
  const auto strays = rig.host.counters().stray_stops;  // the first stop (attach) was one
  rig.target.pc = kBase + 0x111;
  rig.target.report_stop(rig.now);  // a stop nobody asked for, while stopped
  rig.exchange();
  BOOST_TEST(rig.all<Stopped>().size() == 1u);
  BOOST_TEST(rig.all<Stopped>()[0].id == 0u);
  rig.events.clear();

  auto id = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  BOOST_TEST(!rig.answer(id));  // running: nothing yet
  rig.target.pc = kBase + 0x222;
  rig.target.report_stop(rig.now);
  rig.exchange();
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  BOOST_TEST(std::get<Stopped>(*a).change.program_counter == kBase + 0x222);
  BOOST_TEST(rig.host.counters().stray_stops == strays + 1);
}

BOOST_AUTO_TEST_CASE(a_second_request_while_a_resume_waits_is_refused) {
  Rig rig;
  rig.attach();
  auto first = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  auto second = rig.host.submit(read_request(kBase, 1), Expect::Reply, rig.now);
  rig.exchange();
  auto* refused = rig.answer(second);
  BOOST_REQUIRE(refused);
  BOOST_TEST((std::get<RequestFailed>(*refused).error.kind == ErrorKind::Busy));
  rig.target.report_stop(rig.now);
  rig.exchange();
  BOOST_TEST(rig.answer(first));
}

BOOST_AUTO_TEST_CASE(a_flood_of_stops_while_stopped_keeps_one) {
  Rig rig;
  rig.attach();
  const auto strays = rig.host.counters().stray_stops;
  for (int i = 0; i < 2000; ++i) {
    rig.target.pc = kBase + std::uint64_t(i);
    rig.target.report_stop(rig.now);
    // Deliver without draining host events, as a runner that is behind would.
    for (int round = 0; round < 10; ++round) {
      while (auto f = rig.host.take_frame()) rig.target.receive(*f, rig.now);
      while (auto f = rig.target.link.take_frame()) rig.host.on_bytes(*f, rig.now);
    }
  }
  int stops = 0;
  std::uint64_t last_pc = 0;
  while (auto e = rig.host.take_event())
    if (auto* s = std::get_if<Stopped>(&*e)) {
      ++stops;
      last_pc = s->change.program_counter;
    }
  BOOST_TEST(stops == 1);
  BOOST_TEST(last_pc == kBase + 1999);
  BOOST_TEST(rig.host.counters().stray_stops == strays + 2000);
}

BOOST_AUTO_TEST_CASE(a_reply_that_disagrees_with_its_length_fails_at_once) {
  // A write reply saying TransferCount 4 with 2 bytes after it.
  Rig rig;
  rig.attach();
  rig.target.on_request = [&](const wire::Manipulate& m, FakeTarget& t) {
    if (m.api != static_cast<std::uint32_t>(wire::Api::WriteVirtualMemory)) return false;
    wire::Manipulate r = m;
    r.data = {1, 2};
    r.args = wire::MemoryTransfer{kBase, 4, 2};
    auto body = wire::encode(r);
    t.reply_raw(body, rig.now);
    return true;
  };
  auto m = make(wire::Api::WriteVirtualMemory);
  m.args = wire::MemoryTransfer{kBase, 4, 0};
  m.data = {1, 2, 3, 4};
  auto id = rig.host.submit(m, Expect::Reply, rig.now);
  rig.exchange();  // no time passes
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  auto& f = std::get<RequestFailed>(*a);
  BOOST_TEST((f.error.kind == ErrorKind::Malformed));
  BOOST_TEST(f.error.message.find("WriteVirtualMemory") != std::string::npos);
  BOOST_TEST(f.error.message.find("malformed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_refused_bugcheck_and_reboot_are_errors_with_their_status) {
  for (auto api : {wire::Api::CauseBugCheck, wire::Api::Reboot}) {
    Rig rig;
    rig.attach();
    rig.target.on_request = [&](const wire::Manipulate& m, FakeTarget& t) {
      wire::Manipulate r = m;
      r.return_status = 0xC0000022;  // STATUS_ACCESS_DENIED
      t.reply(r, rig.now);
      return true;
    };
    auto id = rig.host.submit(make(api), Expect::Stop, rig.now);
    rig.exchange();
    auto* a = rig.answer(id);
    BOOST_REQUIRE(a);
    auto& f = std::get<RequestFailed>(*a);
    BOOST_TEST((f.error.kind == ErrorKind::Status));
    BOOST_TEST(f.error.ntstatus == 0xC0000022u);
    BOOST_TEST(rig.host.stopped());  // still at the prompt: it never ran
  }
}

BOOST_AUTO_TEST_CASE(a_switch_processor_answered_with_a_reply_fails_at_once) {
  Rig rig;
  rig.attach();
  rig.target.on_request = [&](const wire::Manipulate& m, FakeTarget& t) {
    t.reply(m, rig.now);  // echoes the request as a (success) reply
    return true;
  };
  auto id = rig.host.submit(make(wire::Api::SwitchProcessor), Expect::Stop, rig.now, rig.now + 10s);
  rig.exchange();
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  BOOST_TEST(std::holds_alternative<RequestFailed>(*a));
}

BOOST_AUTO_TEST_CASE(a_missing_reply_fails_at_its_deadline_not_later) {
  HostConfig c;
  c.request_timeout = 2s;
  Rig rig(c);
  rig.attach();
  rig.target.on_request = [](const wire::Manipulate&, FakeTarget&) { return true; };  // never answers
  auto id = rig.host.submit(read_request(kBase, 8), Expect::Reply, rig.now);
  rig.exchange();
  rig.advance(1900ms);
  BOOST_TEST(!rig.answer(id));
  rig.advance(200ms);
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  BOOST_TEST((std::get<RequestFailed>(*a).error.kind == ErrorKind::Timeout));
}

BOOST_AUTO_TEST_CASE(a_flipped_ack_does_not_step_twice) {
  // KDCOM control packets have no checksum: the target's ACK of our
  // Continue2 arrives as a RESET (type 4 -> 6). The step must run once and
  // its stop must be the answer.
  Rig rig;
  rig.attach();
  rig.advance(5s);  // long after synchronisation: no RESET of ours is outstanding
  bool flipped = false;
  rig.target.corrupt = [&](wire::Bytes& f) {
    // Control packet: leader 69 69 69 69, type (2 bytes) at offset 4.
    if (!flipped && f.size() >= 6 && f[0] == 0x69 && f[4] == 4 && rig.target.continues == 1) {
      f[4] = 6;
      flipped = true;
    }
  };
  auto pc0 = rig.target.pc;
  auto id = rig.host.submit(continue2(true), Expect::Stop, rig.now);
  rig.exchange();
  rig.advance(5s);
  BOOST_TEST(flipped);
  BOOST_TEST(rig.target.continues == 1);
  BOOST_TEST(rig.target.pc == pc0 + 1);
  auto* a = rig.answer(id);
  BOOST_REQUIRE(a);
  BOOST_TEST(std::get<Stopped>(*a).change.program_counter == pc0 + 1);
  BOOST_TEST(rig.host.link_counters().unexpected_resets == 1u);
  // And the session goes on: a read after it is answered.
  rig.events.clear();
  auto rid = rig.host.submit(read_request(kBase, 4), Expect::Reply, rig.now);
  rig.exchange();
  rig.advance(3s);
  BOOST_REQUIRE(rig.answer(rid));
  BOOST_TEST(std::holds_alternative<ReplyReady>(*rig.answer(rid)));
}

BOOST_AUTO_TEST_CASE(a_print_flood_is_bounded_and_coalesced) {
  HostConfig c;
  c.max_print_bytes = 64 * 1024;
  Rig rig(c);
  rig.attach();
  rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  rig.events.clear();
  for (int i = 0; i < 20000; ++i) {
    rig.target.print(rig.now, "0123456789abcdef\n");  // 17 bytes
    for (int round = 0; round < 4; ++round) {
      while (auto f = rig.host.take_frame()) rig.target.receive(*f, rig.now);
      while (auto f = rig.target.link.take_frame()) rig.host.on_bytes(*f, rig.now);
    }
  }
  std::size_t events = 0, bytes = 0;
  while (auto e = rig.host.take_event()) {
    ++events;
    if (auto* p = std::get_if<Printed>(&*e)) bytes += p->text.size();
  }
  BOOST_TEST(bytes <= 64u * 1024u);
  BOOST_TEST(events <= 2u);  // coalesced into one Printed event
  BOOST_TEST(rig.host.counters().print_bytes_dropped == 20000u * 17u - bytes);
  // Every print was ACKed: the target is not stuck retrying.
  BOOST_TEST(rig.target.link.pending_sends() == 0u);
}

BOOST_AUTO_TEST_CASE(a_prompt_is_answered_once_and_a_new_one_replaces_the_old) {
  Rig rig;
  rig.attach();
  rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  wire::DebugIo d;
  d.api = wire::kDebugIoGetString;
  d.text = "Boot? ";
  d.length_of_string_read = 4;
  for (int i = 0; i < 3; ++i) rig.target.send(PacketType::DebugIo, wire::encode(d), rig.now);
  rig.exchange();
  auto asks = rig.all<PromptAsked>();
  BOOST_REQUIRE(!asks.empty());
  rig.host.answer_prompt(asks.front().id, "stale", rig.now);  // an old id: ignored
  rig.host.answer_prompt(asks.back().id, "yes-and-more", rig.now);
  rig.host.answer_prompt(asks.back().id, "again", rig.now);  // already answered
  int answers = 0;
  std::string text;
  while (auto f = rig.host.take_frame()) {
    rig.target.link.on_receive(*f, rig.now);
    while (auto e = rig.target.link.take_event())
      if (auto* p = std::get_if<link::PacketReceived>(&*e); p && p->packet.type == PacketType::DebugIo) {
        ++answers;
        text = wire::decode_debug_io(p->packet.body)->text;
      }
  }
  BOOST_TEST(answers == 1);
  BOOST_TEST(text == "yes-");  // cut to LengthOfStringRead
}

BOOST_AUTO_TEST_CASE(a_lost_transport_fails_the_request_and_a_reconnect_goes_on) {
  Rig rig;
  rig.attach();
  rig.target.on_request = [](const wire::Manipulate&, FakeTarget&) { return true; };
  auto id = rig.host.submit(read_request(kBase, 8), Expect::Reply, rig.now);
  rig.exchange();
  rig.host.on_disconnected("pipe /tmp/x: end of file", rig.now);
  auto* a = rig.answer(id);
  while (auto e = rig.host.take_event()) rig.events.push_back(std::move(*e));
  a = rig.answer(id);
  BOOST_REQUIRE(a);
  BOOST_TEST((std::get<RequestFailed>(*a).error.kind == ErrorKind::Disconnected));
  BOOST_TEST(rig.all<TargetLost>().size() == 1u);
  // A restarted target on a new transport.
  rig.target = FakeTarget{};
  rig.events.clear();
  rig.host.on_connected(rig.now);
  rig.exchange();
  rig.target.report_stop(rig.now);
  rig.exchange();
  auto rid = rig.host.submit(read_request(kBase, 4), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(rid));
  BOOST_TEST(std::holds_alternative<ReplyReady>(*rig.answer(rid)));
}

BOOST_AUTO_TEST_CASE(nothing_is_sent_while_running_or_disconnected) {
  Rig rig;
  auto id = rig.host.submit(read_request(kBase, 4), Expect::Reply, rig.now);
  while (auto e = rig.host.take_event()) rig.events.push_back(std::move(*e));
  BOOST_TEST((std::get<RequestFailed>(*rig.answer(id)).error.kind == ErrorKind::Disconnected));
  rig.attach();
  rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  auto id2 = rig.host.submit(read_request(kBase, 4), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_TEST((std::get<RequestFailed>(*rig.answer(id2)).error.kind == ErrorKind::Busy));
}

BOOST_AUTO_TEST_CASE(the_same_session_runs_over_the_kdnet_id_scheme) {
  // KDNET carries one KD packet per datagram with ids counting by 2 (docs/protocol.md section 6).
  HostConfig c;
  c.scheme = link::IdScheme::Kdnet;
  Rig rig(c);
  rig.attach();
  rig.target.memory[0x20] = 0x5A;
  auto id = rig.host.submit(read_request(kBase + 0x20, 2), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(id));
  BOOST_TEST(std::get<ReplyReady>(*rig.answer(id)).reply.data[0] == 0x5A);
  rig.target.report_stop(rig.now);  // stray while stopped
  rig.exchange();
  auto go = rig.host.submit(continue2(true), Expect::Stop, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(go));
  BOOST_TEST(std::get<Stopped>(*rig.answer(go)).change.program_counter == kBase + 0x101);
}

BOOST_AUTO_TEST_CASE(a_new_session_fails_a_pending_reply_and_starts_a_fresh_link) {
  // A KDNET target that booted again (the transport reports a new session):
  // the read it never saw fails at once; the new target's link synchronises
  // and its first stop is reported.
  HostConfig c;
  c.scheme = link::IdScheme::Kdnet;
  Rig rig(c);
  rig.attach();
  auto id = rig.host.submit(read_request(kBase + 0x20, 2), Expect::Reply, rig.now);
  rig.host.on_new_session(rig.now);
  while (auto e = rig.host.take_event()) rig.events.push_back(std::move(*e));
  BOOST_REQUIRE(rig.answer(id));
  const auto& failed = std::get<RequestFailed>(*rig.answer(id));
  BOOST_TEST(failed.error.message.find("new session") != std::string::npos);
  BOOST_TEST(!rig.host.stopped());
  rig.target.link = link::Link(link::LinkConfig::target(link::IdScheme::Kdnet));  // the booted target
  rig.target.report_stop(rig.now);
  rig.exchange();
  rig.advance(1s);
  BOOST_TEST(rig.host.stopped());
  BOOST_TEST(rig.all<Stopped>().size() == 1u);
  auto again = rig.host.submit(read_request(kBase + 0x20, 2), Expect::Reply, rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(again));
  BOOST_TEST(std::holds_alternative<ReplyReady>(*rig.answer(again)));
}

BOOST_AUTO_TEST_CASE(a_new_session_answers_a_pending_resume_with_the_new_targets_stop) {
  HostConfig c;
  c.scheme = link::IdScheme::Kdnet;
  Rig rig(c);
  rig.attach();
  auto go = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  BOOST_TEST(!rig.answer(go));
  rig.host.on_new_session(rig.now);
  rig.target.link = link::Link(link::LinkConfig::target(link::IdScheme::Kdnet));
  rig.target.report_stop(rig.now);
  rig.exchange();
  rig.advance(1s);
  BOOST_REQUIRE(rig.answer(go));
  BOOST_TEST(std::holds_alternative<Stopped>(*rig.answer(go)));
}

BOOST_AUTO_TEST_CASE(a_break_in_the_target_misses_is_repeated_until_it_stops) {
  Rig rig;
  rig.attach();
  auto id = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  rig.target.break_ins_to_ignore = 2;
  rig.host.break_in(rig.now);
  rig.exchange();
  BOOST_TEST(!rig.answer(id));
  rig.advance(2500ms);
  BOOST_TEST(rig.target.break_ins == 3);
  BOOST_REQUIRE(rig.answer(id));
  rig.advance(3s);
  BOOST_TEST(rig.target.break_ins == 3);  // stopped: no more
  // That stop answered a break-in; the next one, with none asked for, did not.
  BOOST_TEST(std::get<Stopped>(*rig.answer(id)).break_requested);
  auto again = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  rig.target.break_ins_to_ignore = 0;
  rig.host.break_in(rig.now);
  rig.exchange();
  BOOST_REQUIRE(rig.answer(again));
  BOOST_TEST(std::get<Stopped>(*rig.answer(again)).break_requested);
}

BOOST_AUTO_TEST_CASE(a_stop_without_a_break_in_is_not_the_users) {
  Rig rig;
  rig.attach();
  auto id = rig.host.submit(continue2(false), Expect::Stop, rig.now);
  rig.exchange();
  rig.target.report_stop(rig.now);  // a breakpoint, say
  rig.exchange();
  BOOST_REQUIRE(rig.answer(id));
  BOOST_TEST(!std::get<Stopped>(*rig.answer(id)).break_requested);
}

BOOST_AUTO_TEST_SUITE_END()
