"""A small, independent KDCOM target written from docs/protocol.md (no openkd
code), listening on a Unix socket as a VM's serial pipe does. It behaves well
enough for kd to attach, then misbehaves on purpose (storms) so tests can check
that kd's memory stays bounded and that it keeps answering.

Modes (what happens on kd's first Continue2, or at once for `stops`):
  prints   a flood of short DbgPrints, then a stop
  prompts  a flood of DbgPrompts (each replacing the last), then a stop
  stops    (while stopped) a flood of state changes nobody asked for
  resend   on a ReadVirtualMemory at kernel base + 0x7000: stop reading and flood RESENDs
  switch   SwitchProcessor is answered with a manipulate reply, not a stop
  mutate   (seeded) each packet it sends may be mutated: lengths that lie,
           huge transfer counts, the wrong API, ids out of order, replies to
           requests never made, bodies cut short, impossible state changes,
           bursts of RESETs and of prints (issue 15's hostile target)
"""
import random
import socket
import struct
import threading
import time

DATA, CONTROL = 0x30303030, 0x69696969
T_MANIPULATE, T_DEBUG_IO, T_ACK, T_RESEND, T_RESET, T_STATE_CHANGE = 2, 3, 4, 5, 6, 7
INITIAL, SYNC = 0x80800000, 0x800
API_READ_VIRTUAL, API_GET_CONTEXT, API_CONTINUE2, API_SWITCH, API_GET_VERSION = 0x3130, 0x3132, 0x313C, 0x3150, 0x3146
API_READ_CONTROL = 0x3137
KERN_BASE = 0xFFFFF80000400000
STOP_PC = 0xFFFFF80000401000
STATUS_SUCCESS, STATUS_UNSUCCESSFUL = 0, 0xC0000001


def frame(ptype, pid, body=b""):
    if ptype in (T_ACK, T_RESEND, T_RESET):
        return struct.pack("<IHHII", CONTROL, ptype, 0, pid, 0)
    return struct.pack("<IHHII", DATA, ptype, len(body), pid, sum(body) & 0xFFFFFFFF) + body + b"\xaa"


def state_change(pc, processors=2, processor=0):
    head = struct.pack("<IHHIIQQ", 0x3030, 0, processor, processors, 0, 0, pc)
    record = struct.pack("<IIQQII", 0x80000003, 0, 0, pc, 0, 0) + b"\0" * (15 * 8)
    union = (record + struct.pack("<I", 1)).ljust(160, b"\0")
    return head + union + b"\0" * 48


def manipulate(api, status, union=b"", data=b""):
    return struct.pack("<IHHII", api, 0, 0, status, 0) + union.ljust(40, b"\0") + data


def debug_io(api, text, max_read=0):
    t = text.encode()
    if api == 0x3230:
        return struct.pack("<IHHII", api, 0, 0, len(t), 0) + t
    return struct.pack("<IHHII", api, 0, 0, len(t), max_read) + t


