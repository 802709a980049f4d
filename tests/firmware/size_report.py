#!/usr/bin/env python3
"""What failsafe costs a firmware, read from its ELF files.

Usage: size_report.py FULL_ELF BASE_ELF RAM_LINE

FULL_ELF is the firmware with failsafe, BASE_ELF the same firmware without
it (the `failsafe` feature off); RAM_LINE is the line the firmware printed
(`breaker128_ram=.. retry_ram=.. limiter_ram=..`). Needs `addr2line` (GNU
binutils: it reads the ARM DWARF and expands inlined frames) and rustup's
`llvm-tools` (llvm-size, llvm-nm, llvm-objdump), whose directory is in
$LLVM_BIN.

Prints the sections of both, then:

- failsafe's share of `.text`, attributed through the debug info: an
  instruction counts as failsafe's if any frame of its inline chain (LTO
  inlines async code into the tasks) is in failsafe's source (`core/`,
  `adapters/`) or is a failsafe function;
- the panic call sites reachable from failsafe code: calls to the core
  library's panic entry points whose innermost frame outside Rust's library
  and the dependencies is failsafe's (`panic_owner`), each with that line;
- the floating-point support linked: soft-float (`__aeabi_d*`, `__aeabi_f*`
  and the `__*df3` / `__*sf3` helpers) and `libm` functions;

and ends with one line:
`firmware-size: text_added=<bytes> breaker128_ram=<bytes> float_linked=<yes|no> reachable_panics=<count>`.
"""

import os
import re
import subprocess
import sys
from collections import Counter

LLVM_BIN = os.environ.get("LLVM_BIN", "")
ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAILSAFE_DIRS = (os.path.join(ROOT, "core") + os.sep, os.path.join(ROOT, "adapters") + os.sep)

PANIC_SYMBOL = re.compile(
    r"panicking|panic_bounds_check|unwrap_failed|expect_failed|panic_already|"
    r"slice_(start|end)_index|slice_index_order|str_index|panic_fmt|panic_const|"
    r"assert_failed|_ZN4core6option13unwrap_failed"
)
FLOAT_SYMBOL = re.compile(
    r"^(__aeabi_[dfl]\w*|__aeabi_[iu]2[df]|__aeabi_[dfi]\w*|__(add|sub|mul|div|neg)[ds]f3|"
    r"__(fix|float)\w*[ds]f\w*|__(extend|trunc)\w*|__(eq|ne|lt|le|gt|ge|un)[ds]f2)$"
)
# Soft-float helpers only: integer division (`__aeabi_uidiv`, `__aeabi_uldivmod`,
# `__aeabi_llsl`...) is not floating point.
INTEGER_HELPER = re.compile(r"^__aeabi_(u?i?div\w*|u?ldivmod|ll\w+|l[sa]\w+|memcpy\w*|memset\w*|memmove\w*|memclr\w*|uidivmod|idivmod)$")


def tool(name):
    path = os.path.join(LLVM_BIN, name) if LLVM_BIN else name
    return path


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def sections(elf):
    out = {}
    for line in run(tool("llvm-size"), "-A", elf).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in (".text", ".rodata", ".data", ".bss"):
            out[parts[0]] = int(parts[1])
    return out


def instructions(elf):
    """(address, size, call target symbol or None) of every .text instruction."""
    text = run(tool("llvm-objdump"), "-d", "--no-show-raw-insn", "--section=.text", elf)
    rows = []
    pattern = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)(.*)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        addr, mnemonic, rest = int(m.group(1), 16), m.group(2), m.group(3)
        target = None
        if mnemonic in ("bl", "blx", "b.w", "b"):
            t = re.search(r"<([^>+]+)", rest)
            target = t.group(1) if t else None
        rows.append([addr, 0, target])
    end = None
    for line in run(tool("llvm-objdump"), "-h", elf).splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == ".text":
            end = int(parts[3], 16) + int(parts[2], 16)
    for i, row in enumerate(rows):
        nxt = rows[i + 1][0] if i + 1 < len(rows) else end
        row[1] = nxt - row[0]
    return rows


