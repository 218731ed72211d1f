"""The import graph: no circle anywhere, and imports run one way (docs/architecture.md).

Every import in every module counts, deferred ones inside functions too: a circle hidden behind a
deferred import is still a circle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "models", "cuda_ops")

# Layers from the bottom up: a module may import its own layer and the layers below, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cuda_ops", "models"),
    ("app.schemas", "app.errors", "app.warning_codes", "app.config", "app.logs", "app"),
    ("app.pipeline",),
    ("app.compare",),
    ("app.api", "app.batch"),
    ("app.cli", "app.cli_parser", "app.main", "app.ray_serve"),
)
# Packages that must never import each other although they share a layer.
APART = {
    "cuda_ops": ("app", "models"),
    "models": ("app", "cuda_ops"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from x import y`` counts ``x.y`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(name: str) -> int:
    best, best_len = -1, -1
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = level, len(prefix)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_face(name: str) -> bool:
    """A package's ``__init__`` re-exports its submodules; importing them is not a circle."""
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def test_no_import_circle():
    graph = _graph()
    # A package face importing its own submodules, and a submodule importing a sibling through the face,
    # are one module as far as circles go: drop the face's edges into its own package.
    flat = {
        name: {t for t in targets if not (_is_package_face(name) and t.startswith(name + "."))}
        for name, targets in graph.items()
    }
    assert _cycles(flat) == []


def test_imports_never_run_up_a_layer():
    upward = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(name)
    ]
    assert upward == []


@pytest.mark.parametrize("package", sorted(APART))
def test_cuda_ops_and_models_stand_alone(package):
    crossing = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] in APART[package]
    ]
    assert crossing == []


def test_inference_never_imports_training():
    crossing = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith("models") and not name.startswith("models.training")
        for target in targets
        if target.startswith("models.training")
    ]
    assert crossing == []


# The training generators and the held-out family, each written apart from the others (docs/heldout.md).
GENERATORS = ("models.training.synth", "models.training.beamsim", "models.training.scanline", "models.training.heldout")


def _generator(name: str) -> str | None:
    """The generator a module belongs to (``synth_screen``, ``synth_tendon`` and the other ``synth_*`` parts are
    ``synth``'s), or None."""
    name = re.sub(r"^models\.training\.synth_\w+", "models.training.synth", name)
    return next((g for g in GENERATORS if name == g or name.startswith(g + ".")), None)


def test_generators_never_import_each_other():
    crossing = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _generator(name) is not None
        for target in targets
        if _generator(target) not in (None, _generator(name))
    ]
    assert crossing == []


def test_the_checks_see_a_circle_and_an_upward_import():
    """The checks themselves can fail: a made-up graph with both faults is caught."""
    graph = {"app.pipeline.a": {"app.pipeline.b"}, "app.pipeline.b": {"app.pipeline.a", "app.cli"}, "app.cli": set()}
    assert _cycles(graph) == [["app.pipeline.a", "app.pipeline.b"]]
    assert _layer("app.cli") > _layer("app.pipeline.b")
