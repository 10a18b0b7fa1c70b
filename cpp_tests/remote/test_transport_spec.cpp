// Transport strings: a table of good ones with what they mean, and bad ones
// with the part the error must name.
#include <boost/test/unit_test.hpp>

#include "remote/transport_spec.hpp"

using namespace openkd::remote;

BOOST_AUTO_TEST_SUITE(transport_spec)

struct Good {
  const char* text;
  Role role;
  TransportKind kind;
  const char* listing;  // remote_argument(spec, "HOST") of the parsed spec
};

BOOST_AUTO_TEST_CASE(good_strings) {
  const Good table[] = {
      {"tcp:port=5005", Role::server, TransportKind::tcp, "tcp:Port=5005,Server=HOST"},
      {"TCP:Port=5005", Role::server, TransportKind::tcp, "tcp:Port=5005,Server=HOST"},
      {"tcp:port=5005:5010", Role::server, TransportKind::tcp, "tcp:Port=5005:5010,Server=HOST"},
      {"tcp:port=5005,password=Se,cret", Role::server, TransportKind::tcp, ""},  // fails below: 'cret'
      {"tcp:port=5005,hidden,password=Secret", Role::server, TransportKind::tcp, "tcp:Port=5005,Server=HOST,Password=*"},
      {"tcp:port=5005,ipversion=6", Role::server, TransportKind::tcp, "tcp:Port=5005,Server=HOST,IpVersion=6"},
      {"tcp:port=5005,clicon=client1", Role::server, TransportKind::tcp, "tcp:Port=5005,CliCon=client1"},
      {"tcp:server=box,port=5005", Role::client, TransportKind::tcp, "tcp:Port=5005,Server=HOST"},
      {"tcp:Server=box,Port=5005,Password=x", Role::client, TransportKind::tcp, "tcp:Port=5005,Server=HOST,Password=*"},
      {"tcp:clicon=box,port=5005", Role::client, TransportKind::tcp, "tcp:Port=5005,CliCon=box"},
      {"npipe:pipe=tiger", Role::server, TransportKind::npipe, "npipe:Pipe=tiger,Server=HOST"},
      {"npipe:pipe=tiger,password=p", Role::server, TransportKind::npipe, "npipe:Pipe=tiger,Server=HOST,Password=*"},
      {"npipe:server=box,pipe=tiger", Role::client, TransportKind::npipe, "npipe:Pipe=tiger,Server=HOST"},
      {"ssl:proto=tls1.2,certuser=/k.pem,port=443", Role::server, TransportKind::ssl,
       "ssl:Proto=tls1.2,CertUser=/k.pem,Port=443,Server=HOST"},
      {"ssl:machuser=/k.pem,port=443", Role::server, TransportKind::ssl, "ssl:MachUser=/k.pem,Port=443,Server=HOST"},
      {"ssl:proto=tls1.3,server=box,port=443", Role::client, TransportKind::ssl, "ssl:Proto=tls1.3,Port=443,Server=HOST"},
      {"spipe:proto=tls1.2,certuser=/k.pem,pipe=p%d", Role::server, TransportKind::spipe,
       "spipe:Proto=tls1.2,CertUser=/k.pem,Pipe=p%d,Server=HOST"},
      {"spipe:certuser=sha256:AB,server=.,pipe=p", Role::client, TransportKind::spipe,
       "spipe:CertUser=sha256:AB,Pipe=p,Server=HOST"},
      {"com:port=/dev/ttyS0,baud=115200,channel=3", Role::server, TransportKind::com,
       "com:Port=/dev/ttyS0,Baud=115200,Channel=3"},
      {"com:port=/dev/pts/4,baud=9600,channel=254", Role::client, TransportKind::com,
       "com:Port=/dev/pts/4,Baud=9600,Channel=254"},
      {"com:port=/dev/pts/4", Role::server, TransportKind::com, "com:Port=/dev/pts/4,Baud=115200,Channel=0"},
  };
  for (const auto& row : table) {
    BOOST_TEST_CONTEXT(row.text) {
      auto spec = parse_transport(row.text, row.role);
      if (std::string_view(row.listing).empty()) {
        BOOST_TEST(!spec.has_value());
        continue;
      }
      BOOST_TEST_REQUIRE(spec.has_value(), (spec ? "" : spec.error().message));
      BOOST_TEST(static_cast<int>(spec->kind) == static_cast<int>(row.kind));
      BOOST_TEST(remote_argument(*spec, "HOST") == row.listing);
    }
  }
}