def inline_chains(elf, addresses):
    """For each address, its frames (function, file:line), innermost first."""
    stdin = "\n".join(hex(a) for a in addresses) + "\n"
    out = subprocess.run(
        ["addr2line", "-e", elf, "-i", "-f", "-C", "-a"],
        input=stdin, check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    chains, current, i = {}, None, 0
    while i < len(out):
        line = out[i]
        if line.startswith("0x") and (i + 1 >= len(out) or not out[i + 1].startswith("0x")) and re.fullmatch(r"0x[0-9a-f]+", line):
            current = int(line, 16)
            chains[current] = []
            i += 1
            continue
        if current is not None and i + 1 < len(out):
            chains[current].append((line, out[i + 1]))
            i += 2
        else:
            i += 1
    return chains


def is_failsafe(frame):
    """A frame of failsafe's crates (not of this firmware, `failsafe_firmware`)."""
    function, location = frame
    if location.startswith(FAILSAFE_DIRS):
        return True
    named = re.search(r"(^|<)failsafe_(\w+)", function)
    return bool(named) and named.group(2) != "firmware"


def panic_owner(chain):
    """The failsafe frame a panic call belongs to, or None: the innermost
    frame outside Rust's own library (`/rustc/...`) and the dependencies
    (`.cargo/registry`), which decide nothing themselves; a panic whose
    innermost such frame is the firmware's (say its own async fn, polled
    inside a failsafe future) is the firmware's."""
    for frame in chain:
        location = frame[1]
        if location.startswith("/rustc/") or "/.cargo/registry/" in location or location.startswith("??"):
            continue
        return frame if is_failsafe(frame) else None
    return None


def main():
    full, base, ram_line = sys.argv[1], sys.argv[2], sys.argv[3]
    full_sections, base_sections = sections(full), sections(base)
    print(f"{'section':<10}{'with failsafe':>16}{'without':>12}{'added':>10}")
    for name in (".text", ".rodata", ".data", ".bss"):
        a, b = full_sections.get(name, 0), base_sections.get(name, 0)
        print(f"{name:<10}{a:>16}{b:>12}{a - b:>10}")
    text_added = full_sections.get(".text", 0) - base_sections.get(".text", 0)

    rows = instructions(full)
    chains = inline_chains(full, [r[0] for r in rows])
    share = 0
    by_file = Counter()
    panics = []
    for addr, size, target in rows:
        chain = chains.get(addr, [])
        ours = [f for f in chain if is_failsafe(f)]
        if ours:
            share += size
            by_file[ours[0][1].rsplit(":", 1)[0].replace(ROOT + os.sep, "")] += size
        if target and PANIC_SYMBOL.search(target):
            owner = panic_owner(chain)
            if owner is not None:
                panics.append((owner[1].replace(ROOT + os.sep, ""), target))
    total = full_sections.get(".text", 0)
    print(f"\nfailsafe's share of .text (debug info, inline chains): {share} of {total} bytes")
    for file, size in by_file.most_common(12):
        print(f"  {size:>6}  {file}")

    print(f"\npanic call sites reachable from failsafe code: {len(panics)}")
    for where, target in panics:
        print(f"  {where}  -> {target}")

    symbols = run(tool("llvm-nm"), "--defined-only", full).split("\n")
    names = [line.split()[-1] for line in symbols if line.strip()]
    floats = sorted({n for n in names if FLOAT_SYMBOL.match(n) and not INTEGER_HELPER.match(n)})
    libm = sorted({n for n in names if "libm" in n})
    print(f"\nsoft-float helpers linked: {len(floats)} {' '.join(floats)}")
    print(f"libm functions linked: {len(libm)}")
    for n in libm:
        print(f"  {n}")
    float_linked = "yes" if floats or libm else "no"

    ram = dict(kv.split("=") for kv in ram_line.split())
    print(
        f"\nfirmware-size: text_added={text_added} breaker128_ram={ram['breaker128_ram']} "
        f"float_linked={float_linked} reachable_panics={len(panics)}"
    )


if __name__ == "__main__":
    main()
