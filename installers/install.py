#!/usr/bin/env python3
"""Install facesmith for Krita and GIMP: the runtime environment, both plugins, the config.

    python3 installers/install.py                     # runtime + Krita plugin + GIMP plug-in
    python3 installers/install.py --with-server --torch torch==2.13.0
    python3 installers/install.py --dry-run           # print every action, change nothing
    python3 installers/install.py --uninstall [--remove-runtime]

Standard library only, Python 3.10+; install.sh and install.ps1 only find a Python and run this.
What one run placed is recorded beside the runtime config (``runtime.install.json``), so
``--uninstall`` removes exactly that, and a reinstall replaces the old plugin files cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_PYTHON = (3, 10)
PLUGIN = "facesmith"
KRITA_PLUGIN = "facesmith_krita"  # its own name: Krita imports it as a top-level package
HOST_PACKAGE = "facesmith_host"
KRITA_GROUP = "[python]"
KRITA_KEY = f"enable_{KRITA_PLUGIN}"
FACENET = "facenet-pytorch==2.6.0"  # only its MTCNN weight files are used; --no-deps (README)
RUNTIME_MARKER = "facesmith-runtime.txt"  # only a runtime holding it is ever deleted
MANIFEST_VERSION = 1
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
PACKAGE_ROOTS = ("protos", "server", "plugin")  # pyproject's [tool.setuptools.packages.find]
BUILD_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info", "build")
REPO = Path(__file__).resolve().parents[1]


class InstallError(Exception):
    """A failure the user can act on; printed without a traceback."""


# --- where things go -----------------------------------------------------------------------


@dataclass(frozen=True)
class Locations:
    runtime: Path  # the runtime virtual environment
    pykrita: Path  # Krita's pykrita resource folder
    kritarc: Path  # Krita's settings file
    gimp_plugins: Path  # GIMP 3's personal plug-ins folder


def default_locations(system: str, env: Mapping[str, str], home: Path) -> Locations:
    """Per-OS defaults (Krita: docs.krita.org resource folder; GIMP: gimp_directory())."""
    if system == "win32":
        roaming = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        local = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return Locations(
            runtime=local / PLUGIN / "runtime",
            pykrita=roaming / "krita" / "pykrita",
            kritarc=local / "kritarc",
            gimp_plugins=_gimp_dir(env, home, roaming) / "plug-ins",
        )
    if system == "darwin":
        support = home / "Library" / "Application Support"
        return Locations(
            runtime=support / PLUGIN / "runtime",
            pykrita=support / "krita" / "pykrita",
            kritarc=home / "Library" / "Preferences" / "kritarc",
            gimp_plugins=_gimp_dir(env, home, support) / "plug-ins",
        )
    data = _xdg(env, "XDG_DATA_HOME", home / ".local" / "share")
    config = _xdg(env, "XDG_CONFIG_HOME", home / ".config")
    return Locations(
        runtime=data / PLUGIN / "runtime",
        pykrita=data / "krita" / "pykrita",
        kritarc=config / "kritarc",
        gimp_plugins=_gimp_dir(env, home, config) / "plug-ins",
    )


def _xdg(env: Mapping[str, str], name: str, fallback: Path) -> Path:
    value = env.get(name, "")
    return Path(value) if os.path.isabs(value) else fallback  # the spec ignores relative ones


def _gimp_dir(env: Mapping[str, str], home: Path, config_base: Path) -> Path:
    """GIMP 3's settings folder: $GIMP3_DIRECTORY (relative = under home), else GIMP/3.0."""
    override = env.get("GIMP3_DIRECTORY")
    if override:
        return Path(override) if os.path.isabs(override) else home / override
    return config_base / "GIMP" / "3.0"


