"""The Windows builds kdsim models: ONE table, read by
  * tools/gen_layout.py, which writes sim_builds.h (the kernel compiles it with
    -DSIM_BUILD=N: per-build structure bodies, NtBuildLab) and the C++ side's
    build list (simulator/sim_builds.hpp includes the same generated header);
  * the tests (pytests/simulator/test_simbuilds*.py), which check the built PDBs
    and a running kdsim against it.

Offsets are x64, in bytes. Sources, cited per value below:
  [ntdiff]  github.com/ntdiff/headers, <folder>/x64/System32/ntoskrnl.exe/Standalone/
            _EPROCESS.h and _ETHREAD.h (type dumps of Microsoft's public ntoskrnl PDBs)
            folders: Win7_SP1, Win8, Win8.1, Win10_1607_RS1, Win10_1803_RS4,
            Win10_1903_19H1, Win11_2209_22H2, Win11_2409_24H2.
  [kernel]  the 19041 offsets this kernel has modelled since it was written (the
            Vergilius Project's Windows 10 2004 layouts, simulator/ABI.md).
  [derived] from the [ntdiff] layout of a neighbouring field of the same build (the
            rule is stated where used).
  UNVERIFIED: no public fact read for that value; the kernel uses the value given and
            says so: the ETHREAD of 22621 (no 22H2 ETHREAD dump found: field offsets
            [derived], size 19041's) and the ETHREAD size of 19041.

Fields the table does not name are padding in the kernel's structures; fields the
kernel adds for itself (Sim*) sit past the real structure's size.
"""

# KPROCESS: Header 0x0, ProfileListHead 0x18, DirectoryTableBase 0x28 and
# ThreadListHead 0x30 are at the same offsets in every build below ([ntdiff] KPROCESS
# of each folder; the 24H2 dump shows 0x28/0x30 too). Its size is where EPROCESS's
# next field (ProcessLock) starts.
KPROCESS_COMMON = {"DirectoryTableBase": 0x28, "ThreadListHead": 0x30}

# KTHREAD of 19041 ([kernel]; the same offsets are in [ntdiff] Win11_2409_24H2
# _ETHREAD.h's KTHREAD for every field named here, which supports them).
KTHREAD_19041 = {
    "InitialStack": 0x28, "StackLimit": 0x30, "StackBase": 0x38, "KernelStack": 0x58,
    "ApcState": 0x98, "Teb": 0xF0, "State": 0x184, "Process": 0x220,
    "ThreadListEntry": 0x2F8, "size": 0x430,
}

def kthread_since_win8(size):
    """The KTHREAD fields this table models sit at the same offsets from Windows 8 on
    (KTHREAD_19041's); only the size differs."""
    return dict(KTHREAD_19041, size=size)


# ETHREAD of 19041: Cid, Win32StartAddress, ThreadListEntry [derived] from [ntdiff]
# Win11_2409_24H2 (Cid = KTHREAD size + 0x48, Win32StartAddress = Cid + 0x58,
# ThreadListEntry = Cid + 0x70: the ETHREAD head CreateTime..ActiveTimerListHead,
# ClientSecurity, IrpList, TopLevelIrp, DeviceToVerify is the same in 2004 and 24H2);
# size 0x898: Vergilius Windows 10 2004, not re-read this session.
ETHREAD_19041 = {"Cid": 0x478, "Win32StartAddress": 0x4D0, "ThreadListEntry": 0x4E8, "size": 0x898}

