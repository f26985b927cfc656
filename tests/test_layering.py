"""DESIGN §2: the graph half never imports torch; dowhy and pgmpy live in one adapter each; the CLI is lazy."""

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import causalvae

PACKAGE_DIR = Path(causalvae.__file__).parent
TORCH_FREE = ("data", "graph", "causal", "metrics", "report")
TORCH_ALLOWED = re.compile(r"^causalvae\.graph\.extract")  # fx extraction is the torch end of graph/


def torch_free_modules() -> list[str]:
    names = []
    for pkg in TORCH_FREE:
        if not (PACKAGE_DIR / pkg / "__init__.py").exists():
            continue
        names.append(f"causalvae.{pkg}")
        for info in pkgutil.walk_packages([str(PACKAGE_DIR / pkg)], prefix=f"causalvae.{pkg}."):
            if not TORCH_ALLOWED.match(info.name):
                names.append(info.name)
    return names


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_graph_half_does_not_import_torch():
    modules = torch_free_modules()
    assert "causalvae.data" in modules and "causalvae.graph.schema" in modules
    loaded = imported_after("; ".join(f"import {m}" for m in modules))
    assert "torch" not in loaded, f"one of {modules} imports torch"


def test_heavy_libraries_live_in_one_adapter_each():
    for lib, allowed in (("dowhy", "causal/dowhy_adapter.py"), ("pgmpy", "causal/pgmpy_adapter.py")):
        users = sorted(str(p.relative_to(PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py")
                       if re.search(rf"^\s*(import|from)\s+{lib}\b", p.read_text(), re.M))
        assert users in ([], [allowed]), f"{lib} is imported by {users}; only {allowed} may import it"


def test_cli_help_imports_nothing_heavy():
    loaded = imported_after("import causalvae.cli as c; c.build_parser().format_help()")
    assert not {"torch", "dowhy", "pgmpy", "matplotlib", "sklearn", "pandas"} & loaded