class HostileTarget:
    def __init__(self, path, mode, storm_seconds=3.0, storm_count=100000, seed=1, rate=0.3):
        self.path, self.mode = str(path), mode
        self.rng, self.rate = random.Random(seed), rate
        self.mutations = {}
        self.storm_seconds, self.storm_count = storm_seconds, storm_count
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.next_id = INITIAL | SYNC
        self.stormed = False
        self.done = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, ptype, body):
        if self.mode == "mutate" and self.rng.random() < self.rate:
            self.send_mutated(ptype, body)
            return
        self.last_frame = frame(ptype, self.next_id, body)
        self.conn.sendall(self.last_frame)
        self.next_id = (self.next_id ^ 1) & ~SYNC
        self.sent += 1

    def send_mutated(self, ptype, body):
        """One of the lies a broken or hostile stub tells, chosen by the seed.
        Most still advance the packet id, as a stub that believes it sent a
        good packet would; kd must survive every one and say what went wrong."""
        rng = self.rng
        kind = rng.choice(["count_lies", "huge_count", "wrong_api", "old_id", "unasked_reply", "short_body",
                           "bad_state", "reset_burst", "print_burst", "garbage", "bad_checksum", "empty"])
        self.mutations[kind] = self.mutations.get(kind, 0) + 1
        b = bytearray(body)
        if kind == "count_lies" and ptype == T_MANIPULATE and len(b) >= 56:
            # The union's TransferCount/ActualBytes say more (or less) than follows.
            struct.pack_into("<I", b, 16 + 12, rng.choice([0, 1, len(b), 0x1000, 0xFFFF, 0x7FFFFFFF]))
        elif kind == "huge_count" and len(b) >= 16:
            struct.pack_into("<I", b, rng.choice([8, 12, 16 + 8, 16 + 12]) if len(b) >= 32 else 8, 0xFFFFFFFF)
        elif kind == "wrong_api" and len(b) >= 4:
            struct.pack_into("<I", b, 0, rng.choice([API_READ_VIRTUAL, API_GET_CONTEXT, API_CONTINUE2, 0x3FFF, 0]))
        elif kind == "old_id":
            # The same id again (a retransmission kd already took) or the other one.
            self.conn.sendall(frame(ptype, self.next_id ^ 1, bytes(b)))
            self.conn.sendall(frame(ptype, self.next_id, bytes(b)))
            self.next_id = (self.next_id ^ 1) & ~SYNC
            return
        elif kind == "unasked_reply":
            self.conn.sendall(frame(T_MANIPULATE, self.next_id, manipulate(API_GET_VERSION, STATUS_SUCCESS)))
            self.next_id = (self.next_id ^ 1) & ~SYNC
        elif kind == "short_body":
            b = b[: rng.randrange(0, max(1, len(b)))]
        elif kind == "bad_state":
            st = bytearray(state_change(STOP_PC + 0x60))
            struct.pack_into("<HI", st, 6, rng.choice([0xFFFF, 64, 3]), rng.choice([0, 0xFFFFFFFF, 65]))
            self.conn.sendall(frame(T_STATE_CHANGE, self.next_id, bytes(st)))
            self.next_id = (self.next_id ^ 1) & ~SYNC
        elif kind == "reset_burst":
            self.conn.sendall(frame(T_RESET, 0) * rng.randrange(1, 50))
        elif kind == "print_burst":
            text = debug_io(0x3230, "mutant print\n")
            for _ in range(rng.randrange(1, 300)):
                self.conn.sendall(frame(T_DEBUG_IO, self.next_id, text))
                self.next_id = (self.next_id ^ 1) & ~SYNC
        elif kind == "garbage":
            self.conn.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))))
        elif kind == "bad_checksum":
            self.last_frame = frame(ptype, self.next_id, bytes(b))  # the line, not the stub, damaged it
            raw = bytearray(self.last_frame)
            raw[12] ^= 0x5A
            self.conn.sendall(bytes(raw))
            self.next_id = (self.next_id ^ 1) & ~SYNC
            return
        elif kind == "empty":
            b = bytearray()
        self.last_frame = frame(ptype, self.next_id, bytes(b))
        self.conn.sendall(self.last_frame)
        self.next_id = (self.next_id ^ 1) & ~SYNC
        self.sent += 1

    def run(self):
        self.server.settimeout(30)
        try:
            self.conn, _ = self.server.accept()
        except OSError:
            return
        buf = b""
        self.conn.settimeout(0.2)
        while not self.done.is_set():
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            buf = self.parse(buf)

    def parse(self, buf):
        while True:
            if buf[:1] == b"b":  # break-in byte
                buf = buf[1:]
                self.send(T_STATE_CHANGE, state_change(STOP_PC + 0x40))
                continue
            i_data, i_ctl = buf.find(b"0000"), buf.find(b"iiii")
            starts = [i for i in (i_data, i_ctl) if i >= 0]
            if not starts:
                return buf[-3:]
            buf = buf[min(starts):]
            if len(buf) < 16:
                return buf
            leader, ptype, count, pid, _ = struct.unpack_from("<IHHII", buf)
            if leader == CONTROL:
                buf = buf[16:]
                if ptype == T_RESEND and self.mode == "mutate" and getattr(self, "last_frame", None):
                    self.conn.sendall(self.last_frame)  # what a real stub does; the mutant may be sent again
                if ptype == T_RESET:
                    self.conn.sendall(frame(T_RESET, 0))
                    self.next_id = INITIAL | SYNC
                    self.send(T_STATE_CHANGE, state_change(STOP_PC))
                continue
            if len(buf) < 16 + count + 1:
                return buf
            body, buf = buf[16:16 + count], buf[16 + count + 1:]
            self.conn.sendall(frame(T_ACK, pid & ~SYNC))
            if ptype == T_MANIPULATE:
                self.on_manipulate(body)

    def on_manipulate(self, body):
        api = struct.unpack_from("<I", body)[0]
        union = body[16:56]
        if api == API_GET_VERSION:
            version = struct.pack("<HHBBHHBBBBHQQQ", 0xF, 19041, 6, 2, 0x5, 0x8664, 12, 3, 0x31, 0, 0,
                                  KERN_BASE, KERN_BASE + 0x5030, 0)
            self.send(T_MANIPULATE, manipulate(api, STATUS_SUCCESS, version))
        elif api == API_GET_CONTEXT:
            context = bytearray(1232)
            struct.pack_into("<I", context, 0x30, 0x10000B)  # ContextFlags: CONTROL | INTEGER | SEGMENTS
            struct.pack_into("<Q", context, 0xF8, STOP_PC)   # Rip
            self.send(T_MANIPULATE, manipulate(api, STATUS_SUCCESS, b"", bytes(context)))
        elif api in (API_READ_VIRTUAL, API_READ_CONTROL):
            address, count = struct.unpack_from("<QI", union)
            if self.mode == "resend" and api == API_READ_VIRTUAL and address == KERN_BASE + 0x7000 and not self.stormed:
                self.stormed = True
                self.resend_storm()
                return
            data = b"\0" * min(count, 3944)
            self.send(T_MANIPULATE, manipulate(api, STATUS_SUCCESS, struct.pack("<QII", address, count, len(data)), data))
        elif api == API_CONTINUE2 and not self.stormed:
            self.stormed = True
            getattr(self, f"on_continue_{self.mode}", self.stop_again)()
        elif api == API_CONTINUE2:
            self.stop_again()
        elif api == API_SWITCH and self.mode == "switch":
            self.send(T_MANIPULATE, manipulate(api, STATUS_SUCCESS))
        else:
            self.send(T_MANIPULATE, manipulate(api, 0xC0000002, union))  # STATUS_NOT_IMPLEMENTED

    def stop_again(self):
        self.send(T_STATE_CHANGE, state_change(STOP_PC + 0x20))

    def on_continue_prints(self):
        end = time.monotonic() + self.storm_seconds
        text = debug_io(0x3230, "hostile: 0123456\n")
        while time.monotonic() < end:
            self.send(T_DEBUG_IO, text)
        self.stop_again()

    def on_continue_prompts(self):
        prompt = debug_io(0x3231, "answer? ", 16)
        for _ in range(2000):
            self.send(T_DEBUG_IO, prompt)
        self.stop_again()

    def flood_stops(self):
        for i in range(self.storm_count):
            self.send(T_STATE_CHANGE, state_change(STOP_PC + 0x1000 + i))

    def resend_storm(self):
        # Stop reading: kd's writes pile up in the socket; meanwhile ask it to
        # resend what it waits on, again and again.
        end = time.monotonic() + self.storm_seconds
        ctl = frame(T_RESEND, 0)
        while time.monotonic() < end:
            self.conn.sendall(ctl * 64)

    def close(self):
        self.done.set()
        for s in (getattr(self, "conn", None), self.server):
            try:
                if s:
                    s.close()
            except OSError:
                pass
