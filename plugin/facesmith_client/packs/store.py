"""Installed model packs: ``$FACESMITH_HOME/packs/NAME`` (default the per-user data folder).

`fetch` downloads a catalogue pack into ``packs/.NAME.partial`` (files verified one by one and
moved into place atomically; interrupted downloads resume from their ``.part`` files), writes
its manifest.json last and renames the folder to ``packs/NAME``, so an installed pack is always
complete. An installed pack older than its catalogue entry (files added or changed) is brought
up to date the same way, reusing every installed file that still verifies. Then the pack's
directions are finished on this machine: Z boundaries converted to W and attribute models
placed (`facesmith_server.latent.zconvert`). `verify` re-checks the size and sha256 of every
file the manifest names. Manifest paths that leave the pack folder are refused before anything
is downloaded. Nothing in a pack is executed; the server reads weights with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from facesmith.files import NAME_PATTERN, atomic_write, sha256_file
from facesmith_client.packs.catalogue import (
    CATALOGUE,
    LOCAL,
    CataloguePack,
    RemoteDirection,
    RemoteFile,
)
from facesmith_client.packs.download import Log, OnProgress, download_file
from facesmith_client.remote.local_server import (
    LocalServerError,
    data_home,
    default_pack_dir,
    ensure_test_pack,
)
from facesmith_server.errors import PackError

MANIFEST_NAME = "manifest.json"
PARTIAL_SUFFIX = ".partial"
FILE_SECTIONS = ("generator", "encoder")
DIRECTION_SECTIONS = ("directions", "z_directions")
INSTALL_SAMPLES = 10000  # random faces the Z conversions and attribute models are made on

ProgressFactory = Callable[[str], OnProgress | None]


class PackStoreError(PackError):
    """A pack cannot be fetched, found or removed; the message says why and what to do."""


@dataclass(frozen=True)
class PackStatus:
    """One row of `facesmith pack list`."""

    name: str
    status: str  # "installed", "not installed", "incomplete download", "installed (local)"
    description: str
    path: Path


def packs_dir() -> Path:
    """Where packs live: data_home()/packs ($FACESMITH_HOME/packs when set)."""
    return data_home() / "packs"


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name.endswith(PARTIAL_SUFFIX):
        raise PackStoreError(f"{name!r} is not a pack name (letters, digits, '.', '_', '-')")
    return name


def pack_path(name: str, root: Path | None = None) -> Path:
    return (root or packs_dir()) / check_name(name)


def staging_path(name: str, root: Path | None = None) -> Path:
    return (root or packs_dir()) / f".{check_name(name)}{PARTIAL_SUFFIX}"


def is_installed(name: str, root: Path | None = None) -> bool:
    return (pack_path(name, root) / MANIFEST_NAME).is_file()


# -- list ----------------------------------------------------------------------------------------


def list_packs(root: Path | None = None) -> list[PackStatus]:
    """The built-in default pack, then installed packs and the catalogue's, each once,
    catalogue order first."""
    root = root or packs_dir()
    names = list(CATALOGUE)
    if root.is_dir():
        names += sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and p.name not in CATALOGUE and (p / MANIFEST_NAME).is_file()
        )
    rows = _builtin_rows()
    for name in names:
        path = root / name
        entry = CATALOGUE.get(name)
        if (path / MANIFEST_NAME).is_file():
            status = "installed"
            description = _manifest_description(path) or (entry.description if entry else "")
        elif staging_path(name, root).is_dir():
            status, description = "incomplete download", entry.description if entry else ""
        else:
            status = "not installed"
            description = entry.description if entry else ""
            if entry is not None and entry.origin == LOCAL:
                status = "not made yet (made on first use)"
        rows.append(PackStatus(name, status, description, path))
    return rows


def _builtin_rows() -> list[PackStatus]:
    try:
        path = default_pack_dir()
    except LocalServerError:
        return []
    return [PackStatus(path.name, "built in (the default)", _manifest_description(path), path)]


def _manifest_description(path: Path) -> str:
    try:
        data = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "(unreadable manifest.json)"
    return str(data.get("description", "")) if isinstance(data, dict) else ""


# -- fetch ---------------------------------------------------------------------------------------


def fetch(
    pack: CataloguePack | str,
    root: Path | None = None,
    *,
    install_as: str | None = None,
    trust_unverified: bool = False,
    only_directions: bool = False,
    log: Log = print,
    progress: ProgressFactory | None = None,
    samples: int = INSTALL_SAMPLES,
) -> Path:
    """Install ``pack`` (a catalogue name or entry) → its folder. Idempotent; an installed
    copy that is damaged or older than ``pack`` is repaired or updated, reusing its good files.

    Refuses, before downloading anything, paths that leave the pack folder and (unless
    ``trust_unverified``) files without a published sha256 and size. ``only_directions``: keep
    the installed pack's generator and encoder (whatever they are) and fetch only ``pack``'s
    directions. ``samples``: random faces for the Z conversions and attribute models.
    """
    if isinstance(pack, str):
        if pack not in CATALOGUE:
            known = ", ".join(CATALOGUE)
            raise PackStoreError(f"no pack {pack!r} in the catalogue (known: {known})")
        pack = CATALOGUE[pack]
    root = root or packs_dir()
    name = check_name(install_as or pack.name)
    dest = pack_path(name, root)
    if pack.origin == LOCAL:
        made = ensure_test_pack(dest)
        log(f"{name}: ready in {made} (made locally, nothing downloaded)")
        return made
    staging = staging_path(name, root)
    if only_directions:
        pack = _with_installed_models(pack, dest)
    files = pack.files()
    _check_paths(staging, files)
    unverifiable = [f for f in files if not f.verifiable]
    if unverifiable and not trust_unverified:
        listed = "\n  ".join(f"{f.path}  ({f.source})" for f in unverifiable)
        raise PackStoreError(
            f"{name}: no published sha256 and size are known for {len(unverifiable)} file(s):\n"
            f"  {listed}\nThey cannot be verified, so they are not installed. Pass "
            "--trust-unverified to download them anyway (their sha256 is then recorded on "
            "this machine and checked from then on)."
        )
    installed = dest / MANIFEST_NAME
    if installed.is_file():
        checks = verify_pack(dest)
        current = _is_current(dest, files)
        if current and all(ok for _, ok, _ in checks):
            log(f"{name}: already installed and verified in {dest}")
            _finish_directions(dest, log, samples, list(pack.directions))  # what a run missed
            return dest
        if not current:
            log(f"{name}: the installed copy is older than the catalogue's; updating it "
                "(files that still verify are kept)")  # fmt: skip
        else:
            log(f"{name}: the installed copy is damaged; fetching again (it stays until then)")
    staging.mkdir(parents=True, exist_ok=True)
    if installed.is_file():
        _reuse_good_files(dest, staging, [path for path, ok, _ in checks if ok])
    digests = {remote.path: _fetch_file(staging, remote, log, progress) for remote in files}
    manifest = _installed_manifest(pack, name, digests)
    if installed.is_file():
        _keep_local_directions(dest, staging, manifest)
    _write_json(staging / MANIFEST_NAME, manifest)
    _swap_into_place(staging, dest)
    log(f"{name}: installed in {dest}")
    _finish_directions(dest, log, samples, list(pack.directions))
    return dest


def _with_installed_models(pack: CataloguePack, dest: Path) -> CataloguePack:
    """``pack`` with the generator and encoder of the pack installed at ``dest``."""
    from facesmith_server.model.pack import read_manifest_json

    if not (dest / MANIFEST_NAME).is_file():
        raise PackStoreError(
            f"{dest.name}: --only-directions needs the pack installed in {dest} (its generator "
            "and encoder are kept); fetch it without --only-directions first"
        )
    data = read_manifest_json(dest)
    models = {}
    for section in FILE_SECTIONS:
        obj = data.get(section)
        if not isinstance(obj, dict):
            raise PackStoreError(f"{dest / MANIFEST_NAME}: no {section!r} entry")
        models[section] = RemoteFile(
            path=_str(obj, "path", section),
            format=_str(obj, "format", section),
            urls=tuple(str(u) for u in obj.get("urls", [])),
            sha256=_str(obj, "sha256", section).lower(),
            size=_int(obj, "size", section),
            source=str(obj.get("source", "")),
            license=str(obj.get("license", "")),
            checksum_source=str(obj.get("checksum_source", "the installed manifest.json")),
        )
    return replace(pack, generator=models["generator"], encoder=models["encoder"])


def _is_current(dest: Path, files: list[RemoteFile]) -> bool:
    """Whether the installed manifest names every file of ``files`` as the catalogue does: same
    sha256 (when published), verified as published, and for directions the same space, range,
    group and install-time steps (an older install may read a file wrongly)."""
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
        installed = {str(obj.get("path")): obj for _, obj in manifest_files(data)}
    except (OSError, ValueError, PackError):
        return False
    for remote in files:
        obj = installed.get(remote.path)
        if obj is None or (remote.sha256 is not None and obj.get("sha256") != remote.sha256):
            return False
        if bool(obj.get("verified", True)) != (remote.sha256 is not None):
            return False
        if isinstance(remote, RemoteDirection):
            expected = {
                "space": remote.space, "min": remote.min, "max": remote.max,
                "group": remote.group, "derive_score": remote.derive_score,
                "negate": remote.negate,
            }  # fmt: skip
            defaults: dict[str, Any] = {"group": "", "derive_score": "", "negate": False}
            if any(obj.get(k, defaults.get(k)) != v for k, v in expected.items()):
                return False
    return True


def _reuse_good_files(dest: Path, staging: Path, good: list[str]) -> None:
    """Copies (hard links where possible) of the installed files that still verify."""
    for rel in good:
        source, target = dest / rel, staging / rel
        if rel == MANIFEST_NAME or target.exists() or not source.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _keep_local_directions(dest: Path, staging: Path, manifest: dict[str, Any]) -> None:
    """Directions made on this machine (`directions fit`, `convert-z`, Z boundaries converted at
    install from the same boundary and settings) survive a repair or an update, and so do the
    attribute models of unchanged directions."""
    from facesmith_server.latent.zconvert import CONVERTED_FROM, conversion_key

    old = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    ours = manifest.setdefault("directions", {})
    boundaries = manifest.get("z_directions") or {}
    for name, entry in (old.get("directions") or {}).items():
        if not isinstance(entry, dict):
            continue
        if name in boundaries and entry.get(CONVERTED_FROM) != conversion_key(boundaries[name]):
            continue  # converted from another boundary or with other settings: convert again
        score = entry.get("score") if isinstance(entry.get("score"), dict) else None
        if name in ours:  # the catalogue's: keep its attribute model if the file is unchanged
            fresh = "score" in ours[name]
            if score and not fresh and ours[name].get("sha256") == entry.get("sha256"):
                rel = str(score.get("path", ""))
                _reuse_good_files(dest, staging, [rel])
                if (staging / rel).is_file():
                    ours[name]["score"] = score
            continue
        rels = [str(entry.get("path", ""))] + ([str(score.get("path", ""))] if score else [])
        _reuse_good_files(dest, staging, rels)
        if all((staging / rel).is_file() for rel in rels):
            ours[name] = entry


def _swap_into_place(staging: Path, dest: Path) -> None:
    """The complete staging folder becomes the pack; an old copy is removed only after."""
    if not dest.exists():
        os.replace(staging, dest)
        return
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def _finish_directions(dest: Path, log: Log, samples: int, order: list[str]) -> None:
    """Z-space boundaries become W directions through the pack's own mapping network, and
    directions published without an intercept get their attribute model (on this machine).
    The manifest then lists the directions in ``order`` (the catalogue's: menus list groups
    in the order they first appear), any others after them."""
    data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    directions = data.get("directions") or {}
    z_todo = [n for n in data.get("z_directions") or {} if n not in directions]
    models_todo = [
        n for n, e in directions.items()
        if isinstance(e, dict) and e.get("derive_score") and not e.get("score")
    ]  # fmt: skip
    if z_todo or models_todo:
        from facesmith_server.latent.zconvert import (
            convert_pack_z_directions,  # torch, only when needed
        )

        log(f"{dest.name}: converting {len(z_todo)} Z-space boundaries to W and placing "
            f"{len(z_todo) + len(models_todo)} attribute models in {samples} random faces of "
            "the pack's mapping network")  # fmt: skip
        done = convert_pack_z_directions(dest, n=samples, log=lambda m: log(f"{dest.name}: {m}"))
        log(f"{dest.name}: {len(done)} directions finished (provenance in the manifest)")
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    listed = data.get("directions") or {}
    rank = {name: i for i, name in enumerate(order)}
    ordered = dict(sorted(listed.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    if list(ordered) != list(listed):
        data["directions"] = ordered
        _write_json(dest / MANIFEST_NAME, data)


def _check_paths(staging: Path, files: list[RemoteFile]) -> None:
    from facesmith_server.model.pack import resolve_inside  # torch: only when fetching

    seen: set[str] = set()
    for remote in files:
        resolve_inside(staging, remote.path)
        key = remote.path.replace("\\", "/").lower()
        if key in seen or key == MANIFEST_NAME:
            raise PackStoreError(f"manifest path {remote.path!r} is used twice")
        seen.add(key)


def _fetch_file(
    staging: Path, remote: RemoteFile, log: Log, progress: ProgressFactory | None
) -> tuple[str, int]:
    """Download one file into the staging folder unless a verified copy is there.

    → (sha256, size) of the file in place.
    """
    from facesmith_server.model.pack import resolve_inside

    target = resolve_inside(staging, remote.path)
    if target.is_file():
        digest = sha256_file(target)
        size_ok = remote.size is None or target.stat().st_size == remote.size
        if size_ok and (remote.sha256 is None or digest == remote.sha256):
            log(f"{remote.path}: already downloaded and verified")
            return digest, target.stat().st_size
        target.unlink()
    if remote.sha256 is None:
        log(f"{remote.path}: WARNING no published sha256 — downloading unverified")
    on_progress = progress(remote.path) if progress is not None else None
    try:
        digest = download_file(
            remote.urls,
            target,
            sha256=remote.sha256,
            size=remote.size,
            log=log,
            progress=on_progress,
        )
        return digest, target.stat().st_size
    finally:
        close = getattr(on_progress, "close", None)
        if callable(close):
            close()


def _installed_manifest(
    pack: CataloguePack, name: str, digests: dict[str, tuple[str, int]]
) -> dict[str, Any]:
    def file_entry(remote: RemoteFile) -> dict[str, Any]:
        digest, size = digests[remote.path]
        return {
            "path": remote.path,
            "format": remote.format,
            "sha256": digest,
            "size": size,
            "source": remote.source,
            "license": remote.license,
            "urls": list(remote.urls),
            "verified": remote.sha256 is not None,
            "checksum_source": remote.checksum_source
            if remote.sha256 is not None
            else "computed on this machine at download (no published checksum)",
        }

    def direction_entry(name: str) -> dict[str, Any]:
        d = pack.directions[name]
        entry = file_entry(d) | {
            "space": d.space,
            "min": d.min,
            "max": d.max,
            "default": d.default,
            "description": d.description,
        }
        optional = {
            "group": d.group,
            "derive_score": d.derive_score,
            "negate": d.negate,
            "range_note": d.range_note,
        }
        entry |= {k: v for k, v in optional.items() if v}
        if d.score is not None:
            entry["score"] = file_entry(d.score) | {
                "intercept": d.score.intercept,
                "kind": d.score.kind,
                "unit": d.score.unit,
                "min": d.score.min,
                "max": d.score.max,
            }
        return entry

    assert pack.generator is not None and pack.encoder is not None
    return {
        "manifest_version": 1,
        "name": name,
        "description": pack.description,
        "resolution": pack.resolution,
        "latent_space": pack.latent_space,
        "alignment": pack.alignment,
        "license": pack.license,
        "generator": file_entry(pack.generator),
        "encoder": file_entry(pack.encoder),
        "directions": {n: direction_entry(n) for n, d in pack.directions.items() if d.space != "z"},
        "z_directions": {
            n: direction_entry(n) for n, d in pack.directions.items() if d.space == "z"
        },
    }


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"))


# -- verify / info / remove ----------------------------------------------------------------------


def manifest_files(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, file object) for every file a manifest JSON object names."""
    if not isinstance(data, dict):
        raise PackStoreError("manifest.json: not a JSON object")
    for section in FILE_SECTIONS:
        obj = data.get(section)
        if not isinstance(obj, dict):
            raise PackStoreError(f"manifest.json: no {section!r} entry")
        yield section, obj
    for section in DIRECTION_SECTIONS:
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise PackStoreError(f"manifest.json: {section!r} must be an object")
        for name, obj in entries.items():
            if not isinstance(obj, dict):
                raise PackStoreError(f"manifest.json: {section}.{name} must be an object")
            yield f"{section}.{name}", obj
            score = obj.get("score")
            if score is not None:
                if not isinstance(score, dict):
                    raise PackStoreError(f"manifest.json: {section}.{name}.score must be an object")
                yield f"{section}.{name}.score", score


