#define BOOST_TEST_MODULE backends
#include <boost/test/unit_test.hpp>
#include <cstdlib>

#include "backends/connect_string.hpp"

using openkd::backends::ConnectSpec;
using openkd::backends::parse_connect_string;
using Kind = ConnectSpec::Kind;

namespace {
struct Good {
  const char* text;
  Kind kind;
  const char* path;
  unsigned port, baud;
  int resets;
  bool reconnect;
};
}  // namespace

BOOST_AUTO_TEST_CASE(every_good_form_parses) {
  const Good table[] = {
      {"com:pipe,port=/tmp/vm.sock", Kind::Pipe, "/tmp/vm.sock", 0, 115200, -1, false},
      {"com:pipe,port=/tmp/vm.sock,resets=0,reconnect", Kind::Pipe, "/tmp/vm.sock", 0, 115200, 0, true},
      {"COM:PIPE,Port=/tmp/A,Resets=5", Kind::Pipe, "/tmp/A", 0, 115200, 5, false},
      {"com:port=/dev/ttyS0,baud=115200", Kind::Serial, "/dev/ttyS0", 0, 115200, -1, false},
      {"com:port=/dev/pts/3,baud=9600", Kind::Serial, "/dev/pts/3", 0, 9600, -1, false},
      {"com:port=/dev/ttyUSB0", Kind::Serial, "/dev/ttyUSB0", 0, 115200, -1, false},
      {"com:ipport=50000,port=127.0.0.1", Kind::TcpSerial, "127.0.0.1", 50000, 115200, -1, false},
      {"com:port=vmhost,ipport=0x1000", Kind::TcpSerial, "vmhost", 4096, 115200, -1, false},
      {"com:port=/dev/ttyUSB0,baud=921600,reconnect", Kind::Serial, "/dev/ttyUSB0", 0, 921600, -1, true},
      {"com:port=/dev/ttyUSB0,baud=1500000,flow=rtscts", Kind::Serial, "/dev/ttyUSB0", 0, 1500000, -1, false},
      {"com:port=/dev/ttyS0,flow=XonXoff", Kind::Serial, "/dev/ttyS0", 0, 115200, -1, false},
      {"com:?", Kind::ListPorts, "", 0, 115200, -1, false},
  };
  for (const Good& g : table) {
    BOOST_TEST_CONTEXT(g.text) {
      auto r = parse_connect_string(g.text);
      BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error()));
      BOOST_TEST(int(r->kind) == int(g.kind));
      BOOST_TEST(r->path == g.path);
      BOOST_TEST(r->port == g.port);
      BOOST_TEST(r->baud == g.baud);
      BOOST_TEST(r->resets == g.resets);
      BOOST_TEST(r->reconnect == g.reconnect);
      // The canonical form parses back to the same spec.
      auto again = parse_connect_string(to_string(*r));
      BOOST_TEST_REQUIRE(again.has_value());
      BOOST_TEST((*again == *r));
    }
  }
}

BOOST_AUTO_TEST_CASE(flow_control_is_kept_and_written_back) {
  auto r = parse_connect_string("com:port=/dev/ttyUSB0,flow=rtscts,reconnect");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(int(r->flow) == int(openkd::backends::FlowControl::RtsCts));
  BOOST_TEST(to_string(*r) == "com:port=/dev/ttyUSB0,baud=115200,flow=rtscts,reconnect");
  BOOST_TEST(int(parse_connect_string("com:port=/dev/ttyS0")->flow) == int(openkd::backends::FlowControl::None));
}