BUILDS = {
    7601: {
        "product": "Windows 7",
        "lab": "7601.17514.amd64fre.win7sp1_rtm.101119-1850",
        # [ntdiff] Win7_SP1 _EPROCESS.h: Pcb 0x160 bytes, UniqueProcessId 0x180,
        # ActiveProcessLinks 0x188, InheritedFromUniqueProcessId 0x290,
        # ImageFileName 0x2e0, ThreadListHead 0x308, Peb 0x338, size 0x4d0.
        "kprocess_size": 0x160,
        "eprocess": {"UniqueProcessId": 0x180, "ActiveProcessLinks": 0x188,
                     "InheritedFromUniqueProcessId": 0x290, "ImageFileName": 0x2E0,
                     "ThreadListHead": 0x308, "Peb": 0x338, "size": 0x4D0},
        # [ntdiff] Win7_SP1 _ETHREAD.h's KTHREAD: ApcState 0x50, Teb 0xb8, State 0x164,
        # Process 0x210, StackBase 0x278, ThreadListEntry 0x2f8, size 0x360.
        # InitialStack 0x28, StackLimit 0x30, KernelStack 0x38: the part of that dump
        # before ApcState was not read this session (Vergilius 7 SP1 KTHREAD).
        "kthread": {"InitialStack": 0x28, "StackLimit": 0x30, "KernelStack": 0x38,
                    "ApcState": 0x50, "Teb": 0xB8, "State": 0x164, "Process": 0x210,
                    "StackBase": 0x278, "ThreadListEntry": 0x2F8, "size": 0x360},
        # [ntdiff] Win7_SP1 _ETHREAD.h: Cid 0x3b0, Win32StartAddress 0x410,
        # ThreadListEntry 0x420, size 0x498.
        "ethread": {"Cid": 0x3B0, "Win32StartAddress": 0x410, "ThreadListEntry": 0x420,
                    "size": 0x498},
    },
    9200: {
        "product": "Windows 8",
        "lab": "9200.16384.amd64fre.win8_rtm.120725-1247",
        # [ntdiff] Win8 _EPROCESS.h: Pcb 0x2c8 bytes, UniqueProcessId 0x2e0,
        # ActiveProcessLinks 0x2e8, InheritedFromUniqueProcessId 0x3d0, Peb 0x3e8,
        # ImageFileName 0x438, ThreadListHead 0x470, size 0x660.
        "kprocess_size": 0x2C8,
        "eprocess": {"UniqueProcessId": 0x2E0, "ActiveProcessLinks": 0x2E8,
                     "InheritedFromUniqueProcessId": 0x3D0, "Peb": 0x3E8,
                     "ImageFileName": 0x438, "ThreadListHead": 0x470, "size": 0x660},
        # [ntdiff] Win8 _ETHREAD.h: KTHREAD ApcState 0x98, Teb 0xf0, State 0x184,
        # Process 0x220, ThreadListEntry 0x2f8, size 0x348 (InitialStack .. KernelStack:
        # the dump's first part was not read; the head through MiscFlags 0x74 is laid out
        # as 24H2's, whose are 0x28/0x30/0x38/0x58); ETHREAD Cid 0x398,
        # Win32StartAddress 0x3f0, ThreadListEntry 0x400, size 0x4c8.
        "kthread": kthread_since_win8(0x348),
        "ethread": {"Cid": 0x398, "Win32StartAddress": 0x3F0, "ThreadListEntry": 0x400,
                    "size": 0x4C8},
    },
    9600: {
        "product": "Windows 8",  # KD calls 6.3 "Windows 8" in its banner
        "lab": "9600.16384.amd64fre.winblue_rtm.130821-1623",
        # [ntdiff] Win8.1 _EPROCESS.h: Pcb 0x2c8 bytes, UniqueProcessId 0x2e0,
        # ActiveProcessLinks 0x2e8, InheritedFromUniqueProcessId 0x3d0, Peb 0x3e8,
        # ImageFileName 0x438, ThreadListHead 0x470, size 0x6b8.
        "kprocess_size": 0x2C8,
        "eprocess": {"UniqueProcessId": 0x2E0, "ActiveProcessLinks": 0x2E8,
                     "InheritedFromUniqueProcessId": 0x3D0, "Peb": 0x3E8,
                     "ImageFileName": 0x438, "ThreadListHead": 0x470, "size": 0x6B8},
        # [ntdiff] Win8.1 _ETHREAD.h: KTHREAD ApcState 0x98, Teb 0xf0, State 0x184,
        # Process 0x220, ThreadListEntry 0x2f8, size 0x5d0 (stacks as for 9200); ETHREAD
        # Cid 0x620, Win32StartAddress 0x678, ThreadListEntry 0x688, size 0x778.
        "kthread": kthread_since_win8(0x5D0),
        "ethread": {"Cid": 0x620, "Win32StartAddress": 0x678, "ThreadListEntry": 0x688,
                    "size": 0x778},
    },
    14393: {
        "product": "Windows 10",
        "lab": "14393.0.amd64fre.rs1_release.160715-1616",
        # [ntdiff] Win10_1607_RS1 _EPROCESS.h: Pcb 0x2d8 bytes, UniqueProcessId 0x2e8,
        # ActiveProcessLinks 0x2f0, InheritedFromUniqueProcessId 0x3e0, Peb 0x3f8,
        # ImageFileName 0x450, ThreadListHead 0x488, size 0x7b0.
        "kprocess_size": 0x2D8,
        "eprocess": {"UniqueProcessId": 0x2E8, "ActiveProcessLinks": 0x2F0,
                     "InheritedFromUniqueProcessId": 0x3E0, "Peb": 0x3F8,
                     "ImageFileName": 0x450, "ThreadListHead": 0x488, "size": 0x7B0},
        # [ntdiff] Win10_1607_RS1 _ETHREAD.h: KTHREAD State 0x184, Process 0x220,
        # ThreadListEntry 0x2f8, size 0x5e0 (ApcState 0x98/Teb 0xf0 and the stacks [derived]:
        # WaitBlock 0x140 and State 0x184 as in 9600); ETHREAD Cid 0x630,
        # Win32StartAddress 0x688, ThreadListEntry 0x698, size 0x7e0.
        "kthread": kthread_since_win8(0x5E0),
        "ethread": {"Cid": 0x630, "Win32StartAddress": 0x688, "ThreadListEntry": 0x698,
                    "size": 0x7E0},
    },
    17134: {
        "product": "Windows 10",
        "lab": "17134.1.amd64fre.rs4_release.180410-1804",
        # [ntdiff] Win10_1803_RS4 _EPROCESS.h: Pcb 0x2d8 bytes, UniqueProcessId 0x2e0,
        # ActiveProcessLinks 0x2e8, InheritedFromUniqueProcessId 0x3e0, Peb 0x3f8,
        # ImageFileName 0x450, ThreadListHead 0x488, size 0x848.
        "kprocess_size": 0x2D8,
        "eprocess": {"UniqueProcessId": 0x2E0, "ActiveProcessLinks": 0x2E8,
                     "InheritedFromUniqueProcessId": 0x3E0, "Peb": 0x3F8,
                     "ImageFileName": 0x450, "ThreadListHead": 0x488, "size": 0x848},
        # [ntdiff] Win10_1803_RS4 _ETHREAD.h: KTHREAD ThreadListEntry 0x2f8, size 0x5f0
        # (the fields before 0x234 [derived], as 14393's); ETHREAD Cid 0x638,
        # Win32StartAddress 0x690, ThreadListEntry 0x6a8, size 0x818.
        "kthread": kthread_since_win8(0x5F0),
        "ethread": {"Cid": 0x638, "Win32StartAddress": 0x690, "ThreadListEntry": 0x6A8,
                    "size": 0x818},
    },
    18362: {
        "product": "Windows 10",
        "lab": "18362.1.amd64fre.19h1_release.190318-1202",
        # [ntdiff] Win10_1903_19H1 _EPROCESS.h: Pcb 0x2d8 bytes, UniqueProcessId 0x2e0,
        # ActiveProcessLinks 0x2e8, InheritedFromUniqueProcessId 0x3e0, Peb 0x3f8,
        # ImageFileName 0x450, ThreadListHead 0x488, MmHotPatchContext 0x848 (the last
        # field: size 0x850).
        "kprocess_size": 0x2D8,
        "eprocess": {"UniqueProcessId": 0x2E0, "ActiveProcessLinks": 0x2E8,
                     "InheritedFromUniqueProcessId": 0x3E0, "Peb": 0x3F8,
                     "ImageFileName": 0x450, "ThreadListHead": 0x488, "size": 0x850},
        # [ntdiff] Win10_1903_19H1 _ETHREAD.h: KTHREAD ThreadListEntry 0x2f8, size 0x5f0
        # (the fields before 0x234 [derived], as 14393's); ETHREAD Cid 0x638,
        # Win32StartAddress 0x690, ThreadListEntry 0x6a8, size 0x810.
        "kthread": kthread_since_win8(0x5F0),
        "ethread": {"Cid": 0x638, "Win32StartAddress": 0x690, "ThreadListEntry": 0x6A8,
                    "size": 0x810},
    },
    19041: {
        "product": "Windows 10",
        "lab": "19041.1.amd64fre.vb_release.191206-1406",
        # [kernel]: UniqueProcessId 0x440, ActiveProcessLinks 0x448,
        # InheritedFromUniqueProcessId 0x540, Peb 0x550, ImageFileName 0x5a8,
        # ThreadListHead 0x5e0, size 0xa40, Pcb 0x438 bytes.
        "kprocess_size": 0x438,
        "eprocess": {"UniqueProcessId": 0x440, "ActiveProcessLinks": 0x448,
                     "InheritedFromUniqueProcessId": 0x540, "Peb": 0x550,
                     "ImageFileName": 0x5A8, "ThreadListHead": 0x5E0, "size": 0xA40},
        "kthread": KTHREAD_19041, "ethread": ETHREAD_19041,
    },
    22621: {
        "product": "Windows 10",  # KD's banner says "Windows 10 Kernel Version 22621"
        "lab": "22621.1.amd64fre.ni_release.220506-1250",
        # [ntdiff] Win11_2209_22H2 _EPROCESS.h: Flags2 0x460 after RundownProtect, so
        # UniqueProcessId 0x440 and ActiveProcessLinks 0x448 [derived: the 19041 order
        # ProcessLock, UniqueProcessId, ActiveProcessLinks, RundownProtect, Flags2];
        # InheritedFromUniqueProcessId 0x540, Peb 0x550, ImageFileName 0x5a8,
        # ThreadListHead 0x5e0, size 0xb80.
        "kprocess_size": 0x438,
        "eprocess": {"UniqueProcessId": 0x440, "ActiveProcessLinks": 0x448,
                     "InheritedFromUniqueProcessId": 0x540, "Peb": 0x550,
                     "ImageFileName": 0x5A8, "ThreadListHead": 0x5E0, "size": 0xB80},
        # [ntdiff] Win11_2209_22H2 _KTHREAD.h: ApcState 0x98, Teb 0xf0, State 0x184,
        # Process 0x220, ThreadListEntry 0x2f8, size 0x480 (the stacks as 24H2's: the head
        # through ThreadFlags 0x78 is the same). No 22H2 _ETHREAD.h in the sources: Cid,
        # Win32StartAddress and ThreadListEntry [derived] with 2004's and 24H2's distances
        # from the KTHREAD size (+0x48, +0xa0, +0xb8); the size is UNVERIFIED (2004's 0x898).
        "kthread": kthread_since_win8(0x480),
        "ethread": {"Cid": 0x4C8, "Win32StartAddress": 0x520, "ThreadListEntry": 0x538,
                    "size": 0x898},
    },
    26100: {
        "product": "Windows 10",  # KD's banner says "Windows 10 Kernel Version 26100"
        "lab": "26100.1.amd64fre.ge_release.240331-1435",
        # [ntdiff] Win11_2409_24H2 _EPROCESS.h: Pcb 0x1c8 bytes, UniqueProcessId 0x1d0,
        # ActiveProcessLinks 0x1d8, InheritedFromUniqueProcessId 0x2d0, Peb 0x2e0,
        # ImageFileName 0x338, ThreadListHead 0x370, size 0x840 (ThreadIndexTable 0x800
        # + 14 ULONGs of padding).
        "kprocess_size": 0x1C8,
        "eprocess": {"UniqueProcessId": 0x1D0, "ActiveProcessLinks": 0x1D8,
                     "InheritedFromUniqueProcessId": 0x2D0, "Peb": 0x2E0,
                     "ImageFileName": 0x338, "ThreadListHead": 0x370, "size": 0x840},
        # [ntdiff] Win11_2409_24H2 _ETHREAD.h: KTHREAD InitialStack 0x28, StackLimit 0x30,
        # StackBase 0x38, KernelStack 0x58, ApcState 0x98, Teb 0xf0, State 0x184,
        # Process 0x220, ThreadListEntry 0x2f8, size 0x4c0; ETHREAD Cid 0x508,
        # Win32StartAddress 0x560, ThreadListEntry 0x578, size 0x788.
        "kthread": kthread_since_win8(0x4C0),
        "ethread": {"Cid": 0x508, "Win32StartAddress": 0x560, "ThreadListEntry": 0x578,
                    "size": 0x788},
    },
}

