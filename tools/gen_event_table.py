#!/usr/bin/env python3
"""Generates src/rae/syscall/event_table_data.py from a falcosecurity/libs git repository (0.9.0).

The event schema, the flag/enum tables and the dynamic-parameter tables are interface data of the
capture format. This script compiles the upstream table sources against a tiny dumper written here,
runs it, and writes the facts (numbers and names only) as Python literals. Nothing of the upstream
sources is copied into the project; re-run it to regenerate:

    tools/gen_event_table.py /path/to/falcosecurity/libs.git 0.9.0 NEWER_REV

NEWER_REV (e.g. a commit of the master branch) contributes the event codes added after 0.9.0 and
the parameters appended to older events since, so that events of newer drivers decode too.
"""

from __future__ import annotations

import pprint
import re
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "rae" / "syscall" / "event_table_data.py"

FILES = ("driver/ppm_events_public.h", "driver/feature_gates.h", "driver/ppm_fillers.h",
         "driver/event_table.c", "driver/flags_table.c", "driver/dynamic_params_table.c",
         "userspace/common/types.h",
         "userspace/libscap/syscall_info_table.c")
NEWER_FILES = ("driver/ppm_events_public.h", "driver/feature_gates.h", "driver/ppm_fillers.h",
               "driver/event_table.c", "driver/flags_table.c", "driver/dynamic_params_table.c")


def _enum(header: str, enum_name: str, prefix: str) -> dict[int, str]:
    m = re.search(r"enum " + enum_name + r"\s*\{(.*?)\};", header, re.S)
    assert m, enum_name
    out: dict[int, str] = {}
    for name, expr in re.findall(r"\b(" + prefix + r"\w+)\s*=\s*([^,/\n]+)", m.group(1)):
        out.setdefault(eval(expr.strip()), name[len(prefix):])
    return out


