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
"""
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
    def __init__(self, path, mode, storm_seconds=3.0, storm_count=100000):
        self.path, self.mode = str(path), mode
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
        self.conn.sendall(frame(ptype, self.next_id, body))
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