def verify_pack(path: Path) -> list[tuple[str, bool, str]]:
    """(file, ok, message) for every file of the installed pack at ``path``: size and sha256."""
    from facesmith_server.model.pack import FileEntry, read_manifest_json, verified_file

    data = read_manifest_json(path)
    results = []
    for label, obj in manifest_files(data):
        shown = str(obj.get("path", label))
        try:
            entry = FileEntry(
                path=_str(obj, "path", label),
                format=_str(obj, "format", label),
                sha256=_str(obj, "sha256", label).lower(),
                size=_int(obj, "size", label),
            )
            verified_file(path, entry)
        except PackError as exc:
            results.append((shown, False, str(exc)))
            continue
        note = "" if obj.get("verified", True) else " (checksum recorded at download, unpublished)"
        results.append((shown, True, f"{shown}{note}"))
    return results


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise PackError(f"manifest.json: {where}.{key} must be a string")
    return value


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PackError(f"manifest.json: {where}.{key} must be an integer")
    return value


def installed_names(root: Path | None = None) -> list[str]:
    root = root or packs_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / MANIFEST_NAME).is_file())


def describe(name: str, root: Path | None = None) -> str:
    """Human-readable details of a pack: installed manifest, else its catalogue entry."""
    path = pack_path(name, root)
    if (path / MANIFEST_NAME).is_file():
        from facesmith_server.model.pack import read_manifest_json

        data = read_manifest_json(path)
        lines = [f"{name}: installed in {path}"]
        lines += _describe_fields(data)
        for label, entry in manifest_files(data):
            lines += _describe_file(label, entry)
        return "\n".join(lines)
    if name not in CATALOGUE:
        raise PackStoreError(f"no pack {name!r} installed in {path.parent} or in the catalogue")
    pack = CATALOGUE[name]
    where = "made on first use" if pack.origin == LOCAL else "not installed"
    lines = [f"{name}: {where} (would go to {path})"]
    lines += _describe_fields(
        {
            "description": pack.description,
            "resolution": pack.resolution,
            "latent_space": pack.latent_space,
            "license": pack.license,
        }
    )
    labelled: list[tuple[str, RemoteFile]] = [
        (label, f)
        for label, f in (("generator", pack.generator), ("encoder", pack.encoder))
        if f is not None
    ]
    labelled += [(f"directions.{n}", d) for n, d in pack.directions.items()]
    for label, remote in labelled:
        obj: dict[str, Any] = {
            "path": remote.path,
            "format": remote.format,
            "sha256": remote.sha256 or "UNKNOWN",
            "size": remote.size if remote.size is not None else "UNKNOWN",
            "source": remote.source,
            "license": remote.license,
            "checksum_source": remote.checksum_source,
            "urls": list(remote.urls),
        }
        if isinstance(remote, RemoteDirection):
            obj |= {
                "space": remote.space,
                "min": remote.min,
                "max": remote.max,
                "description": remote.description,
                "group": remote.group,
                "range_note": remote.range_note,
                "derive_score": remote.derive_score,
                "negate": remote.negate,
            }
        lines += _describe_file(label, obj)
    return "\n".join(lines)


def _describe_fields(data: dict[str, Any]) -> list[str]:
    keys = ("description", "resolution", "latent_space", "license")
    return [f"  {key}: {data[key]}" for key in keys if data.get(key) not in (None, "")]


def _describe_file(label: str, obj: dict[str, Any]) -> list[str]:
    lines = [f"  {label}: {obj.get('path')} ({obj.get('format')})"]
    keys = ("space", "group", "min", "max", "range_note", "description", "negate", "kind",
            "unit", "intercept", "size", "sha256", "checksum_source")  # fmt: skip
    for key in keys:
        if obj.get(key) not in (None, "", False):
            lines.append(f"      {key}: {obj[key]}")
    if obj.get("derive_score"):
        uses = "--set and swaps" if obj["derive_score"] == "binary" else "--set"
        lines.append(f"      attribute model: {obj['derive_score']}, placed at install in random "
                     f"faces of the generator (for {uses})")  # fmt: skip
    for key in ("source", "license"):
        if obj.get(key):
            lines.append(f"      {key}: {obj[key]}")
    for url in obj.get("urls", []):
        lines.append(f"      mirror: {url}")
    return lines


def remove(name: str, root: Path | None = None) -> Path:
    """Delete the installed pack and any partial download of it → the removed folder."""
    path = pack_path(name, root)
    staging = staging_path(name, root)
    if not path.exists() and not staging.exists():
        raise PackStoreError(f"pack {name!r} is not installed in {path.parent}")
    for folder in (path, staging):
        if folder.is_symlink():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)
    return path


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
