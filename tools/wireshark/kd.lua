-- Wireshark dissector for the Windows kernel debugger protocol (KD), as openkd
-- captures it (tools/kdproxy/README.md): KDCOM byte streams inside synthetic
-- TCP (target port 50000, a preference), and the KDNET datagram header on UDP
-- (port 50000, a preference; the payload is encrypted and shown as such).
--
--   tshark -X lua_script:tools/wireshark/kd.lua -r capture.pcap -V
--   wireshark -X lua_script:tools/wireshark/kd.lua capture.pcap
--
-- Wire facts: docs/protocol.md sections 1-4 and 6 (the same names as
-- core/wire/kdcom.hpp and core/wire/dbgkd.hpp).

local kdcom = Proto("kdcom", "Windows Kernel Debugger (KDCOM)")
local kdnet = Proto("kdnet", "Windows Kernel Debugger over UDP (KDNET)")

local packet_types = {
  [0] = "KD_UNUSED", [1] = "KD_STATE_CHANGE32", [2] = "KD_STATE_MANIPULATE", [3] = "KD_DEBUG_IO",
  [4] = "KD_ACKNOWLEDGE", [5] = "KD_RESEND", [6] = "KD_RESET", [7] = "KD_STATE_CHANGE64",
  [8] = "KD_POLL_BREAKIN", [9] = "KD_TRACE_IO", [10] = "KD_CONTROL_REQUEST", [11] = "KD_FILE_IO",
}

local apis = {
  [0x3130] = "ReadVirtualMemory", [0x3131] = "WriteVirtualMemory", [0x3132] = "GetContext",
  [0x3133] = "SetContext", [0x3134] = "WriteBreakPoint", [0x3135] = "RestoreBreakPoint",
  [0x3136] = "Continue", [0x3137] = "ReadControlSpace", [0x3138] = "WriteControlSpace",
  [0x3139] = "ReadIoSpace", [0x313A] = "WriteIoSpace", [0x313B] = "Reboot", [0x313C] = "Continue2",
  [0x313D] = "ReadPhysicalMemory", [0x313E] = "WritePhysicalMemory", [0x313F] = "QuerySpecialCalls",
  [0x3140] = "SetSpecialCall", [0x3141] = "ClearSpecialCalls", [0x3142] = "SetInternalBreakPoint",
  [0x3143] = "GetInternalBreakPoint", [0x3144] = "ReadIoSpaceExtended", [0x3145] = "WriteIoSpaceExtended",
  [0x3146] = "GetVersion", [0x3147] = "WriteBreakPointEx", [0x3148] = "RestoreBreakPointEx",
  [0x3149] = "CauseBugCheck", [0x3150] = "SwitchProcessor", [0x3151] = "PageIn",
  [0x3152] = "ReadMachineSpecificRegister", [0x3153] = "WriteMachineSpecificRegister",
  [0x3156] = "SearchMemory", [0x3157] = "GetBusData", [0x3158] = "SetBusData",
  [0x3159] = "CheckLowMemory", [0x315A] = "ClearAllInternalBreakpoints", [0x315B] = "FillMemory",
  [0x315C] = "QueryMemory", [0x315D] = "SwitchPartition", [0x315E] = "WriteCustomBreakpoint",
  [0x315F] = "GetContextEx", [0x3160] = "SetContextEx",
  [0x3230] = "PrintString", [0x3231] = "GetString", [0x3330] = "PrintTrace",
  [0x3430] = "CreateFile", [0x3431] = "ReadFile", [0x3432] = "WriteFile", [0x3433] = "CloseFile",
  [0x4300] = "RequestHardwareBp", [0x4301] = "ReleaseHardwareBp",
}
local states = { [0x3030] = "Exception", [0x3031] = "LoadSymbols", [0x3032] = "CommandString" }
local statuses = {
  [0x00000000] = "STATUS_SUCCESS", [0xC0000001] = "STATUS_UNSUCCESSFUL",
  [0xC0000002] = "STATUS_NOT_IMPLEMENTED", [0xC000000F] = "STATUS_NO_SUCH_FILE",
  [0xC0000005] = "STATUS_ACCESS_VIOLATION", [0x00010002] = "DBG_CONTINUE",
  [0x00010001] = "DBG_EXCEPTION_HANDLED", [0x80010001] = "DBG_EXCEPTION_NOT_HANDLED",
}

