"""The package modules a script runs, read from the imports in the source (no module is imported).

Rules list these as inputs, so editing a module reruns exactly the rules that run it.
Every import statement counts, at module level or inside a function, since a lazy import
still runs when the rule does. An import chosen at run time (`runtimes.load_runner` picks the
runtime module by name) is invisible here; the rule adds that module itself.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "lprnet_opt"


def module_file(package_dir: Path, dotted: str) -> Path | None:
    """The file of module `dotted` (e.g. "lprnet_opt.tvm_setup") under `package_dir`, if any."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(package_dir: Path, path: Path) -> str:
    relative = path.relative_to(package_dir).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def _imported_names(tree: ast.AST, current: str, is_package: bool) -> set[str]:
    """Absolute dotted names that the import statements of a module may refer to."""
    names: set[str] = set()
    here = current if is_package else current.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            names.add(base)
            # `from pkg import name` may import the submodule pkg.name.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@lru_cache(maxsize=None)
def direct_imports(package_dir: Path, path: Path) -> frozenset[Path]:
    """The package's module files that one file imports, with the packages around them."""
    inside = path.is_relative_to(package_dir)
    current = module_name(package_dir, path) if inside else "__main__"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[Path] = set()
    for dotted in _imported_names(tree, current, path.name == "__init__.py"):
        parts = dotted.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for i in range(1, len(parts) + 1):
            target = module_file(package_dir, ".".join(parts[:i]))
            if target is not None and target != path:
                found.add(target)
    return frozenset(found)


def import_closure(entry: str | Path, package_dir: str | Path) -> list[Path]:
    """Every package module file that `entry` (a script or a module) imports, directly or not."""
    package_dir = Path(package_dir).resolve()
    entry = Path(entry).resolve()
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        for target in direct_imports(package_dir, todo.pop()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    seen.discard(entry)
    return sorted(seen)
