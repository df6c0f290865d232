#!/usr/bin/env python3
"""Release artifacts from one command:

    python installers/build.py [--out dist] [--no-wheel]

- facesmith-VERSION-py3-none-any.whl and facesmith-VERSION.tar.gz (``python -m build``): the
  runtime, server and CLI, with the built-in demo pack inside;
- facesmith-krita-VERSION.zip, laid out as Krita's Tools ▸ Scripts ▸ Import Python Plugin from
  File… expects: facesmith_krita.desktop and the facesmith_krita package (with directory
  entries, which the importer looks for) at the top; the host link (facesmith_host, standard
  library only) and the wheel travel inside the package, in vendor/, since the importer copies
  only the package named by the .desktop file;
- facesmith-gimp-VERSION.zip: a facesmith/ folder (facesmith.py executable, its rules, the host
  link and the wheel beside them) that unpacks into GIMP 3's plug-ins folder as it is.

The plugins' set-up installs the wheel they carry into the runtime it makes.

The zips are reproducible: sorted entries, fixed dates. Standard library only (the wheel needs
the `build` package, a dev dependency).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugin"
HOST = "facesmith_host"
KRITA = "facesmith_krita"
VENDOR = "vendor"  # inside the Krita package: where the zip carries the host link
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SKIP = ("__pycache__", ".pyc", ".pyo")
Entry = tuple[str, "Path | None", int]  # name in the zip, source file (None: a folder), mode


def version() -> str:
    """[project] version from pyproject.toml (no tomllib: Python 3.10 runs this too)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    if found is None:
        raise SystemExit("no version in pyproject.toml's [project]")
    return found.group(1)


def files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.endswith(SKIP) for part in path.parts):
            yield path


def write_zip(out: Path, entries: list[Entry]) -> Path:
    names = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source, mode in sorted(entries, key=lambda e: e[0]):
            if name in names:
                raise ValueError(f"{name} twice in {out.name}")
            names.add(name)
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = (mode | (0o040000 if source is None else 0o100000)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, b"" if source is None else source.read_bytes())
    return out


def tree(
    root: Path, prefix: str, executable: tuple[str, ...] = ()
) -> list[tuple[str, Path | None, int]]:
    """Every file under ``root`` as ``prefix/relative``, with an entry per folder."""
    entries: list[tuple[str, Path | None, int]] = [(f"{prefix}/", None, 0o755)]
    for path in files_under(root):
        relative = path.relative_to(root)
        for depth in range(1, len(relative.parts)):
            folder = f"{prefix}/{'/'.join(relative.parts[:depth])}/"
            entries.append((folder, None, 0o755))
        mode = 0o755 if relative.as_posix() in executable else 0o644
        entries.append((f"{prefix}/{relative.as_posix()}", path, mode))
    return list({name: (name, src, mode) for name, src, mode in entries}.values())


def krita_zip(out_dir: Path, ver: str, wheel: Path | None) -> Path:
    entries: list[Entry] = [
        (f"{KRITA}{suffix}", PLUGIN / "krita" / f"{KRITA}{suffix}", 0o644)
        for suffix in (".desktop", ".action")  # the importer puts the .action in actions/
    ]
    entries += tree(PLUGIN / "krita" / KRITA, KRITA)
    entries += [(f"{KRITA}/{VENDOR}/", None, 0o755)]
    entries += tree(PLUGIN / HOST, f"{KRITA}/{VENDOR}/{HOST}")
    entries += _wheel_entry(wheel, f"{KRITA}/{VENDOR}")
    return write_zip(out_dir / f"facesmith-krita-{ver}.zip", entries)


def gimp_zip(out_dir: Path, ver: str, wheel: Path | None) -> Path:
    entries = tree(PLUGIN / "gimp" / "facesmith", "facesmith", executable=("facesmith.py",))
    entries += tree(PLUGIN / HOST, f"facesmith/{HOST}")
    entries += _wheel_entry(wheel, "facesmith")
    return write_zip(out_dir / f"facesmith-gimp-{ver}.zip", entries)


def _wheel_entry(wheel: Path | None, folder: str) -> list[Entry]:
    """The facesmith wheel the plugin's set-up installs into the runtime (none: it comes
    from the package index or the user's folder of wheel files)."""
    return [] if wheel is None else [(f"{folder}/{wheel.name}", wheel, 0o644)]


def wheel_and_sdist(out_dir: Path) -> list[Path]:
    before = set(out_dir.glob("facesmith-*"))
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out_dir), str(REPO)],
                   check=True)  # fmt: skip
    return sorted(set(out_dir.glob("facesmith-*")) - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (dist/)")
    parser.add_argument(
        "--no-wheel", action="store_true", help="the two plugin zips only, without the wheel"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ver = version()
    built = [] if args.no_wheel else wheel_and_sdist(args.out)
    wheel = next((p for p in built if p.suffix == ".whl"), None)
    built += [krita_zip(args.out, ver, wheel), gimp_zip(args.out, ver, wheel)]
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