local f = kdcom.fields
f.direction = ProtoField.string("kdcom.direction", "Direction")
f.leader = ProtoField.uint32("kdcom.leader", "Leader", base.HEX)
f.type = ProtoField.uint16("kdcom.type", "Packet type", base.DEC, packet_types)
f.byte_count = ProtoField.uint16("kdcom.byte_count", "Byte count", base.DEC)
f.id = ProtoField.uint32("kdcom.id", "Packet id", base.HEX)
f.checksum = ProtoField.uint32("kdcom.checksum", "Checksum", base.HEX)
f.checksum_status = ProtoField.string("kdcom.checksum_status", "Checksum status")
f.trailer = ProtoField.uint8("kdcom.trailer", "Trailer", base.HEX)
f.breakin = ProtoField.bytes("kdcom.breakin", "Break-in byte")
f.junk = ProtoField.bytes("kdcom.junk", "Bytes outside a packet (resync)")
f.api = ProtoField.uint32("kdcom.api", "API", base.HEX, apis)
f.processor_level = ProtoField.uint16("kdcom.processor_level", "Processor level", base.DEC)
f.processor = ProtoField.uint16("kdcom.processor", "Processor", base.DEC)
f.status = ProtoField.uint32("kdcom.status", "Return status", base.HEX, statuses)
f.address = ProtoField.uint64("kdcom.address", "Address", base.HEX)
f.transfer_count = ProtoField.uint32("kdcom.transfer_count", "Transfer count", base.HEX)
f.actual_bytes = ProtoField.uint32("kdcom.actual_bytes", "Actual bytes", base.HEX)
f.data = ProtoField.bytes("kdcom.data", "Data")
f.new_state = ProtoField.uint32("kdcom.new_state", "New state", base.HEX, states)
f.number_processors = ProtoField.uint32("kdcom.number_processors", "Number of processors", base.DEC)
f.thread = ProtoField.uint64("kdcom.thread", "Thread", base.HEX)
f.pc = ProtoField.uint64("kdcom.pc", "Program counter", base.HEX)
f.exception_code = ProtoField.uint32("kdcom.exception_code", "Exception code", base.HEX)
f.exception_address = ProtoField.uint64("kdcom.exception_address", "Exception address", base.HEX)
f.first_chance = ProtoField.uint32("kdcom.first_chance", "First chance", base.DEC)
f.base_of_dll = ProtoField.uint64("kdcom.base_of_dll", "Base of image", base.HEX)
f.size_of_image = ProtoField.uint32("kdcom.size_of_image", "Size of image", base.HEX)
f.unload = ProtoField.uint8("kdcom.unload", "Unload", base.DEC)
f.path = ProtoField.string("kdcom.path", "Path")
f.text = ProtoField.string("kdcom.text", "Text")

local pref = kdcom.prefs
pref.port = Pref.uint("TCP port", 50000, "The target's TCP port in kdproxy's captures")

local DATA_LEADER, CONTROL_LEADER = 0x30303030, 0x69696969

local function u64hex(tvb, off)
  return tvb(off, 8):le_uint64()
end

local function hex64(v)
  local s = v:tohex()  -- 16 hex digits
  return s:sub(1, 8):lower() .. "`" .. s:sub(9, 16):lower()
end

-- ApiNumber, ProcessorLevel, Processor: how manipulate and debug-io bodies start.
local function api_header(body, tree)
  local api = body(0, 4):le_uint()
  tree:add_le(f.api, body(0, 4))
  tree:add_le(f.processor_level, body(4, 2))
  tree:add_le(f.processor, body(6, 2))
  return api, apis[api] or string.format("api 0x%x", api)
end

