// Packet id arithmetic, one row per fact of docs/protocol.md sections 1 and 6.
#include <boost/test/unit_test.hpp>

#include "core/link/packet_ids.hpp"

using namespace openkd::link;

BOOST_AUTO_TEST_SUITE(packet_ids)

BOOST_AUTO_TEST_CASE(first_ids) {
  struct Row {
    Role role;
    IdScheme scheme;
    std::uint32_t first_send, first_receive;
  };
  const Row rows[] = {
      {Role::Target, IdScheme::Kdcom, 0x80800800, 0x80800000},  // INITIAL|SYNC; expects INITIAL
      {Role::Host, IdScheme::Kdcom, 0x80800000, 0x80800000},    // the target's first, without SYNC
      {Role::Target, IdScheme::Kdnet, 0x00000000, 0x80000000},
      {Role::Host, IdScheme::Kdnet, 0x80000000, 0x00000000},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("role " << int(r.role) << " scheme " << int(r.scheme)) {
      BOOST_TEST(ids::first_send_id(r.role, r.scheme) == r.first_send);
      BOOST_TEST(ids::first_receive_id(r.role, r.scheme) == r.first_receive);
    }
  }
}

BOOST_AUTO_TEST_CASE(id_sequences) {
  struct Row {
    IdScheme scheme;
    std::uint32_t id, next, acked_as;
  };
  const Row rows[] = {
      {IdScheme::Kdcom, 0x80800800, 0x80800001, 0x80800000},  // SYNC dropped, bit 0 flipped
      {IdScheme::Kdcom, 0x80800001, 0x80800000, 0x80800001},
      {IdScheme::Kdcom, 0x80800000, 0x80800001, 0x80800000},
      {IdScheme::Kdnet, 0x00000000, 0x00000002, 0x00000000},  // target: 0, 2, 4, ...
      {IdScheme::Kdnet, 0x00000002, 0x00000004, 0x00000002},
      {IdScheme::Kdnet, 0x80000000, 0x80000002, 0x80000000},  // debugger: 0x80000000, 0x80000002, ...
      {IdScheme::Kdnet, 0xFFFFFFFE, 0x80000000, 0xFFFFFFFE},  // wraps within its half
      {IdScheme::Kdnet, 0x7FFFFFFE, 0x00000000, 0x7FFFFFFE},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("id " << std::hex << r.id) {
      BOOST_TEST(ids::after_send(r.scheme, r.id) == r.next);
      BOOST_TEST(ids::ack_id(r.scheme, r.id) == r.acked_as);
    }
  }
}

BOOST_AUTO_TEST_CASE(new_or_duplicate) {
  struct Row {
    IdScheme scheme;
    std::uint32_t id, expected;
    bool fresh;
  };
  const Row rows[] = {
      {IdScheme::Kdcom, 0x80800000, 0x80800000, true},
      {IdScheme::Kdcom, 0x80800001, 0x80800000, false},  // one bit of sequence: equality only
      {IdScheme::Kdnet, 0x80000004, 0x80000004, true},
      {IdScheme::Kdnet, 0x80000006, 0x80000004, true},   // ahead: the peer gave up on one
      {IdScheme::Kdnet, 0x80000002, 0x80000004, false},  // behind: seen before
      {IdScheme::Kdnet, 0x00000000, 0x00000002, false},
      {IdScheme::Kdnet, 0x00000002, 0xFFFFFFFE, true},   // across the wrap
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("id " << std::hex << r.id << " expected " << r.expected) {
      BOOST_TEST(ids::is_new(r.scheme, r.id, r.expected) == r.fresh);
    }
  }
  BOOST_TEST(ids::has_sync(IdScheme::Kdcom, 0x80800800));
  BOOST_TEST(!ids::has_sync(IdScheme::Kdnet, 0x00000800));  // bit 11 is just a count over KDNET
}

BOOST_AUTO_TEST_SUITE_END()