BOOST_AUTO_TEST_CASE(fields) {
  auto s = parse_transport("tcp:port=6000:6010,password=CaseSensitive,hidden", Role::server);
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->port_lo == 6000);
  BOOST_TEST(s->port_hi == 6010);
  BOOST_TEST(s->port_range);
  BOOST_TEST(s->hidden);
  BOOST_TEST(*s->password == "CaseSensitive");
  BOOST_TEST(remote_argument(*s, "H", false) == "tcp:Port=6000:6010,Server=H,Password=CaseSensitive");
  auto c = parse_transport("com:port=/dev/pts/9,baud=57600,channel=7", Role::client);
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->device == "/dev/pts/9");
  BOOST_TEST(c->baud == 57600u);
  BOOST_TEST(c->channel == 7);
}

struct Bad {
  const char* text;
  Role role;
  const char* must_mention;
};

BOOST_AUTO_TEST_CASE(bad_strings) {
  const Bad table[] = {
      {"", Role::server, "expected KIND:OPTIONS"},
      {"port=5005", Role::server, "expected KIND:OPTIONS"},
      {"udp:port=5005", Role::server, "unknown transport 'udp'"},
      {"tcp:", Role::server, "tcp:port=Socket"},
      {"tcp:hidden", Role::server, "missing port="},
      {"tcp:port=abc", Role::server, "bad port 'abc'"},
      {"tcp:port=70000", Role::server, "bad port '70000'"},
      {"tcp:port=5010:5005", Role::server, "bad port '5010:5005'"},
      {"tcp:port=5005,prot=1", Role::server, "option 'prot' is not valid"},
      {"tcp:port=5005,port=5006", Role::server, "'port' given twice"},
      {"tcp:port=5005,password", Role::server, "'password' needs a value"},
      {"tcp:port=5005,hidden=1", Role::server, "'hidden' takes no value"},
      {"tcp:port=5005,ipversion=5", Role::server, "bad ipversion '5'"},
      {"tcp:port=5005,,hidden", Role::server, "empty option"},
      {"tcp:port=5005", Role::client, "missing server= or clicon="},
      {"tcp:server=a,clicon=b,port=1", Role::client, "not both"},
      {"tcp:server=a,port=0", Role::client, "port=0 is only valid on a server"},
      {"tcp:port=5005,server=x", Role::server, "option 'server' is not valid for tcp -server"},
      {"tcp:port=5005,clicon=c,hidden", Role::server, "'hidden' does not apply"},
      {"npipe:server=x", Role::client, "missing pipe="},
      {"npipe:pipe=a,port=4", Role::server, "option 'port' is not valid"},
      {"ssl:port=443", Role::server, "missing certuser= or machuser="},
      {"ssl:certuser=a,machuser=b,port=1", Role::server, "given twice"},
      {"ssl:proto=ssl3,certuser=a,port=1", Role::server, "insecure"},
      {"ssl:proto=tls9,certuser=a,port=1", Role::server, "bad proto 'tls9'"},
      {"spipe:certuser=a", Role::server, "missing pipe="},
      {"com:baud=9600", Role::server, "missing port="},
      {"com:port=/dev/x,channel=255", Role::server, "bad channel '255'"},
      {"com:port=/dev/x,baud=fast", Role::server, "bad baud 'fast'"},
      {"com:port=/dev/x,hidden", Role::client, "option 'hidden' is not valid"},
      {"tcp:port=5005,password=a\nb", Role::server, "control character 0x0a at offset 24"},
  };
  for (const auto& row : table) {
    BOOST_TEST_CONTEXT(row.text) {
      auto spec = parse_transport(row.text, row.role);
      BOOST_TEST_REQUIRE(!spec.has_value());
      const std::string& m = spec.error().message;
      BOOST_TEST(m.find(row.must_mention) != std::string::npos, m);
      BOOST_TEST(m.find('\n') == std::string::npos);  // one line
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
