"""A bring-up harness for the simulated kernel: just enough of simulator/ABI.md on
Unicorn (through ctypes and libunicorn.so.2) to boot simkrnl.exe, run its threads,
answer its int 2Dh services and walk stacks with the images' .pdata.

It is not the simulator (simulator/*.cpp is): no paging, no KD, one Unicorn
instance whose CPUs take turns. It lets the kernel's own tests check behaviour,
and shows the kernel's output by hand:

    /usr/bin/python3 simulator/kernel/tools/minimachine.py build/h-kernel/simulator/kernel
"""

import ctypes
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pe_walk import UNWIND_REGS, Image, Module, unwind  # noqa: E402

# Unicorn 2.0 constants (unicorn.h, x86.h).
UC_ARCH_X86, UC_MODE_64, UC_PROT_ALL = 4, 8, 7
UC_HOOK_INTR, UC_HOOK_MEM_UNMAPPED = 1, 112
UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED, UC_MEM_FETCH_UNMAPPED = 19, 20, 21
REG = {"rax": 35, "rbx": 37, "rcx": 38, "rdx": 40, "rsi": 43, "rdi": 39, "rbp": 36,
       "rsp": 44, "r8": 106, "r9": 107, "r10": 108, "r11": 109, "r12": 110, "r13": 111,
       "r14": 112, "r15": 113, "rip": 41, "eflags": 25, "gs_base": 251}

KERNEL_BASE = 0xFFFFF80000400000
DRIVER_BASE = 0xFFFFF80001000000
POOL_BASE, POOL_SIZE = 0xFFFFF80010000000, 4 << 20
KPCR_BASE, STACKS_BASE, LOADER_BLOCKS = 0xFFFFF80020000000, 0xFFFFF80030000000, 0xFFFFF80040000000
BOOT_STACK = 0x10000
STATUS_NO_SUCH_FILE = 0xC000000F


def load_unicorn():
    lib = ctypes.CDLL("libunicorn.so.2")
    p, u64, i = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    lib.uc_open.argtypes = [i, i, p]
    lib.uc_reg_read.argtypes = [p, i, p]
    lib.uc_reg_write.argtypes = [p, i, p]
    lib.uc_mem_map.argtypes = [p, u64, ctypes.c_size_t, ctypes.c_uint32]
    lib.uc_mem_unmap.argtypes = [p, u64, ctypes.c_size_t]
    lib.uc_mem_write.argtypes = [p, u64, p, ctypes.c_size_t]
    lib.uc_mem_read.argtypes = [p, u64, p, ctypes.c_size_t]
    lib.uc_emu_start.argtypes = [p, u64, u64, u64, ctypes.c_size_t]
    lib.uc_emu_stop.argtypes = [p]
    lib.uc_context_alloc.argtypes = [p, p]
    lib.uc_context_save.argtypes = [p, p]
    lib.uc_context_restore.argtypes = [p, p]
    lib.uc_hook_add.argtypes = [p, p, i, p, p, u64, u64]
    return lib


