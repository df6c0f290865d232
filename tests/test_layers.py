"""The architecture holds: imports point one way (docs/architecture.md), no circles, and the
command line starts without importing torch, numpy or the models.

Every import in the packages' source is read with `ast`, including the ones inside functions
(lazy imports are still dependencies), so a forbidden import fails here as soon as it is
written.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = {
    "facesmith": REPO / "protos" / "facesmith",
    "facesmith_host": REPO / "plugin" / "facesmith_host",
    "facesmith_client": REPO / "plugin" / "facesmith_client",
    "facesmith_server": REPO / "server" / "facesmith_server",
    "facesmith_train": REPO / "server" / "facesmith_train",
    "facesmith_krita": REPO / "plugin" / "krita" / "facesmith_krita",
}

# Each unit (a package or sub-package: the longest prefix of a module's name listed here) and
# the units it may import besides itself ("X.*": X and all its sub-units). Bottom to top.
BASE = {"facesmith"}  # the wire format and pixel conventions
CLIENT_STAGES = {"facesmith_client.events", "facesmith_client.vision", "facesmith_client.remote"}
SERVER = {"facesmith_server", "facesmith_server.model", "facesmith_server.latent"}
TRAIN_BASE = {*BASE, *SERVER, "facesmith_train"}
TRAIN_DATA = {*TRAIN_BASE, "facesmith_train.data"}
ALLOWED: dict[str, set[str]] = {
    "facesmith": set(),
    # the host link: standard library only (it runs inside Krita and GIMP)
    "facesmith_host": set(),
    # the host adapters: the host link, Qt and the host's API
    "facesmith_krita": {"facesmith_host"},
    # the server: errors and devices; networks and packs; latents; the service; commands
    "facesmith_server": BASE,
    "facesmith_server.model": {*BASE, "facesmith_server"},
    "facesmith_server.latent": {*BASE, "facesmith_server", "facesmith_server.model"},
    "facesmith_server.service": {*BASE, "facesmith_server", "facesmith_server.model",
                                 "facesmith_server.latent"},
    "facesmith_server.bench": {*BASE, "facesmith_server.*"},
    "facesmith_server.cli": {*BASE, "facesmith_server.*"},
    # the runtime: messages, detection and alignment, the server client, packs, the pipeline
    "facesmith_client": BASE,  # the package itself (its __init__)
    "facesmith_client.events": BASE,
    "facesmith_client.vision": BASE,
    "facesmith_client.remote": {*BASE, "facesmith_client.events", "facesmith_host",
                                *SERVER},
    "facesmith_client.packs": {*BASE, "facesmith_client.events", "facesmith_client.remote",
                               *SERVER},
    "facesmith_client.pipeline": {*BASE, *CLIENT_STAGES, *SERVER},
    "facesmith_client.host": {*BASE, *CLIENT_STAGES, "facesmith_client.pipeline",
                              "facesmith_host"},
    "facesmith_client.batch": {*BASE, *CLIENT_STAGES, "facesmith_client.pipeline"},
    # training: the server's networks, and the runtime's detection, alignment and scoring so
    # that it sees faces exactly as the runtime does; each stage uses earlier ones
    "facesmith_train": BASE,  # shared helpers: tagged files, progress lines
    "facesmith_train.data": {*BASE, "facesmith_train", "facesmith_client.vision"},
    "facesmith_train.gan": TRAIN_DATA,
    "facesmith_train.classify": {*TRAIN_DATA, "facesmith_client.vision",
                                 "facesmith_client.pipeline"},  # the readers: dlib, detector
    "facesmith_train.encoder": {*TRAIN_DATA, "facesmith_train.gan", "facesmith_train.classify"},
    "facesmith_train.directions": {*TRAIN_DATA, "facesmith_train.gan",
                                   "facesmith_train.classify"},
    "facesmith_train.pack": {*TRAIN_DATA, "facesmith_train.gan", "facesmith_train.classify",
                             "facesmith_train.directions"},
    "facesmith_train.measure": {*TRAIN_DATA, "facesmith_server.service", "facesmith_client.vision",
                                "facesmith_client.pipeline", "facesmith_train.gan",
                                "facesmith_train.classify", "facesmith_train.encoder",
                                "facesmith_train.directions"},
    "facesmith_train.distill": {*TRAIN_DATA, "facesmith_server.service", "facesmith_client.vision",
                                "facesmith_client.pipeline", "facesmith_train.gan",
                                "facesmith_train.classify", "facesmith_train.measure"},
    "facesmith_train.sketch": {*TRAIN_DATA, "facesmith_server.service", "facesmith_client.vision",
                               "facesmith_train.gan", "facesmith_train.encoder",
                               "facesmith_train.measure"},
    # commands on top
    "facesmith_client.cli": {*BASE, "facesmith_host", "facesmith_server.*", "facesmith_train.*",
                             *CLIENT_STAGES, "facesmith_client.packs",
                             "facesmith_client.pipeline", "facesmith_client.host",
                             "facesmith_client.batch"},
}  # fmt: skip
OURS = tuple(SOURCES)


def modules() -> Iterator[tuple[str, Path]]:
    for package, root in SOURCES.items():
        for path in sorted(root.rglob("*.py")):
            if "v1" in path.parts and path.parent.name == "v1":
                continue  # generated stubs
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            yield name, path


def imported_modules(name: str, path: Path) -> set[str]:
    """The modules (not names inside them) of ours that ``path`` imports, whether or not
    they exist: ``from a.b import c`` gives a.b, or a.b.c when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = (
                (f"{base}.{node.module}" if node.module else base)
                if node.level
                else node.module or ""
            )
            found.add(module)
            found |= {
                f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in ALL_MODULES
            }
    return {m for m in found if m.split(".")[0] in OURS}


