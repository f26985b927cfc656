"""The layers import downward only, lazy (function-level) imports included, and no modules import each other in a cycle.

Layers, bottom up (DESIGN §2): base (ids, effect matrices, atomic I/O, errors, model state) → the
torch-free graph core (schema, DOT / GraphML / JSON export) → data → models and metrics → the torch
end of graph (fx extraction) → causal (torch-free analysis) → interventions (the torch half, which may
call the torch-free analysis it feeds) → report → pipeline → sweep → cli.
"""

import ast
from pathlib import Path

import networkx as nx

import causalvae

PACKAGE_DIR = Path(causalvae.__file__).parent
BASE = {"units", "effects", "io", "argtypes", "allocator", "errors", "folder_lock", "modelstate", "inputs", "__init__",
        "__main__", "py"}
GRAPH_TORCH = {"extract_common", "extract_fx", "extract_hooks", "extraction", "cli"}
BELOW = {
    "base": set(),
    "graph_core": {"base"},
    "data": {"base", "graph_core"},
    "metrics": {"base", "data"},
    "models": {"base", "graph_core", "data"},
    "graph_torch": {"base", "graph_core", "data", "models"},
    "causal": {"base", "graph_core", "data", "metrics"},
    "interventions": {"base", "graph_core", "data", "models", "graph_torch", "causal", "metrics"},
    "report": {"base", "graph_core", "data", "metrics", "causal"},
    "pipeline": {"base", "graph_core", "data", "metrics", "models", "graph_torch", "causal", "interventions",
                 "report"},
    "sweep": {"base", "graph_core", "data", "metrics", "models", "graph_torch", "causal", "interventions", "report",
              "pipeline"},
    "cli": {"base", "graph_core", "data", "metrics", "models", "graph_torch", "causal", "interventions", "report",
            "pipeline", "sweep"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE:
        return "base"
    if parts[1] == "graph":
        return "graph_torch" if len(parts) > 2 and parts[2] in GRAPH_TORCH else "graph_core"
    return parts[1]


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports() -> nx.DiGraph:
    """Module -> imported causalvae module, for every import statement (top-level or inside functions)."""
    modules = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    G = nx.DiGraph()
    G.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("causalvae") and target != name:
                    G.add_edge(name, target)
    return G


def test_every_import_goes_down_the_layers():
    G = imports()
    assert G.number_of_nodes() > 100 and G.number_of_edges() > 200
    upward = sorted(f"{a} ({layer(a)}) -> {b} ({layer(b)})" for a, b in G.edges
                    if layer(a) != layer(b) and layer(b) not in BELOW[layer(a)])
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    G = imports()
    # a package and its own modules (an __init__ re-exporting them, a module using its package's API)
    H = G.copy()
    H.remove_edges_from([(a, b) for a, b in G.edges if b.startswith(a + ".") or a.startswith(b + ".")])
    cycles = [sorted(c) for c in nx.strongly_connected_components(H) if len(c) > 1]
    assert not cycles, f"modules importing each other (lazily or not): {cycles}"