class MiniMachine:
    """Boots simkrnl.exe with simdrv.sys as the boot driver on `cpus` processors."""

    SLICE = 4000  # instructions per turn

    def __init__(self, image_dir, cpus=1, prompt_reply=b"", serve_files=None, seed=0x1234,
                 build=19041):
        self.dir = Path(image_dir)
        # The kernel compiled for `build` (builds/<N>/simkrnl.exe), the drivers beside it.
        per_build = self.dir / "builds" / str(build) / "simkrnl.exe"
        self.uc_lib = load_unicorn()
        handle = ctypes.c_void_p()
        if self.uc_lib.uc_open(UC_ARCH_X86, UC_MODE_64, ctypes.byref(handle)):
            raise RuntimeError("uc_open failed")
        self.uc = handle.value
        self.prompt_reply, self.serve_files = prompt_reply, serve_files or {}
        self.output, self.events = [], []
        self.mapped, self.next_driver_base = {}, DRIVER_BASE + 0x100000
        self.ready, self.served = [], None
        self.bugcheck = None
        kernel = Image(per_build if per_build.is_file() else self.dir / "simkrnl.exe")
        self.kernel_exports = kernel.exports(KERNEL_BASE)
        self.modules = [Module("nt", kernel, KERNEL_BASE)]
        self._map(KERNEL_BASE, kernel.mapped(KERNEL_BASE, None))
        driver = Image(self.dir / "simdrv.sys")
        self._map(DRIVER_BASE, driver.mapped(DRIVER_BASE, self.kernel_exports))
        self.driver_exports = driver.exports(DRIVER_BASE)
        self.modules.append(Module("simdrv", driver, DRIVER_BASE))
        for base, size in ((POOL_BASE, POOL_SIZE), (KPCR_BASE, 0x1000 * cpus),
                           (STACKS_BASE, BOOT_STACK * cpus), (LOADER_BLOCKS, 0x1000)):
            self._check(self.uc_lib.uc_mem_map(self.uc, base, size, UC_PROT_ALL), "map")
        self.cpus = []
        for n in range(cpus):
            block = struct.pack("<QQQQII", KERNEL_BASE, kernel.size, POOL_BASE, POOL_SIZE, cpus, n)
            block += b"".join(struct.pack("<Q", KPCR_BASE + 0x1000 * k if k < cpus else 0)
                              for k in range(8))
            # BootFlags: SIM_BOOT_PROMPT (sdk/kd.h) when there is a prompt answer to give.
            block += struct.pack("<QQIIQ", DRIVER_BASE, driver.size, build, 1 if prompt_reply else 0, seed)
            self.write(LOADER_BLOCKS + 0x100 * n, block)
            top = STACKS_BASE + BOOT_STACK * (n + 1)
            self.write_u64(top - 0x28, 0)
            self.set_reg("rip", KERNEL_BASE + kernel.entry_rva)
            self.set_reg("rcx", LOADER_BLOCKS + 0x100 * n)
            self.set_reg("rsp", top - 0x28)
            self.set_reg("eflags", 0x202)  # interrupts on: a halt with them off is final
            context = self._new_context()
            # Each CPU runs its boot context (= idle thread) or a thread.
            self.cpus.append({"n": n, "idle": context, "thread": None, "halted": False,
                              "for_good": False})
        self._pending = None
        self._fault = None
        self._hooks = [ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)(
                           self._on_interrupt),
                       ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                                        ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)(self._on_fault)]
        hook = ctypes.c_void_p()
        self.uc_lib.uc_hook_add(self.uc, ctypes.byref(hook), UC_HOOK_INTR,
                                ctypes.cast(self._hooks[0], ctypes.c_void_p), None, 1, 0)
        self.uc_lib.uc_hook_add(self.uc, ctypes.byref(hook), UC_HOOK_MEM_UNMAPPED,
                                ctypes.cast(self._hooks[1], ctypes.c_void_p), None, 1, 0)

    # Memory and registers.
    def _check(self, err, what):
        if err:
            raise RuntimeError(f"unicorn {what} failed: {err}")

    def _map(self, base, data):
        self._check(self.uc_lib.uc_mem_map(self.uc, base, len(data), UC_PROT_ALL), "map")
        self.write(base, data)

    def write(self, address, data):
        self._check(self.uc_lib.uc_mem_write(self.uc, address, bytes(data), len(data)), "write")

    def read(self, address, size):
        buffer = ctypes.create_string_buffer(size)
        self._check(self.uc_lib.uc_mem_read(self.uc, address, buffer, size), "read")
        return buffer.raw

    def read_u64(self, address):
        return struct.unpack("<Q", self.read(address, 8))[0]

    def write_u64(self, address, value):
        self.write(address, struct.pack("<Q", value & (2**64 - 1)))

    def reg(self, name):
        value = ctypes.c_uint64()
        self.uc_lib.uc_reg_read(self.uc, REG[name], ctypes.byref(value))
        return value.value

    def set_reg(self, name, value):
        value = ctypes.c_uint64(value & (2**64 - 1))
        self._check(self.uc_lib.uc_reg_write(self.uc, REG[name], ctypes.byref(value)), "reg")

    def _new_context(self):
        context = ctypes.c_void_p()
        self.uc_lib.uc_context_alloc(self.uc, ctypes.byref(context))
        self.uc_lib.uc_context_save(self.uc, context)
        return context

    def cstring(self, address, limit=256):
        data = self.read(address, limit)
        return data[:data.index(0)].decode()

    # Hooks: stop, and let run() handle the event outside Unicorn.
    def _on_interrupt(self, uc, number, user):
        self._pending = number
        self.uc_lib.uc_emu_stop(self.uc)

    def _on_fault(self, uc, kind, address, size, value, user):
        self._fault = (kind, address)
        return False

    # Services (ABI.md); returns "yield", "halt", "exit" or None.
    def _service(self, cpu):
        service = self.reg("rax") & 0xFFFFFFFF
        a1, a2, a3, a4 = (self.reg(r) for r in ("rcx", "rdx", "r8", "r9"))
        self.set_reg("rip", self.reg("rip") + 1)  # past the int 3 after int 2Dh
        if service == 1:
            self.output.append(self.read(a1, a2).decode(errors="replace"))
        elif service == 2:
            self.events.append(("prompt", self.read(a1, a2).decode()))
            reply = self.prompt_reply[:a4]
            self.write(a3, reply)
            self.set_reg("rax", len(reply))
        elif service in (3, 4):
            length, _, _, buffer = struct.unpack("<HHIQ", self.read(a1, 16))
            base, _, _, size = struct.unpack("<QQII", self.read(a2, 24))
            kind = "load" if service == 3 else "unload"
            self.events.append((kind, self.read(buffer, length).decode(), base, size))
        elif service == 0x100:
            name = self.cstring(a1)
            served = self.read(a2, a3) if a2 and a3 else None  # a copy the debugger served
            self.events.append(("map", name, served is not None))
            image = Image(self.dir / name, served)
            base = self.next_driver_base
            self.next_driver_base += 0x100000
            self._map(base, image.mapped(base, self.kernel_exports))
            self.mapped[base] = (image.size, Module(name.split(".")[0], image, base))
            self.modules.append(self.mapped[base][1])
            self.set_reg("rax", base)
            self.set_reg("rdx", image.size)
        elif service == 0x101:
            size, module = self.mapped.pop(a1)
            self.modules.remove(module)
            self.uc_lib.uc_mem_unmap(self.uc, a1, size)
        elif service == 0x102:
            current = self._new_context()
            self.set_reg("rip", a2)
            self.set_reg("rcx", a3)
            self.set_reg("rsp", (a4 & ~0xF) - 0x28)
            self.write_u64((a4 & ~0xF) - 0x28, 0)
            self.ready.append({"context": self._new_context(), "kthread": a1})
            self.uc_lib.uc_context_restore(self.uc, current)
        elif service == 0x103:
            return "yield"
        elif service == 0x104:
            return "exit"
        elif service == 0x105:
            return "halt"
        elif service == 0x106:
            path = self.read(a1, a2).decode("utf-16-le")
            self.events.append(("file_open", path))
            self.served = self.serve_files.get(path)
            self.set_reg("rax", 0 if self.served is not None else STATUS_NO_SUCH_FILE)
            self.set_reg("rdx", len(self.served) if self.served is not None else 0)
        elif service == 0x107:
            chunk = (self.served or b"")[a2:a2 + a3]
            self.write(a1, chunk)
            self.set_reg("rax", 0)
            self.set_reg("rdx", len(chunk))
        elif service == 0x108:
            # SIM_CREATE_ADDRESS_SPACE: this harness has no page tables; refused (rax 0),
            # so the kernel keeps its processes without user pages.
            self.events.append(("address_space", a1, a3))
            self.set_reg("rax", 0)
        else:
            raise RuntimeError(f"unknown service {service:#x}")
        return None

    def _enter_with_interrupt_frame(self, entry, rcx, rdx=0, r8=0, r9=0):
        """Enters a kernel entry point as ABI.md says: an interrupt frame (rip, cs,
        rflags, rsp, ss) below the current stack, arguments in rcx, rdx, r8, r9."""
        rip, rsp = self.reg("rip"), self.reg("rsp")
        frame = ((rsp - 0x100) & ~0xF) - 0x28
        for k, value in enumerate((rip, 0x10, self.reg("eflags"), rsp, 0x18)):
            self.write_u64(frame + 8 * k, value)
        self.set_reg("rsp", frame)
        for name, value in (("rcx", rcx), ("rdx", rdx), ("r8", r8), ("r9", r9)):
            self.set_reg(name, value)
        self.set_reg("rip", self.kernel_exports[entry])

    def _dispatch_fault(self):
        kind, address = self._fault
        self._fault = None
        rip = self.reg("rip")
        access = {UC_MEM_READ_UNMAPPED: 0, UC_MEM_WRITE_UNMAPPED: 1, UC_MEM_FETCH_UNMAPPED: 8}[kind]
        self.events.append(("access_violation", rip, access, address))
        self._enter_with_interrupt_frame("KiUnhandledException", 0xC0000005, rip, access, address)

    def cause_bugcheck(self, cpu_index, code=0xE2):
        """What the simulator does for a debugger's .crash on processor cpu_index."""
        cpu = self.cpus[cpu_index]
        context = cpu["thread"]["context"] if cpu["thread"] else cpu["idle"]
        self.uc_lib.uc_context_restore(self.uc, context)
        self._enter_with_interrupt_frame("KdpCauseBugCheck", code)
        self.uc_lib.uc_context_save(self.uc, context)
        cpu["halted"] = False

    def _breakpoint(self, cpu):
        address = self.reg("rip") - 1
        if address == self.kernel_exports["RtlpBreakWithStatusInstruction"] and not self.bugcheck:
            data = [self.read_u64(self.kernel_exports["KiBugCheckData"] + 8 * k) for k in range(5)]
            regs = {name: self.reg(name) for name in UNWIND_REGS}
            regs["rip"] = address
            self.bugcheck = {"data": data, "cpu": cpu["n"],
                             "stack": unwind(self.modules, regs, self.read_u64)}
        self.events.append(("breakpoint", address))

    def _run_turn(self, cpu, budget):
        """Runs one CPU until its slice ends or it yields, halts or exits."""
        while budget > 0:
            self._pending = None
            start = self.reg("rip")
            err = self.uc_lib.uc_emu_start(self.uc, start, 2**64 - 1, 0, budget)
            budget -= 100
            if self._fault:
                self._dispatch_fault()
                continue
            if err:
                raise RuntimeError(f"unicorn error {err} at {self.reg('rip'):#x}")
            if self._pending is None:
                return None
            if self._pending == 3:
                self._breakpoint(cpu)
                continue
            if self._pending != 0x2D:
                raise RuntimeError(f"interrupt {self._pending} at {self.reg('rip'):#x}")
            action = self._service(cpu)
            if action:
                return action
        return None

    def run(self, turns, until=None):
        """Round-robin turns over the CPUs; stops early when until(self) is true."""
        tick = self.kernel_exports["KeTickCount"]
        for turn in range(turns):
            cpu = self.cpus[turn % len(self.cpus)]
            if cpu["for_good"]:
                continue
            if cpu["halted"] and not (cpu["thread"] is None and self.ready):
                continue
            if cpu["halted"] and cpu["thread"] is None:
                cpu["thread"] = self.ready.pop(0)
            cpu["halted"] = False
            context = cpu["thread"]["context"] if cpu["thread"] else cpu["idle"]
            self.uc_lib.uc_context_restore(self.uc, context)
            self.set_reg("gs_base", KPCR_BASE + 0x1000 * cpu["n"])
            prcb = KPCR_BASE + 0x1000 * cpu["n"] + 0x180
            current = cpu["thread"]["kthread"] if cpu["thread"] else self.read_u64(prcb + 0x18)
            self.write_u64(prcb + 0x08, current)
            if turn % len(self.cpus) == 0:
                self.write_u64(tick, self.read_u64(tick) + 1)
            action = self._run_turn(cpu, self.SLICE)
            if action == "exit":
                cpu["thread"] = None
            else:
                self.uc_lib.uc_context_save(self.uc, context)
                if action == "halt":
                    interrupts_off = not (self.reg("eflags") & 0x200)
                    cpu["for_good"] = interrupts_off or cpu["thread"] is not None
                    cpu["halted"] = True
                if self.ready and not cpu["for_good"]:
                    if cpu["thread"] is not None:
                        self.ready.append(cpu["thread"])
                    cpu["thread"] = self.ready.pop(0)
                    cpu["halted"] = False
            if until and until(self):
                return True
        return False

    def text(self):
        return "".join(self.output)

    def loaded_modules(self):
        """Base names on PsLoadedModuleList, walked as a debugger does."""
        head = self.kernel_exports["PsLoadedModuleList"]
        names, entry = [], self.read_u64(head)
        while entry != head and len(names) < 64:
            length, _, _, buffer = struct.unpack("<HHIQ", self.read(entry + 0x58, 16))
            names.append(self.read(buffer, length).decode("utf-16-le"))
            entry = self.read_u64(entry)
        return names


if __name__ == "__main__":
    machine = MiniMachine(sys.argv[1], cpus=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    machine.run(int(sys.argv[3]) if len(sys.argv) > 3 else 4000)
    sys.stdout.write(machine.text())
    print("modules:", machine.loaded_modules())