def _dump(repo: str, tag: str, files: tuple[str, ...]) -> tuple[list[tuple], dict, dict, dict, dict, list[str]]:
    """Compile the tables of ``tag`` with a dumper and parse its output."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for rel in files:
            data = subprocess.run(["git", "-C", repo, "show", f"{tag}:{rel}"], check=True,
                                  capture_output=True).stdout
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_bytes(data)
        drv = t / "driver"
        header = (drv / "ppm_events_public.h").read_text()
        pt = _enum(header, "ppm_param_type", "PT_")
        pf = _enum(header, "ppm_print_format", "PF_")
        flags_src = (drv / "flags_table.c").read_text()
        dyn_src = (drv / "dynamic_params_table.c").read_text()
        flag_tables = re.findall(r"const struct ppm_name_value (\w+)\[\]", flags_src)
        dyn_tables = re.findall(r"const struct ppm_param_info (\w+)\[", dyn_src)
        lines = ["#include <stdio.h>", '#include "ppm_events_public.h"',
                 "extern const struct ppm_event_info g_event_info[];"]
        lines += [f"extern const struct ppm_name_value {n}[];" for n in flag_tables]
        lines += [f"extern const struct ppm_param_info {n}[];" for n in dyn_tables]
        lines.append("static const char *tn(const void *p) {")
        lines += [f'  if (p == (const void *){n}) return "{n}";' for n in flag_tables + dyn_tables]
        lines += ['  return "-";', "}", "int main(void) {", "  int i; unsigned j;",
                  '  printf("MAX\\t%d\\n", PPM_EVENT_MAX);',
                  "  for (i = 0; i < PPM_EVENT_MAX; i++) {",
                  "    const struct ppm_event_info *e = &g_event_info[i];",
                  '    printf("E\\t%d\\t%s\\t%d\\t%d\\t%u\\n", i, e->name, (int)e->category, (int)e->flags,'
                  " e->nparams);",
                  "    for (j = 0; j < e->nparams; j++) {",
                  "      const struct ppm_param_info *p = &e->params[j];",
                  '      printf("P\\t%s\\t%d\\t%d\\t%s\\t%ld\\t%d\\n", p->name, (int)p->type, (int)p->fmt,'
                  " tn(p->info), (long)p->info, (int)p->ninfo);",
                  "      if (p->type == PT_DYN) { int k; const struct ppm_param_info *d = p->info;",
                  '        for (k = 0; k < p->ninfo; k++) printf("D\\t%s\\t%d\\t%d\\t%d\\n", tn(p->info),'
                  " k, (int)d[k].type, (int)d[k].fmt); }",
                  "    }", "  }"]
        for n in flag_tables:
            lines += [f"  for (i = 0; {n}[i].name; i++)",
                      f'    printf("F\\t{n}\\t%s\\t%u\\n", {n}[i].name, {n}[i].value);']
        lines += ["  return 0;", "}"]
        (drv / "dump.c").write_text("\n".join(lines) + "\n")
        exe = t / "dump"
        subprocess.run(["gcc", "-w", "-o", str(exe), str(drv / "dump.c"), str(drv / "event_table.c"),
                        str(drv / "flags_table.c"), str(drv / "dynamic_params_table.c")],
                       check=True, cwd=drv)
        dump = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
        syscalls: list[str] = []
        sc_path = t / "userspace/libscap/syscall_info_table.c"
        if sc_path.exists():
            sc_src = sc_path.read_text()
            body = sc_src[sc_src.index("g_syscall_info_table[PPM_SC_MAX]"):]
            syscalls = re.findall(r'\{\s*EC_\w+[^"]*"([^"]*)"\s*\}', body)
    ec = _enum(header, "ppm_event_category", "EC_")
    ef = _enum(header, "ppm_event_flags", "EF_")
    events: list[tuple] = []
    flags: dict[str, list[tuple[str, int]]] = {}
    dyn: dict[str, dict[int, tuple[str, str]]] = {}
    for line in dump.splitlines():
        f = line.split("\t")
        if f[0] == "E":
            events.append((f[2], int(f[3]), int(f[4]), []))
        elif f[0] == "P":
            name, typ, fmt, table, info = f[1], pt[int(f[2])], pf[int(f[3])], f[4], int(f[5])
            extra: str | int | None = None if table == "-" else table
            if typ == "FSRELPATH":
                extra = info  # index of the dirfd parameter
            events[-1][3].append((name, typ, fmt, extra))
        elif f[0] == "D":
            dyn.setdefault(f[1], {})[int(f[2])] = (pt[int(f[3])], pf[int(f[4])])
        elif f[0] == "F":
            flags.setdefault(f[1], []).append((f[2], int(f[3])))
    return events, flags, dyn, ec, ef, syscalls


def main() -> None:
    repo = sys.argv[1]
    tag = sys.argv[2] if len(sys.argv) > 2 else "0.9.0"
    newer = sys.argv[3] if len(sys.argv) > 3 else None
    events, flags, dyn, ec, ef, syscalls = _dump(repo, tag, FILES)
    if newer:
        # Codes are append-only: take the events added after `tag` (and tables only they use) from
        # `newer`, keeping `tag`'s schema, flag tables and syscall ids for the older codes.
        n_events, n_flags, n_dyn, *_ = _dump(repo, newer, NEWER_FILES)
        base = len(events)
        # Parameters are append-only too: where `newer` only adds parameters at the end of an
        # older event (the exit events that carry their enter's parameters since libs 0.20), the
        # older code gains them, so that events of newer drivers (and the live probe's exit-only
        # events) decode in full; captures of `tag`'s drivers simply have fewer parameters.
        for code in range(base):
            name, cat, eflags, params = events[code]
            n_name, _c, _f, n_params = n_events[code]
            if n_name == name and len(n_params) > len(params) and all(
                    (a[0], a[1]) == (b[0], b[1]) for a, b in zip(params, n_params, strict=False)):
                events[code] = (name, cat, eflags, params + n_params[len(params):])
        events = events + n_events[base:]
        for k, v in n_flags.items():
            flags.setdefault(k, v)
        for k, v in n_dyn.items():
            dyn.setdefault(k, v)
        tag = f"{tag}, codes >= {base} and appended parameters from {newer[:12]}"
    out = [
        f'"""Event-table facts of falcosecurity/libs {tag}:',
        "generated by tools/gen_event_table.py; do not edit.",
        "",
        "EVENTS[code] = (name, category bits, EF_* flags, ((param, PT type, PF format, table or dirfd",
        "index), ...)); FLAG_TABLES[name] = ((flag name, value), ...) in upstream order;",
        "DYN_TABLES[name][index] = (PT type, PF format); SYSCALL_NAMES[PPM_SC code] = syscall name.",
        '"""',
        "",
        "# fmt: off",
        f"LIBS_TAG = {tag!r}",
        f"CATEGORY_BITS = {pprint.pformat({v: k for k, v in ec.items()}, width=110, sort_dicts=False)}",
        f"EVENT_FLAG_BITS = {pprint.pformat({v: k for k, v in ef.items()}, width=110, sort_dicts=False)}",
        "EVENTS = (",
    ]
    for code, (name, cat, eflags, params) in enumerate(events):
        if not params:
            out.append(f"    ({name!r}, {cat}, {eflags}, ()),  # {code}")
            continue
        out.append(f"    ({name!r}, {cat}, {eflags}, (  # {code}")
        out.extend(f"        {tuple(p)!r}," for p in params)
        out.append("    )),")
    out.append(")")
    out.append(f"FLAG_TABLES = {pprint.pformat({k: tuple(v) for k, v in flags.items()}, width=110)}")
    out.append(f"DYN_TABLES = {pprint.pformat(dyn, width=110)}")
    out.append("SYSCALL_NAMES = " + pprint.pformat(tuple(syscalls), width=100, compact=True))
    OUT.write_text("\n".join(out) + "\n")
    print(f"{OUT}: {len(events)} events, {len(flags)} flag tables, {len(syscalls)} syscall names")


if __name__ == "__main__":
    main()