DEFAULT_BUILD = 19041

# Which table entries were not taken from a public dump (the tests print them; the
# report and simulator/README.md list them).
# 22621: no ETHREAD dump of 22H2 was found in the sources; its field offsets are
# derived and its size is 19041's.
UNVERIFIED = {22621: ["ethread"], 19041: ["ethread"]}  # 19041: its size only

# Fixed in every modelled build (and asserted in sdk/ke.h / ldr.h):
#   KPCR.Prcb 0x180, KPRCB.CurrentThread 0x8, KPRCB.Number 0x24 (gs:[0x188], gs:[0x1a4]);
#   LDR_DATA_TABLE_ENTRY InLoadOrderLinks 0x0 .. DllBase 0x30, SizeOfImage 0x40,
#   FullDllName 0x48, BaseDllName 0x58; PEB.Ldr 0x18; PEB_LDR_DATA.InLoadOrderModuleList
#   0x10; TEB.ClientId 0x40, TEB.ProcessEnvironmentBlock 0x60.
FIXED = {
    "KPCR.Prcb": 0x180, "KPRCB.CurrentThread": 0x8, "KPRCB.Number": 0x24,
    "PEB.ImageBaseAddress": 0x10, "PEB.Ldr": 0x18, "PEB_LDR_DATA.InLoadOrderModuleList": 0x10,
    "LDR_DATA_TABLE_ENTRY.DllBase": 0x30, "LDR_DATA_TABLE_ENTRY.SizeOfImage": 0x40,
    "LDR_DATA_TABLE_ENTRY.FullDllName": 0x48, "LDR_DATA_TABLE_ENTRY.BaseDllName": 0x58,
    "TEB.ClientId": 0x40, "TEB.ProcessEnvironmentBlock": 0x60,
}
