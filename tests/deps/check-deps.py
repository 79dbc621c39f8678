#!/usr/bin/env python3
"""The layering of the source tree, checked from the code itself.

Two graphs over modules (a module is one .c file with its .h: lib/log.c + lib/log.h):
  - includes: `#include "..."` lines of every .c and .h;
  - symbols:  from `nm` of the built objects, an edge from the object that uses a
              symbol (U) to the object that defines it (T, D, B, R, ...).
Neither graph may have a cycle between two modules, and the folders must respect
the layers below (a folder may use itself and the folders listed for it).

Usage: check-deps.py OBJDIR OBJ...   (the build's obj/ directory, and the objects of the
       library and the binary in it; `make deps` passes them)
Exit status 0 when the layering holds; otherwise each cycle or forbidden edge is
printed with the files and names that make it.
"""
import os
import re
import subprocess
import sys

# folder -> the folders it may use (besides itself)
LAYERS = {
    "lib": set(),
    "images": {"lib"},
    "criu-lite/restorer": set(),
    "criu-lite": {"lib", "images", "criu-lite/restorer", "criu-lite/files", "criu-lite/ns"},
    # one file per fd kind: they use the dump and restore contexts and the shmem objects
    "criu-lite/files": {"lib", "images", "criu-lite", "criu-lite/ns"},
    # one file per namespace kind (and seccomp): the same, and the restorer's args
    "criu-lite/ns": {"lib", "images", "criu-lite/restorer", "criu-lite"},
    "lazy-pages": {"lib", "images"},
    "cli": {"lib", "images", "criu-lite", "lazy-pages"},
}
SRC_DIRS = sorted(LAYERS, key=len, reverse=True)
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(module):
    for d in SRC_DIRS:
        if module.startswith(d + "/") and "/" not in module[len(d) + 1:]:
            return d
    return None


def module_of(path):
    """lib/log.c -> lib/log; images/core.pb-c.h -> images/core.pb-c."""
    base, ext = os.path.splitext(path)
    return base if ext in (".c", ".h") else None


def source_files(root):
    for d in LAYERS:
        full = os.path.join(root, d)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.endswith((".c", ".h")):
                yield d + "/" + name


def include_graph(root):
    edges = {}
    for f in source_files(root):
        src = module_of(f)
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for inc in INCLUDE_RE.findall(text):
            dst = module_of(inc)
            if not dst or dst == src:
                continue
            if folder_of(dst) is None and "/" not in inc:
                # a header next to the file ("args.h" inside the restorer)
                dst = module_of(os.path.dirname(f) + "/" + inc)
            if folder_of(dst) is None:
                continue  # generated outside the tree (restorer-blob.h) or a system header
            edges.setdefault((src, dst), set()).add(f"{f} includes \"{inc}\"")
    return edges


def symbol_graph(objdir, objects):
    defined, used = {}, {}
    for path in objects:
        mod = module_of(os.path.relpath(path, objdir)[:-2] + ".c")
        if folder_of(mod) is None:
            continue  # generated code (protobuf-c) or a file outside the layers
        out = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                used.setdefault(mod, set()).add(sym)
            elif kind in "TDBRVWGS":
                defined.setdefault(sym, mod)
    edges = {}
    for mod, syms in used.items():
        for sym in syms:
            dst = defined.get(sym)
            if dst and dst != mod:
                edges.setdefault((mod, dst), set()).add(f"{mod} uses {sym}")
    return edges


def find_cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def report(kind, edges, problems):
    for comp in find_cycles(edges):
        members = set(comp)
        why = []
        for (a, b), reasons in sorted(edges.items()):
            if a in members and b in members:
                why.append(f"    {a} -> {b}: " + "; ".join(sorted(reasons)[:3]))
        problems.append(f"{kind} cycle between {', '.join(comp)}:\n" + "\n".join(why))
    folder_edges = {}
    for (a, b), reasons in edges.items():
        fa, fb = folder_of(a), folder_of(b)
        if fa != fb:
            folder_edges.setdefault((fa, fb), set()).update(reasons)
    for (fa, fb), reasons in sorted(folder_edges.items()):
        if fb not in LAYERS[fa]:
            problems.append(f"{kind}: {fa}/ may not use {fb}/: " + "; ".join(sorted(reasons)[:4]))
    return folder_edges


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    objdir = sys.argv[1]
    problems = []
    inc = include_graph(root)
    sym = symbol_graph(objdir, sys.argv[2:])
    if not sym:
        print(f"check-deps: no objects under {objdir}", file=sys.stderr)
        return 2
    report("include", inc, problems)
    report("symbol", sym, problems)
    mods = {m for e in list(inc) + list(sym) for m in e}
    if problems:
        print("\n".join(problems))
        print(f"check-deps: {len(problems)} problem(s) in {len(mods)} modules")
        return 1
    print(f"check-deps: {len(mods)} modules, {len(inc)} include and {len(sym)} symbol edges, "
          "no cycle, every folder within its layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