def runtime_python(runtime: Path) -> Path:
    if sys.platform == "win32":
        return runtime / "Scripts" / "python.exe"
    return runtime / "bin" / "python"


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="install.py",
        description="Install (or --uninstall) facesmith for Krita and GIMP.",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what the installer placed")
    p.add_argument(
        "--remove-runtime",
        action="store_true",
        help="with --uninstall: also delete the runtime environment it created",
    )
    p.add_argument("--dry-run", action="store_true", help="print every action, change nothing")
    p.add_argument(
        "--source",
        type=Path,
        default=REPO,
        help="facesmith source checkout (default: the one this script is in)",
    )
    p.add_argument("--runtime", type=Path, help="runtime environment folder")
    p.add_argument(
        "--use-python",
        type=Path,
        metavar="PATH",
        help="use this existing environment's python instead of creating one",
    )
    p.add_argument(
        "--system-site-packages",
        action="store_true",
        help="let the new runtime see the packages of the Python that creates it",
    )
    p.add_argument(
        "--with-server",
        action="store_true",
        help="install the server extra too (always done with --server local)",
    )
    p.add_argument(
        "--torch",
        default="torch",
        metavar="SPEC",
        help='torch requirement installed first, e.g. "torch==2.13.0" or a wheel',
    )
    p.add_argument(
        "--server",
        default="local",
        help='"local" (start one on the default pack when needed) or HOST:PORT',
    )
    p.add_argument(
        "--token",
        help="the server's token (default: $FACESMITH_TOKEN, else the one recorded for the "
        "same server); prefer $FACESMITH_TOKEN or --token-file: other users of this machine "
        "can read a command line",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="read the server's token from FILE (its first line)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="runtime config file (plugins read another than the default one only when "
        "FACESMITH_RUNTIME_CONFIG names it)",
    )
    p.add_argument("--krita-dir", type=Path, help="Krita's pykrita folder")
    p.add_argument("--kritarc", type=Path, help="Krita's kritarc settings file")
    p.add_argument("--no-krita", action="store_true", help="leave Krita alone")
    p.add_argument("--gimp-dir", type=Path, help="GIMP 3's plug-ins folder")
    p.add_argument("--no-gimp", action="store_true", help="leave GIMP alone")
    args = p.parse_args(argv)
    if args.remove_runtime and not args.uninstall:
        p.error("--remove-runtime only goes with --uninstall")
    if args.use_python and args.runtime:
        p.error("--use-python and --runtime exclude each other")
    return args


# --- actions: printed always, done unless --dry-run ---------------------------------------


@dataclass
class Actions:
    dry_run: bool
    made_dirs: list[str] = field(default_factory=list)  # folders this run created

    def do(self, what: str, fn: Callable[[], object] | None = None) -> None:
        print(f"[dry run] {what}" if self.dry_run else what, flush=True)
        if fn is not None and not self.dry_run:
            try:
                fn()
            except OSError as err:
                raise InstallError(f"could not {what}: {err}") from None

    def make_dirs(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, remembering which ones were missing."""
        missing = [d for d in [folder, *folder.parents] if not d.exists()]
        if not missing:
            return
        self.made_dirs.extend(str(d) for d in reversed(missing))
        self.do(f"create folder {folder}", lambda: folder.mkdir(parents=True, exist_ok=True))

    def remove(self, path: Path) -> None:
        if path.is_dir() and not path.is_symlink():
            self.do(f"remove {path}", lambda: shutil.rmtree(path))
        elif path.exists() or path.is_symlink():
            self.do(f"remove {path}", path.unlink)

    def copy_tree(self, src: Path, dst: Path) -> None:
        self.do(
            f"copy {src} -> {dst}",
            lambda: shutil.copytree(src, dst, ignore=COPY_IGNORE),
        )

    def run(self, argv: list[str], hint: str = "") -> None:
        self.do(f"run {_shown(argv)}", lambda: _call(argv, hint))


def _call(argv: list[str], hint: str = "") -> None:
    rc = subprocess.call(argv)
    if rc != 0:
        raise InstallError(f"`{_shown(argv)}` failed (exit {rc}). {hint}".rstrip())


def note(text: str) -> None:
    """Something the user should know that is not an action."""
    print(f"note: {text}", flush=True)


def _shown(argv: list[str]) -> str:
    return " ".join(f'"{a}"' if " " in a else a for a in argv)


# --- the record of what was installed -----------------------------------------------------


def manifest_path(config: Path) -> Path:
    return config.with_name(config.stem + ".install.json")


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise InstallError(f"cannot read the install record {path}: {err}") from None
    return data if isinstance(data, dict) else {}


def write_manifest(act: Actions, path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    act.do(f"record what was installed in {path}", lambda: path.write_text(text, "utf-8"))


# --- kritarc: one key in the [python] group, the rest of the file untouched -----------------


def _section_bounds(lines: list[str]) -> tuple[int, int] | None:
    """(header index, end index) of the first [python] group, or None."""
    for start, line in enumerate(lines):
        if line.strip() == KRITA_GROUP:
            end = start + 1
            while end < len(lines) and not lines[end].lstrip().startswith("["):
                end += 1
            return start, end
    return None


def _is_our_key(line: str) -> bool:
    return line.split("=", 1)[0].strip() == KRITA_KEY


def enable_in_kritarc(text: str) -> tuple[str, bool]:
    """``text`` with enable_facesmith_krita=true in [python] → (new text, whether the group
    was added)."""
    eol = "\r\n" if "\r\n" in text else "\n"
    entry = f"{KRITA_KEY}=true"
    lines = text.splitlines(keepends=True)
    bounds = _section_bounds(lines)
    if bounds is None:
        if text and not text.endswith(("\n", "\r")):
            text += eol
        gap = eol if text.strip() else ""
        return f"{text}{gap}{KRITA_GROUP}{eol}{entry}{eol}", True
    start, end = bounds
    for i in range(start + 1, end):
        if _is_our_key(lines[i]):
            lines[i] = entry + _line_end(lines[i], eol)
            return "".join(lines), False
    last = end
    while last > start + 1 and not lines[last - 1].strip():
        last -= 1  # after the group's last entry, before its trailing blank lines
    if not lines[last - 1].endswith(("\n", "\r")):
        lines[last - 1] += eol
    lines.insert(last, entry + eol)
    return "".join(lines), False


def disable_in_kritarc(text: str, drop_empty_group: bool) -> str:
    """``text`` without our key; the [python] group too if we added it and it is now empty."""
    lines = text.splitlines(keepends=True)
    bounds = _section_bounds(lines)
    if bounds is None:
        return text
    start, end = bounds
    kept = [line for line in lines[start + 1 : end] if not _is_our_key(line)]
    if drop_empty_group and not any(line.strip() for line in kept):
        before = lines[:start]
        if before and not before[-1].strip():
            before = before[:-1]  # the blank line that separated the group we added
        return "".join(before + lines[end:])
    return "".join(lines[: start + 1] + kept + lines[end:])


def _line_end(line: str, default: str) -> str:
    stripped = line.rstrip("\r\n")
    return line[len(stripped) :] or default


# --- install ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    source: Path
    config: Path
    runtime: Path | None  # None with --use-python
    python: Path
    pykrita: Path
    kritarc: Path
    gimp_plugins: Path


def make_plan(args: argparse.Namespace, config_default: Path, recorded: dict[str, Any]) -> Plan:
    where = default_locations(sys.platform, os.environ, Path.home())
    krita = recorded.get("krita") or {}
    gimp = recorded.get("gimp") or {}
    runtime: Path | None = None
    if args.use_python:
        python = Path(os.path.abspath(args.use_python))  # never resolve: a venv's python is a link
    else:
        recorded_runtime = recorded.get("runtime") if args.uninstall else None
        runtime = _absolute(args.runtime or recorded_runtime or where.runtime)
        python = runtime_python(runtime)
    return Plan(
        source=_absolute(args.source),
        config=_absolute(args.config or config_default),
        runtime=runtime,
        python=python,
        pykrita=_absolute(args.krita_dir or krita.get("pykrita") or where.pykrita),
        kritarc=_absolute(args.kritarc or krita.get("kritarc") or where.kritarc),
        gimp_plugins=_absolute(args.gimp_dir or gimp.get("plugins") or where.gimp_plugins),
    )


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def required_sources(source: Path, krita: bool, gimp: bool) -> list[Path]:
    needed = [source / "pyproject.toml", source / "plugin" / HOST_PACKAGE / "config.py"]
    if krita:
        needed += [
            source / "plugin" / "krita" / f"{KRITA_PLUGIN}{ext}" for ext in (".desktop", ".action")
        ]
        needed += [source / "plugin" / "krita" / KRITA_PLUGIN / "__init__.py"]
    if gimp:
        needed += [source / "plugin" / "gimp" / PLUGIN / f"{PLUGIN}.py"]
    return needed


def check_sources(source: Path, krita: bool, gimp: bool) -> None:
    missing = [p for p in required_sources(source, krita, gimp) if not p.is_file()]
    if missing:
        listed = "\n  ".join(str(p) for p in missing)
        raise InstallError(
            f"{source} is not a complete facesmith source checkout; missing:\n  {listed}\n"
            "Pass --source with the repository folder (or --no-krita / --no-gimp)."
        )


def install_runtime(act: Actions, plan: Plan, args: argparse.Namespace) -> None:
    if plan.runtime is None:
        _check_python(plan.python)
        if _has_runtime(plan.python):
            note(f"{plan.python} already has facesmith_client: its packages are left as they are")
            return
    else:
        _create_runtime(act, plan.runtime, plan.python, args.system_site_packages)
    # "local" means the runtime starts its own server, so it needs the server's packages.
    extras = "client,server" if args.with_server or args.server == "local" else "client"
    pip = [str(plan.python), "-m", "pip", "install", "--disable-pip-version-check"]
    act.run([*pip, args.torch], "Check --torch (a requirement like torch==2.13.0, or a wheel).")
    package = f"{PLUGIN}[{extras}]"
    act.do(
        f"run {_shown(pip)} {package} from {plan.source} (built from a clean copy)",
        lambda: _install_package(pip, package, plan.source),
    )
    act.run([*pip, "--no-deps", FACENET])
    act.do(f"check that {plan.python} imports facesmith_client", lambda: _verify(plan.python))


def _install_package(pip: list[str], package: str, source: Path) -> None:
    """pip install facesmith from a copy of its sources: setuptools builds in the source tree,
    and a ``build/`` left there from an earlier build would bring back files since deleted."""
    with tempfile.TemporaryDirectory(prefix="facesmith-source-") as tmp:
        staged = Path(tmp) / PLUGIN
        staged.mkdir()
        for item in source.iterdir():
            if item.is_file():
                shutil.copy2(item, staged / item.name)  # pyproject.toml, README.md, …
        for folder in PACKAGE_ROOTS:
            shutil.copytree(source / folder, staged / folder, ignore=BUILD_IGNORE)
        _call([*pip, f"{package} @ {staged.as_uri()}"])


def _check_python(python: Path) -> None:
    if not python.is_file():
        raise InstallError(f"--use-python {python}: no such file")


def _has_runtime(python: Path) -> bool:
    probe = (
        "import sys, importlib.util as u, facesmith_client; "
        "sys.exit(u.find_spec('facenet_pytorch') is None)"
    )
    return subprocess.call([str(python), "-c", probe], stderr=subprocess.DEVNULL) == 0


def _create_runtime(act: Actions, runtime: Path, python: Path, system_site: bool) -> None:
    if python.is_file():
        note(f"runtime environment {runtime} exists: reusing it")
    elif runtime.exists() and any(runtime.iterdir()):
        raise InstallError(
            f"{runtime} exists and is not a Python environment; choose another --runtime"
        )
    else:
        act.make_dirs(runtime.parent)
        venv = [sys.executable, "-m", "venv", *(["--system-site-packages"] * system_site)]
        act.run(
            [*venv, str(runtime)],
            "On Debian/Ubuntu install python3-venv first (sudo apt install python3-venv).",
        )
        # Marked only when made here: `--remove-runtime` must never delete a user's own venv.
        marker = runtime / RUNTIME_MARKER
        text = "Made by the facesmith installer; `--uninstall --remove-runtime` deletes it.\n"
        act.do(f"mark {runtime} as facesmith's runtime", lambda: marker.write_text(text, "utf-8"))


def _verify(python: Path) -> None:
    if subprocess.call([str(python), "-c", "import facesmith_client"]) != 0:
        raise InstallError(f"the runtime {python} cannot import facesmith_client (see above)")


def install_krita(act: Actions, plan: Plan, previous: dict[str, Any]) -> dict[str, Any]:
    src = plan.source / "plugin"
    desktop = plan.pykrita / f"{KRITA_PLUGIN}.desktop"
    package, host = plan.pykrita / KRITA_PLUGIN, plan.pykrita / HOST_PACKAGE
    actions = krita_actions_file(plan.pykrita)
    ours = [desktop, package, host, actions]
    _remove_stale(act, previous.get("files", []), ours)
    act.make_dirs(plan.pykrita)
    act.make_dirs(actions.parent)
    for old in ours:
        act.remove(old)
    for made in (desktop, actions):  # the .action file: facesmith's group in Krita's shortcuts
        source = src / "krita" / made.name
        act.do(f"copy {source} -> {made}", lambda s=source, m=made: shutil.copy2(s, m))
    act.copy_tree(src / "krita" / KRITA_PLUGIN, package)
    act.copy_tree(src / HOST_PACKAGE, host)
    same_rc = previous.get("kritarc", str(plan.kritarc)) == str(plan.kritarc)
    if not same_rc:
        _disable_krita(act, Path(previous["kritarc"]), previous)  # an earlier --kritarc
    created_file, created_group = _enable_krita(act, plan.kritarc)
    return {
        "pykrita": str(plan.pykrita),
        "kritarc": str(plan.kritarc),
        "files": [str(p) for p in ours],
        "created_kritarc": created_file or (same_rc and previous.get("created_kritarc", False)),
        "created_group": created_group or (same_rc and previous.get("created_group", False)),
    }


def krita_actions_file(pykrita: Path) -> Path:
    """Krita reads .action files from the actions/ folder beside pykrita/ (its resources)."""
    return pykrita.parent / "actions" / f"{KRITA_PLUGIN}.action"


def _enable_krita(act: Actions, kritarc: Path) -> tuple[bool, bool]:
    """Set the key → (kritarc was created, [python] group was added)."""
    existed = kritarc.is_file()
    old = _read_text(kritarc) if existed else ""
    new, added_group = enable_in_kritarc(old)
    if new == old:
        note(f"{kritarc} already enables {PLUGIN}")
        return False, False
    act.make_dirs(kritarc.parent)
    act.do(
        f"enable {PLUGIN} in {kritarc} ({KRITA_GROUP} {KRITA_KEY}=true)",
        lambda: _write_text(kritarc, new),
    )
    return not existed, added_group


def _read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def install_gimp(act: Actions, plan: Plan, previous: dict[str, Any]) -> dict[str, Any]:
    src = plan.source / "plugin"
    folder = plan.gimp_plugins / PLUGIN
    _remove_stale(act, previous.get("files", []), [folder])
    act.make_dirs(plan.gimp_plugins)
    act.remove(folder)
    act.copy_tree(src / "gimp" / PLUGIN, folder)
    act.copy_tree(src / HOST_PACKAGE, folder / HOST_PACKAGE)
    script = folder / f"{PLUGIN}.py"
    act.do(f"make {script} executable", lambda: script.chmod(0o755))
    return {"plugins": str(plan.gimp_plugins), "files": [str(folder)]}


def _remove_stale(act: Actions, recorded: list[str], current: list[Path]) -> None:
    """Remove what an earlier install put elsewhere (another --krita-dir, say)."""
    for path in recorded:
        if Path(path) not in current:
            act.remove(Path(path))


def write_config(act: Actions, plan: Plan, args: argparse.Namespace, config_mod: Any) -> None:
    token = args.token
    if token is None and args.token_file is not None:
        lines = args.token_file.read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
    if token is None:
        token = os.environ.get("FACESMITH_TOKEN")
    if token is None:
        token = _recorded_token(plan.config, config_mod, args.server)
    cfg = config_mod.RuntimeConfig(python=str(plan.python), server=args.server, token=token)
    act.make_dirs(plan.config.parent)
    shown = f"python={cfg.python}, server={cfg.server}" + (", token=***" if token else "")
    act.do(
        f"write config {plan.config} ({shown})", lambda: config_mod.save_config(cfg, plan.config)
    )


def _recorded_token(config: Path, config_mod: Any, server: str) -> str:
    """The token recorded for ``server`` (never one recorded for another server)."""
    try:
        recorded = config_mod.load_config(config)
    except Exception:  # no config yet, or an unreadable one that is about to be replaced
        return ""
    return str(recorded.token) if recorded.server == server else ""


def install(args: argparse.Namespace, act: Actions) -> None:
    krita, gimp = not args.no_krita, not args.no_gimp
    check_sources(_absolute(args.source), krita, gimp)
    config_mod = import_config(_absolute(args.source))
    plan = make_plan(args, config_mod.config_path(), {})
    record_path = manifest_path(plan.config)
    record = read_manifest(record_path)
    install_runtime(act, plan, args)
    if krita:
        record["krita"] = install_krita(act, plan, record.get("krita") or {})
    if gimp:
        record["gimp"] = install_gimp(act, plan, record.get("gimp") or {})
    write_config(act, plan, args, config_mod)
    record.update(
        version=MANIFEST_VERSION,
        source=str(plan.source),
        config=str(plan.config),
        python=str(plan.python),
        runtime=str(plan.runtime) if plan.runtime else None,
        made_dirs=sorted(set(record.get("made_dirs", [])) | set(act.made_dirs)),
    )
    write_manifest(act, record_path, record)
    if not act.dry_run:
        print("facesmith installed; restart Krita and GIMP to load it.")


def import_config(source: Path) -> Any:
    """facesmith_host.config from the source checkout (stdlib only), writing no bytecode there."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(source / "plugin"))
    try:
        from facesmith_host import config
    except ImportError as err:
        raise InstallError(f"cannot load facesmith_host from {source / 'plugin'}: {err}") from None
    return config


# --- uninstall --------------------------------------------------------------------------------


def uninstall(args: argparse.Namespace, act: Actions) -> None:
    config_mod = import_config(_absolute(args.source))
    config = _absolute(args.config or config_mod.config_path())
    record_path = manifest_path(config)
    record = read_manifest(record_path)
    plan = make_plan(args, config, record)
    # With a record, only the hosts it lists (or a folder named on the command line); without
    # one (an install older than the record, or a lost one), our names in the default folders.
    if not args.no_krita and (not record or "krita" in record or args.krita_dir):
        uninstall_krita(act, plan, record.pop("krita", None), bool(args.krita_dir))
    if not args.no_gimp and (not record or "gimp" in record or args.gimp_dir):
        uninstall_gimp(act, plan, record.pop("gimp", None), bool(args.gimp_dir))
    if args.remove_runtime:
        remove_runtime(act, plan)
    if record.get("krita") or record.get("gimp"):
        write_manifest(act, record_path, record)  # the host left alone still uses the runtime
    else:
        act.remove(config)
        act.remove(record_path)
        remove_made_dirs(act, record.get("made_dirs", []))
    if not act.dry_run:
        print("facesmith uninstalled.")


def uninstall_krita(act: Actions, plan: Plan, recorded: dict[str, Any] | None, moved: bool) -> None:
    ours = [
        plan.pykrita / f"{KRITA_PLUGIN}.desktop",
        plan.pykrita / KRITA_PLUGIN,
        plan.pykrita / HOST_PACKAGE,
        krita_actions_file(plan.pykrita),
    ]
    files = ours if moved or not recorded else [Path(p) for p in recorded.get("files", [])]
    for path in files:
        act.remove(path)
    _disable_krita(act, plan.kritarc, recorded or {})


def _disable_krita(act: Actions, kritarc: Path, recorded: dict[str, Any]) -> None:
    """Take our key out of ``kritarc``; the group and the file too where the installer made them."""
    if not kritarc.is_file():
        return
    old = _read_text(kritarc)
    new = disable_in_kritarc(old, drop_empty_group=bool(recorded.get("created_group")))
    if new == old:
        return
    if recorded.get("created_kritarc") and not new.strip():
        act.remove(kritarc)
    else:
        act.do(f"remove {KRITA_KEY} from {kritarc}", lambda: _write_text(kritarc, new))


def uninstall_gimp(act: Actions, plan: Plan, recorded: dict[str, Any] | None, moved: bool) -> None:
    files = [plan.gimp_plugins / PLUGIN]
    if recorded and not moved:
        files = [Path(p) for p in recorded.get("files", [])]
    for path in files:
        act.remove(path)


def remove_runtime(act: Actions, plan: Plan) -> None:
    if plan.runtime is None or not plan.runtime.exists():
        return
    if not (plan.runtime / RUNTIME_MARKER).is_file():
        note(f"leaving {plan.runtime}: the installer did not create it")
        return
    act.remove(plan.runtime)


def remove_made_dirs(act: Actions, made: list[str]) -> None:
    """Folders the installer created, deepest first, while they are empty."""
    for folder in sorted((Path(d) for d in made), key=lambda d: len(d.parts), reverse=True):
        if act.dry_run and folder.is_dir():
            act.do(f"remove folder {folder} if it is empty by then")
        elif folder.is_dir() and not any(folder.iterdir()):
            act.do(f"remove empty folder {folder}", folder.rmdir)


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        print(
            f"error: facesmith needs Python 3.10 or newer; this is {found} ({sys.executable})",
            file=sys.stderr,
        )
        return 2
    args = parse_args(argv)
    act = Actions(dry_run=args.dry_run)
    if act.dry_run:
        print("dry run: every action is listed, nothing is changed")
    try:
        (uninstall if args.uninstall else install)(args, act)
    except InstallError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
