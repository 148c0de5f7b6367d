"""The house rules of the imports: the contracts of pyproject.toml hold (lint-imports, as CI runs
it): the layers, no Ray in the core, and no import cycle at any depth of the package, imports
inside functions included; and every import left inside a function defers a heavy package that
the module would not otherwise load."""

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "smoot_dist"
# What a function-level import may defer: packages that take a second or more to import, or are
# absent where the code must still run (the GPU machine has no Ray, MLflow or Captum).
# torch._dynamo: not loaded by `import torch`, and 3 s to import here; requests: MLflow's HTTP
# client, there only where MLflow is.
HEAVY = {"torch", "torch._dynamo", "torchvision", "timm", "captum", "ray", "mlflow", "matplotlib",
         "pyarrow", "PIL", "requests"}


def _heavy_name(module: str) -> str | None:
    """The HEAVY entry that importing `module` loads: its longest listed prefix."""
    parts = module.split(".")
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1)
                 if ".".join(parts[:i]) in HEAVY), None)


def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout, r.stdout
    for contract in ("the layers of smoot_dist", "no import cycle"):
        assert f"{contract} KEPT" in r.stdout, r.stdout


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) of every import in the file that can run
    (not those under `if TYPE_CHECKING:`), relative ones resolved; `from X import name` counts
    as X.name where that is a module of ours."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # for the type checker only: never run
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub if _file_of(sub) else base, in_function, child.lineno))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return found


def _file_of(module: str) -> Path | None:
    if not module.startswith("smoot_dist"):
        return None
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(module: str) -> list[str]:
    """A module and the packages whose __init__ importing it runs."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def test_function_level_imports_only_defer_heavy_packages():
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    top_level = {m: [t for t, inner, _ in _imports(p) if not inner] for m, p in files.items()}
    heavy_cache: dict[str, set[str]] = {}

    def heavy(module: str, seen: frozenset = frozenset()) -> set[str]:
        """The heavy packages that importing `module` loads (module-level imports, transitively)."""
        if module in heavy_cache:
            return heavy_cache[module]
        out: set[str] = set()
        for target in top_level.get(module, []):
            if _heavy_name(target):
                out.add(_heavy_name(target))
            for part in _parents(target):
                if part in files and part not in seen and part != module:
                    out |= heavy(part, seen | {module})
        if not seen:
            heavy_cache[module] = out
        return out

    loaded_by = {m: set().union(*(heavy(p) for p in _parents(m) if p in files)) for m in files}
    offenders = []
    for module, path in sorted(files.items()):
        for target, inner, line in _imports(path):
            if not inner:
                continue
            if target.startswith("smoot_dist"):
                brings = set().union(*(heavy(p) for p in _parents(target) if p in files))
            else:
                brings = {_heavy_name(target)} - {None}
            if not brings - loaded_by[module]:
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {target} inside a "
                                 f"function, deferring nothing heavy")
    assert not offenders, "\n".join(offenders)


def test_the_architecture_page_lists_every_module():
    layout = (REPO / "docs" / "architecture.md").read_text()
    words = set(layout.split())
    missing = [str(p.relative_to(REPO)) for p in sorted(PACKAGE.rglob("*.py"))
               if p.name != "__init__.py" and p.name not in words]
    missing += [f"{d.name}/" for d in PACKAGE.iterdir() if d.is_dir() and d.name != "__pycache__"
                and f"{d.name}/" not in words]
    missing += [str(p.relative_to(REPO)) for p in sorted((REPO / "scripts").iterdir())
                if str(p.relative_to(REPO)) not in words]
    assert not missing, f"docs/architecture.md does not list: {', '.join(missing)}"
    # the layers as the page states them (its first block) are the contract's, in the same order
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    stated = [line.split("  ")[0].strip() for line in layout.split("```")[1].strip().splitlines()]
    assert stated == [" ".join(layer.replace("smoot_dist.", "").split()) for layer in layers]


def test_the_cycle_contract_sees_a_cycle_closed_inside_a_function(tmp_path):
    """pyproject's own cycle contract, run on a package whose two modules import each other,
    one of them inside a function (as sweep/ once did): lint-imports breaks it."""
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    cycle = next(c for c in contracts["contracts"] if c["type"] == "acyclic_siblings")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = circle\n\n[importlinter:contract:cycle]\n"
        f"name = {cycle['name']}\ntype = acyclic_siblings\nancestors = circle\n")
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{cycle['name']} BROKEN" in r.stdout, r.stdout
    assert "No cycles are allowed in circle" in r.stdout, r.stdout
