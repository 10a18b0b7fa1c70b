"""PE32+ images as the bring-up harness maps them, and an x64 stack walker over
their .pdata/.xdata (UNWIND_INFO codes, chained entries, UWOP_PUSH_MACHFRAME)."""

import struct
from pathlib import Path

UNWIND_REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]


class Image:
    """A PE32+ file: headers, sections, exports, imports, relocations, .pdata."""

    def __init__(self, path, data=None):
        self.path = Path(path)
        self.data = data if data is not None else self.path.read_bytes()
        pe = struct.unpack_from("<I", self.data, 0x3C)[0]
        opt = pe + 24
        self.preferred_base = struct.unpack_from("<Q", self.data, opt + 24)[0]
        self.entry_rva = struct.unpack_from("<I", self.data, opt + 16)[0]
        self.size = (struct.unpack_from("<I", self.data, opt + 56)[0] + 0xFFF) & ~0xFFF
        self.headers_size = struct.unpack_from("<I", self.data, opt + 60)[0]
        self.directories = [struct.unpack_from("<II", self.data, opt + 112 + 8 * k) for k in range(16)]
        count = struct.unpack_from("<H", self.data, pe + 6)[0]
        self.sections = [struct.unpack_from("<8sIIII", self.data, opt + 240 + 40 * k)[1:]
                         for k in range(count)]  # (vsize, rva, raw size, raw pointer)

    def mapped(self, base, kernel_exports):
        """The image as laid out in memory at base, relocated, imports bound."""
        image = self._flat()
        delta = (base - self.preferred_base) & (2**64 - 1)
        rva, size = self.directories[5]
        at = rva
        while at < rva + size:
            page, block = struct.unpack_from("<II", image, at)
            for k in range((block - 8) // 2):
                entry = struct.unpack_from("<H", image, at + 8 + 2 * k)[0]
                if entry >> 12 == 10:  # IMAGE_REL_BASED_DIR64
                    where = page + (entry & 0xFFF)
                    value = struct.unpack_from("<Q", image, where)[0]
                    struct.pack_into("<Q", image, where, (value + delta) & (2**64 - 1))
            at += block
        descriptor = self.directories[1][0]
        while descriptor:
            lookup, _, _, name, iat = struct.unpack_from("<IIIII", image, descriptor)
            if not name:
                break
            for k in range(1 << 16):
                thunk = struct.unpack_from("<Q", image, lookup + 8 * k)[0]
                if not thunk:
                    break
                symbol = image[thunk + 2:image.index(0, thunk + 2)].decode()
                struct.pack_into("<Q", image, iat + 8 * k, kernel_exports[symbol])
            descriptor += 20
        return bytes(image)

    def exports(self, base):
        rva = self.directories[0][0]
        image = self._flat()
        if not rva:
            return {}
        _, _, _, _, _, _, _, names, functions, name_table, ordinals = \
            struct.unpack_from("<IIHHIIIIIII", image, rva)
        result = {}
        for k in range(names):
            name_rva = struct.unpack_from("<I", image, name_table + 4 * k)[0]
            name = image[name_rva:image.index(0, name_rva)].decode()
            ordinal = struct.unpack_from("<H", image, ordinals + 2 * k)[0]
            result[name] = base + struct.unpack_from("<I", image, functions + 4 * ordinal)[0]
        return result

    def _flat(self):
        """Headers and sections at their RVAs, before relocation."""
        image = bytearray(self.size)
        image[:self.headers_size] = self.data[:self.headers_size]
        for vsize, rva, raw_size, raw_ptr in self.sections:
            n = min(vsize, raw_size)
            image[rva:rva + n] = self.data[raw_ptr:raw_ptr + n]
        return image

    def runtime_functions(self):
        image = self._flat()
        rva, size = self.directories[3]
        return image, [struct.unpack_from("<III", image, rva + 12 * k) for k in range(size // 12)]


class Module:
    def __init__(self, name, image, base):
        self.name, self.image, self.base = name, image, base
        self.flat, self.functions = image.runtime_functions()

    def function(self, rva):
        return next((f for f in self.functions if f[0] <= rva < f[1]), None)


def unwind(modules, regs, read_u64, max_frames=32):
    """Walks a stack with .pdata/.xdata; returns [(module, rva)] from the current frame."""
    frames = []
    regs = dict(regs)
    for _ in range(max_frames):
        rip = regs["rip"]
        module = next((m for m in modules if m.base <= rip < m.base + m.image.size), None)
        if module is None:
            break
        rva = rip - module.base
        frames.append((module.name, rva))
        function = module.function(rva)
        machine_frame = False
        while function:
            info = function[2]
            flags_version, _, count, frame = struct.unpack_from("<BBBB", module.flat, info)
            codes = [struct.unpack_from("<H", module.flat, info + 4 + 2 * k)[0] for k in range(count)]
            in_prolog_offset = rva - function[0]
            k = 0
            while k < count:
                offset, op, op_info = codes[k] & 0xFF, (codes[k] >> 8) & 0xF, codes[k] >> 12
                done = in_prolog_offset >= offset
                if op == 0:  # PUSH_NONVOL
                    if done:
                        regs[UNWIND_REGS[op_info]] = read_u64(regs["rsp"])
                        regs["rsp"] += 8
                    k += 1
                elif op == 1:  # ALLOC_LARGE
                    size = codes[k + 1] * 8 if op_info == 0 else codes[k + 1] | codes[k + 2] << 16
                    k += 2 if op_info == 0 else 3
                    if done:
                        regs["rsp"] += size
                elif op == 2:  # ALLOC_SMALL
                    if done:
                        regs["rsp"] += op_info * 8 + 8
                    k += 1
                elif op == 3:  # SET_FPREG
                    if done:
                        regs["rsp"] = regs[UNWIND_REGS[frame & 0xF]] - (frame >> 4) * 16
                    k += 1
                elif op == 4:  # SAVE_NONVOL
                    if done:
                        regs[UNWIND_REGS[op_info]] = read_u64(regs["rsp"] + codes[k + 1] * 8)
                    k += 2
                elif op in (5, 9):
                    k += 3
                elif op == 8:
                    k += 2
                elif op == 10:  # PUSH_MACHFRAME: rip and rsp from an interrupt frame
                    base = regs["rsp"] + (8 if op_info else 0)
                    regs["rip"], regs["rsp"] = read_u64(base), read_u64(base + 24)
                    machine_frame = True
                    k += 1
                else:
                    raise ValueError(f"unwind op {op}")
            if flags_version >> 3 & 4:  # chained
                function = struct.unpack_from("<III", module.flat, info + 4 + 2 * ((count + 1) & ~1))
                rva = function[1]
                continue
            break
        if not machine_frame:
            regs["rip"] = read_u64(regs["rsp"])
            regs["rsp"] += 8
        if regs["rip"] == 0:
            break
    return frames