-- Body of a KD_STATE_MANIPULATE (DBGKD_MANIPULATE_STATE64): 56-byte header, data after it.
local function manipulate(body, tree, to_target)
  if body:len() < 56 then return "short body" end
  local api, info = api_header(body, tree)
  tree:add_le(f.status, body(8, 4))
  local memory = { [0x3130] = true, [0x3131] = true, [0x3137] = true, [0x3138] = true, [0x313D] = true, [0x313E] = true }
  if memory[api] then
    tree:add_le(f.address, body(16, 8))
    tree:add_le(f.transfer_count, body(24, 4))
    tree:add_le(f.actual_bytes, body(28, 4))
    info = info .. " " .. hex64(u64hex(body, 16)) .. string.format(" L 0x%x", body(24, 4):le_uint())
  end
  if not to_target then
    local st = body(8, 4):le_uint()
    info = info .. " -> " .. (statuses[st] or string.format("0x%08x", st))
  end
  if body:len() > 56 then tree:add(f.data, body(56)) end
  return info
end

-- Body of a KD_STATE_CHANGE64 (DBGKD_ANY_WAIT_STATE_CHANGE, 240 bytes and a path).
local function state_change(body, tree)
  if body:len() < 240 then return "short body" end
  local st = body(0, 4):le_uint()
  tree:add_le(f.new_state, body(0, 4))
  tree:add_le(f.processor_level, body(4, 2))
  tree:add_le(f.processor, body(6, 2))
  tree:add_le(f.number_processors, body(8, 4))
  tree:add_le(f.thread, body(16, 8))
  tree:add_le(f.pc, body(24, 8))
  local info = states[st] or string.format("state 0x%x", st)
  if st == 0x3030 then
    tree:add_le(f.exception_code, body(32, 4))
    tree:add_le(f.exception_address, body(48, 8))
    tree:add_le(f.first_chance, body(32 + 152, 4))
    info = info .. string.format(" %08x at ", body(32, 4):le_uint()) .. hex64(u64hex(body, 48))
  elseif st == 0x3031 then
    -- DBGKD_LOAD_SYMBOLS64: PathNameLength, BaseOfDll, ProcessId, CheckSum, SizeOfImage, UnloadSymbols.
    tree:add_le(f.base_of_dll, body(40, 8))
    tree:add_le(f.size_of_image, body(60, 4))
    tree:add(f.unload, body(64, 1))
    if body:len() > 240 then tree:add(f.path, body(240)) end
    info = info .. " " .. hex64(u64hex(body, 40))
    if body:len() > 240 then info = info .. " " .. body(240):stringz() end
  end
  return info
end

local function debug_io(body, tree)
  if body:len() < 16 then return "short body" end
  local _, info = api_header(body, tree)
  if body:len() > 16 then
    tree:add(f.text, body(16))
    info = info .. ' "' .. body(16):string():gsub("[%c]", ".") .. '"'
  end
  return info
end

local function api_only(body, tree)
  if body:len() < 4 then return "short body" end
  tree:add_le(f.api, body(0, 4))
  local api = body(0, 4):le_uint()
  return apis[api] or string.format("api 0x%x", api)
end

-- One KD packet at `tvb` (whole): header, body, trailer. Returns the Info text.
local function dissect_packet(tvb, tree, to_target, with_trailer)
  local leader = tvb(0, 4):le_uint()
  local typ = tvb(4, 2):le_uint()
  local count = tvb(6, 2):le_uint()
  local id = tvb(8, 4):le_uint()
  local name = packet_types[typ] or string.format("type %d", typ)
  local t = tree:add(kdcom, tvb(), "KD packet: " .. name)
  t:add(f.direction, to_target and "dbg->tgt" or "tgt->dbg")
  t:add_le(f.leader, tvb(0, 4))
  t:add_le(f.type, tvb(4, 2))
  t:add_le(f.byte_count, tvb(6, 2))
  t:add_le(f.id, tvb(8, 4))
  t:add_le(f.checksum, tvb(12, 4))
  local info = string.format("%s id=%08x", name, id)
  if leader == DATA_LEADER and count > 0 then
    local body = tvb(16, count):tvb()
    local sum = 0
    for i = 0, count - 1 do sum = (sum + body(i, 1):uint()) % 4294967296 end
    t:add(f.checksum_status, sum == tvb(12, 4):le_uint() and "good" or string.format("bad (body sums to %08x)", sum))
    local detail
    if typ == 2 then detail = manipulate(body, t, to_target)
    elseif typ == 7 then detail = state_change(body, t)
    elseif typ == 3 then detail = debug_io(body, t)
    elseif typ == 9 or typ == 10 or typ == 11 then detail = api_only(body, t)
    end
    if detail then info = info .. " " .. detail end
    if with_trailer then t:add(f.trailer, tvb(16 + count, 1)) end
  end
  return info
end

-- KDCOM over TCP: packets may span segments (reassembled through desegment_len)
-- and bytes outside packets (junk after a fault, break-in bytes) are shown as such.
function kdcom.dissector(tvb, pinfo, tree)
  local to_target = pinfo.dst_port == pref.port
  local len = tvb:len()
  local offset = 0
  local infos = {}
  while offset < len do
    local b = tvb(offset, 1):uint()
    if b == 0x30 or b == 0x69 then
      if len - offset < 4 then
        pinfo.desegment_offset = offset
        pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
        break
      end
      local leader = tvb(offset, 4):le_uint()
      if leader ~= DATA_LEADER and leader ~= CONTROL_LEADER then
        tree:add(f.junk, tvb(offset, 1))
        offset = offset + 1
      else
        if len - offset < 16 then
          pinfo.desegment_offset = offset
          pinfo.desegment_len = 16 - (len - offset)
          break
        end
        local count = tvb(offset + 6, 2):le_uint()
        local size = 16
        if leader == DATA_LEADER then size = 16 + count + 1 end
        if count > 4000 then
          tree:add(f.junk, tvb(offset, 4))
          offset = offset + 4
        elseif len - offset < size then
          pinfo.desegment_offset = offset
          pinfo.desegment_len = size - (len - offset)
          break
        else
          infos[#infos + 1] = dissect_packet(tvb(offset, size):tvb(), tree, to_target, true)
          offset = offset + size
        end
      end
    elseif b == 0x62 then
      tree:add(f.breakin, tvb(offset, 1))
      infos[#infos + 1] = "break-in"
      offset = offset + 1
    else
      local start = offset
      while offset < len do
        local c = tvb(offset, 1):uint()
        if c == 0x30 or c == 0x69 or c == 0x62 then break end
        offset = offset + 1
      end
      tree:add(f.junk, tvb(start, offset - start))
      infos[#infos + 1] = "junk"
    end
  end
  if #infos > 0 then
    pinfo.cols.protocol = "KDCOM"
    pinfo.cols.info = (to_target and "dbg->tgt " or "tgt->dbg ") .. table.concat(infos, "; ")
  end
  return len
end

-- KDNET: "MDBG", version, channel, then AES-256-CBC ciphertext and a 16-byte
-- HMAC-SHA256 tag. Wireshark's Lua has no AES, so the payload is not decrypted
-- here; `kdproxy decode CAPTURE --key K` decrypts and decodes it.
local nf = kdnet.fields
nf.magic = ProtoField.string("kdnet.magic", "Magic")
nf.version = ProtoField.uint8("kdnet.version", "Version", base.DEC)
nf.channel = ProtoField.uint8("kdnet.channel", "Channel", base.DEC, { [0] = "data", [1] = "control" })
nf.ciphertext = ProtoField.bytes("kdnet.ciphertext", "Ciphertext (AES-256-CBC)")
nf.tag = ProtoField.bytes("kdnet.tag", "Tag (HMAC-SHA256, 16 bytes)")
kdnet.prefs.port = Pref.uint("UDP port", 50000, "KDNET's UDP port")

function kdnet.dissector(tvb, pinfo, tree)
  if tvb:len() < 38 or tvb(0, 4):string() ~= "MDBG" then return 0 end
  pinfo.cols.protocol = "KDNET"
  local t = tree:add(kdnet, tvb(), "KDNET datagram")
  t:add(nf.magic, tvb(0, 4))
  t:add(nf.version, tvb(4, 1))
  t:add(nf.channel, tvb(5, 1))
  t:add(nf.ciphertext, tvb(6, tvb:len() - 22))
  t:add(nf.tag, tvb(tvb:len() - 16, 16))
  local ch = tvb(5, 1):uint() == 1 and "control" or "data"
  pinfo.cols.info = string.format("KDNET %s channel, %d bytes encrypted", ch, tvb:len() - 22)
  return tvb:len()
end

DissectorTable.get("tcp.port"):add(pref.port, kdcom)
DissectorTable.get("udp.port"):add(kdnet.prefs.port, kdnet)