BOOST_AUTO_TEST_CASE(net_and_sim_forms) {
  auto n = parse_connect_string("net:port=50000,key=1.2.3.4,target=10.0.0.5");
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(int(n->kind) == int(Kind::Net));
  BOOST_TEST(n->port == 50000u);
  BOOST_TEST(n->key == "1.2.3.4");
  BOOST_TEST(n->target == "10.0.0.5");
  auto b = parse_connect_string("net:port=50000,key=1.2.3.4,bus=0.25.0,bind=127.0.0.1");
  BOOST_TEST_REQUIRE(b.has_value());
  BOOST_TEST(b->bus == "0.25.0");
  BOOST_TEST(b->bind == "127.0.0.1");
  BOOST_TEST(to_string(*b) == "net:port=50000,key=1.2.3.4,bus=0.25.0,bind=127.0.0.1");
  BOOST_TEST(!parse_connect_string("net:port=5,key=1.2.3.4,bus=1.2").has_value());
  BOOST_TEST(!parse_connect_string("net:port=5,key=1.2.3.4,bus=a.b.c").has_value());
  auto s = parse_connect_string("sim");
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->cpus == 1u);
  auto s4 = parse_connect_string("sim:cpus=4,seed=7,build=22621");
  BOOST_TEST_REQUIRE(s4.has_value());
  BOOST_TEST(s4->cpus == 4u);
  BOOST_TEST(s4->seed == 7u);
  BOOST_TEST(s4->build == 22621u);
}

namespace {
struct Bad {
  std::string_view text;
  const char* must_mention;  // the bad part, named in the one-line error
};
}  // namespace

BOOST_AUTO_TEST_CASE(bad_forms_name_the_bad_part) {
  const Bad table[] = {
      {"", "empty"},
      {"usb:port=1", "'usb'"},
      {"com:pipe", "port="},
      {"com:pipe,port=", "'port' needs a value"},
      {"com:port=/dev/ttyS0,baud=fast", "'fast'"},
      {"com:port=/dev/ttyS0,baud=0", "'baud'"},
      {"com:pipe,port=/x,resets=-1", "'resets'"},
      {"com:pipe,port=/x,speed=3", "'speed'"},
      {"com:ipport=70000,port=h", "'ipport'"},
      {"com:ipport=1,port=h,pipe", "both"},
      {"com:ipport=5,port=h,reconnect", "reconnect"},
      {"com:port=/dev/ttyS0,flow=dtrdsr", "'dtrdsr'"},
      {"com:pipe,port=/x,flow=rtscts", "'flow='"},
      {"com:?,port=/x", "'?'"},
      {"net:key=1.2.3.4", "port="},
      {"net:port=5", "key="},
      {"net:port=5,key=1.2.3.4,foo=1", "'foo'"},
      {"sim:cpus=9", "'cpus'"},
      {"sim:cpus=0", "'cpus'"},
      {"sim:turbo=1", "'turbo'"},
      {"sim:cpus", "'cpus' needs a value"},
      {"com:pipe,,port=/x", "empty option"},
      // Found by fuzz_parsers: the error echoed the text, newline and all.
      {"com:pipe,port=/x\nfoo", "control character 0x0a at offset 16"},
      {std::string_view("com:pipe,port=\0/x", 17), "control character 0x00 at offset 14"},
  };
  for (const Bad& b : table) {
    BOOST_TEST_CONTEXT(b.text) {
      auto r = parse_connect_string(b.text);
      BOOST_TEST_REQUIRE(!r.has_value());
      BOOST_TEST(r.error().find(b.must_mention) != std::string::npos, r.error());
      BOOST_TEST(r.error().find("expected") != std::string::npos, r.error());
      BOOST_TEST(r.error().find('\n') == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(environment_variables_as_kd_reads_them) {
  ::setenv("_NT_DEBUG_PORT", "com2", 1);
  ::setenv("_NT_DEBUG_BAUD_RATE", "57600", 1);
  auto r = openkd::backends::connect_string_from_environment();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(*r == "com:port=/dev/ttyS1,baud=57600");
  ::setenv("_NT_DEBUG_PORT", "com:pipe,port=/tmp/p", 1);
  r = openkd::backends::connect_string_from_environment();
  BOOST_TEST(*r == "com:pipe,port=/tmp/p");
  ::setenv("_NT_DEBUG_PORT", "com1", 1);
  ::setenv("_NT_DEBUG_BAUD_RATE", "abc", 1);
  r = openkd::backends::connect_string_from_environment();
  BOOST_TEST(!r.has_value());
  ::unsetenv("_NT_DEBUG_PORT");
  ::unsetenv("_NT_DEBUG_BAUD_RATE");
  r = openkd::backends::connect_string_from_environment();
  BOOST_TEST(r->empty());
}