def imports_of(name: str, path: Path) -> set[str]:
    """Every existing module of ours that ``path`` imports (absolute names)."""
    return {m for m in imported_modules(name, path) if _exists(m)}


def _exists(module: str) -> bool:
    return module in ALL_MODULES


ALL_MODULES = {name for name, _ in modules()}
GENERATED = {
    "facesmith.v1",
    *(f"facesmith.v1.{p.stem}" for p in (SOURCES["facesmith"] / "v1").glob("*.py")),
}


def unit_of(module: str) -> str:
    candidates = [u for u in ALLOWED if module == u or module.startswith(u + ".")]
    return max(candidates, key=len)


def _within(unit: str, allowed: str) -> bool:
    if allowed.endswith(".*"):
        return unit == allowed[:-2] or unit.startswith(allowed[:-1])
    return unit == allowed


def test_every_module_belongs_to_a_unit() -> None:
    for name in ALL_MODULES:
        assert unit_of(name), name


def test_every_import_of_ours_names_a_module_that_exists() -> None:
    known = ALL_MODULES | GENERATED
    missing = [f"{name} imports {m}" for name, path in modules()
               for m in imported_modules(name, path) if m not in known]  # fmt: skip
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(sorted(missing))


def test_imports_point_one_way() -> None:
    wrong = []
    for name, path in modules():
        unit = unit_of(name)
        for target in imports_of(name, path):
            other = unit_of(target)
            if other != unit and not any(_within(other, a) for a in ALLOWED[unit]):
                wrong.append(f"{name} imports {target} ({unit} → {other})")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_circles_between_modules() -> None:
    graph = {name: imports_of(name, path) - {name} for name, path in modules()}
    # a package's __init__ is imported with its modules: drop parent-package edges
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from facesmith_client.cli.main import main\n")
    assert "facesmith_client.cli.main" in imports_of("facesmith_client.vision.bad", bad)
    assert unit_of("facesmith_client.cli.main") not in ALLOWED["facesmith_client.vision"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize(
    "argv", [["--help"], ["edit", "--help"], ["batch", "--help"], ["train", "gan", "--help"]]
)
def test_the_command_line_parses_without_heavy_imports(argv: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from facesmith_client.cli.main import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    build_parser().parse_args({argv!r})\n"
        "heavy = ('torch', 'numpy', 'cv2', 'grpc', 'google.protobuf', 'facesmith_server', 'ray')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout
