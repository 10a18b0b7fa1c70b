// End to end: the kdsim executable on a Unix socket, and SimulatorThread's byte pipe.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <set>

#include "core/debugger/host_session.hpp"
#include "core/wire/kdcom.hpp"
#include "sim_host.hpp"
#include "simulator/simulator_thread.hpp"

using namespace openkd;
using namespace openkd::sim;
using Clock = std::chrono::steady_clock;

namespace {
/// A debugger over a byte transport with real time: the host session (the
/// same core kd runs on) and two callbacks.
struct WireHost {
  std::function<void(const wire::Bytes&)> write;
  std::function<wire::Bytes(int ms)> read;
  debugger::HostSession session;
  std::deque<wire::StateChange> changes;  // every stop, in order
  std::map<debugger::RequestId, wire::Manipulate> replies;
  std::set<debugger::RequestId> failed;

  void connect() { session.on_connected(Clock::now()); }
  /// One round: our frames out, the target's bytes in (waiting up to `ms`), timers, events.
  void step(int ms) {
    while (auto f = session.take_frame()) write(*f);
    auto in = read(ms);
    if (!in.empty()) session.on_bytes(in, Clock::now());
    session.on_timer(Clock::now());
    while (auto e = session.take_event()) {
      if (auto* s = std::get_if<debugger::Stopped>(&*e)) changes.push_back(s->change);
      else if (auto* r = std::get_if<debugger::ReplyReady>(&*e)) replies[r->id] = r->reply;
      else if (auto* f = std::get_if<debugger::RequestFailed>(&*e)) failed.insert(f->id);
      // What any debugger must answer: DbgPrompt (an empty line) and FILE_IO (no such file).
      else if (auto* q = std::get_if<debugger::PromptAsked>(&*e)) session.answer_prompt(q->id, {}, Clock::now());
      else if (auto* fr = std::get_if<debugger::FileRequested>(&*e)) {
        wire::FileIo f = fr->request;
        f.status = wire::kStatusNoSuchFile;
        f.path.clear();
        f.data.clear();
        session.answer_file(std::move(f), Clock::now());
      }
    }
    while (auto f = session.take_frame()) write(*f);
  }
  void run_for(std::chrono::milliseconds d) {
    for (auto end = Clock::now() + d; Clock::now() < end;) step(20);
  }
  std::optional<wire::StateChange> state_change(std::chrono::seconds limit = std::chrono::seconds(20)) {
    for (auto end = Clock::now() + limit; changes.empty() && Clock::now() < end;) step(20);
    if (changes.empty()) return std::nullopt;
    auto sc = changes.front();
    changes.pop_front();
    return sc;
  }
  std::optional<wire::Manipulate> request(const wire::Manipulate& m) {
    auto id = session.submit(m, debugger::Expect::Reply, Clock::now());
    for (auto end = Clock::now() + std::chrono::seconds(20); Clock::now() < end;) {
      step(20);
      if (auto it = replies.find(id); it != replies.end()) return it->second;
      if (failed.count(id)) return std::nullopt;
    }
    return std::nullopt;
  }
  void resume(const wire::Manipulate& m) { session.submit(m, debugger::Expect::Stop, Clock::now()); }
  void break_in() { session.break_in(Clock::now()); }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(kdsim_process)

BOOST_AUTO_TEST_CASE(simulator_thread_read_frames_keeps_link_frames_whole) {
  // What a datagram transport (KDNET) relies on: read_frames gives one link
  // frame per element, each a whole KD packet, never two and never a piece.
  SimulatorThread thread(test::make_simulator(test::options(1)));
  std::vector<wire::Bytes> frames;
  WireHost host;
  host.write = [&](const wire::Bytes& b) { thread.write(b); };
  host.read = [&](int ms) {
    wire::Bytes joined;
    for (auto& f : thread.read_frames(std::chrono::milliseconds(ms))) {
      joined.insert(joined.end(), f.begin(), f.end());
      frames.push_back(std::move(f));
    }
    return joined;
  };
  host.connect();
  BOOST_REQUIRE(host.state_change());
  wire::Manipulate v;
  v.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
  v.args = wire::GetVersion64{};
  BOOST_REQUIRE(host.request(v));
  BOOST_REQUIRE(frames.size() >= 3u);
  for (const auto& f : frames) {
    std::size_t packets = 0, other = 0;
    wire::kdcom::Parser parser([&](const wire::kdcom::FrameEvent& e) {
      if (e.kind == wire::kdcom::FrameEvent::Kind::Packet) ++packets;
      else ++other;
    });
    parser.push(f);
    BOOST_TEST(packets == 1u);
    BOOST_TEST(other == 0u);
  }
}

BOOST_AUTO_TEST_CASE(simulator_thread_byte_pipe) {
  SimulatorThread thread(test::make_simulator(test::options(2)));
  WireHost host;
  host.write = [&](const wire::Bytes& b) { thread.write(b); };
  host.read = [&](int ms) { return thread.read(std::chrono::milliseconds(ms)); };
  host.connect();
  auto sc = host.state_change();
  BOOST_REQUIRE(sc);
  BOOST_TEST(sc->number_processors == 2u);
  wire::Manipulate v;
  v.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
  v.args = wire::GetVersion64{};
  auto r = host.request(v);
  BOOST_REQUIRE(r);
  BOOST_TEST(std::get<wire::GetVersion64>(r->args).kern_base == kKernelBase);
  std::uint64_t seen = 1;
  thread.with([&](Simulator& s) { seen = s.machine().instructions(); });
  BOOST_TEST(seen == 0u);  // stopped at boot the whole time
  wire::Manipulate go;
  go.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  go.args = wire::Continue2Args{wire::kDbgContinue, 0, 0, 1, 0};
  host.resume(go);
  host.run_for(std::chrono::seconds(1));
  if (host.changes.empty()) host.break_in();
  auto brk = host.state_change();
  thread.with([&](Simulator& s) {
    BOOST_TEST_MESSAGE("break-ins " << s.stub().counters().break_ins << " state " << s.stub().state_name() << " pending " << s.stub().link().pending_sends()
                                    << " attached " << s.stub().attached() << " instr " << s.machine().instructions()
                                    << " breakins recv " << s.stub().link().counters().break_ins_received);
  });
  BOOST_TEST(brk.has_value());
}

#ifdef OPENKD_KDSIM_PATH
BOOST_AUTO_TEST_CASE(kdsim_serves_a_debugger_on_a_unix_socket) {
  char dir_template[] = "/tmp/kdsim-test-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir_template));
  std::string sock = std::string(dir_template) + "/kd.sock";
  int out[2];
  BOOST_REQUIRE(::pipe(out) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::execl(OPENKD_KDSIM_PATH, "kdsim", "--listen", ("pipe:" + sock).c_str(), "--break-on-boot", "--cpus", "2",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  char line[256]{};
  ssize_t n = ::read(out[0], line, sizeof line - 1);
  BOOST_REQUIRE(n > 0);
  BOOST_TEST(std::string(line).find("listening on pipe:" + sock) != std::string::npos);

  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  WireHost host;
  host.write = [&](const wire::Bytes& b) { [[maybe_unused]] auto w = ::write(fd, b.data(), b.size()); };
  host.read = [&](int ms) {
    pollfd p{fd, POLLIN, 0};
    wire::Bytes b;
    if (::poll(&p, 1, ms) > 0) {
      b.resize(65536);
      ssize_t got = ::read(fd, b.data(), b.size());
      b.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    }
    return b;
  };
  host.connect();
  auto sc = host.state_change();
  BOOST_REQUIRE(sc);
  BOOST_TEST(sc->number_processors == 2u);
  BOOST_TEST(std::get<wire::ExceptionState>(sc->state).record.code == wire::kExceptionBreakpoint);
  wire::Manipulate v;
  v.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
  v.args = wire::GetVersion64{};
  auto r = host.request(v);
  BOOST_REQUIRE(r);
  BOOST_TEST(std::get<wire::GetVersion64>(r->args).flags == 0x7);  // MP | DATA | PTR64
  // Continue, break in, and go away: kdsim keeps running.
  wire::Manipulate go;
  go.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  go.args = wire::Continue2Args{wire::kDbgContinue, 0, 0, 1, 0};
  host.resume(go);
  host.run_for(std::chrono::seconds(1));
  if (host.changes.empty()) host.break_in();
  BOOST_TEST(host.state_change().has_value());
  ::close(fd);
  ::usleep(100000);
  BOOST_REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  ::close(out[0]);
  std::filesystem::remove_all(dir_template);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
