"""The actions of `facesmith pack`: list, fetch, verify, info, remove."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facesmith_client.cli.progress import ProgressBar
from facesmith_client.events import Progress
from facesmith_client.packs.catalogue import remote_pack
from facesmith_client.packs.download import DownloadError, fetch_json
from facesmith_client.packs.store import (
    describe,
    fetch,
    installed_names,
    is_installed,
    list_packs,
    pack_path,
    packs_dir,
    remove,
    stderr_log,
    verify_pack,
)
from facesmith_server.errors import PackError


def run_pack(args: argparse.Namespace) -> int:
    try:
        return _ACTIONS[args.pack_command](args)
    except (PackError, DownloadError) as err:
        stderr_log(f"facesmith: error: {err}")
        return 1


def _list(args: argparse.Namespace) -> int:
    print(f"packs folder: {packs_dir()}")
    for row in list_packs():
        print(f"{row.name:<12} {row.status:<34} {row.description}")
    return 0


class _ByteProgress:
    """Download progress (bytes) shown in kB on a ProgressBar."""

    def __init__(self, label: str) -> None:
        self.bar = ProgressBar(label)

    def __call__(self, event: Progress) -> None:
        self.bar(Progress("kB", event.done // 1000, event.total // 1000))

    def close(self) -> None:
        self.bar.close()


def _fetch(args: argparse.Namespace) -> int:
    target: Any = args.name
    if args.manifest_urls:
        manifest = fetch_json(args.manifest_urls, log=stderr_log)
        bases = [url.rsplit("/", 1)[0] for url in args.manifest_urls]
        try:
            target = remote_pack(manifest, bases)
        except (ValueError, TypeError) as exc:
            raise PackError(f"the manifest at {args.manifest_urls[0]} is invalid: {exc}") from exc
    path = fetch(
        target,
        install_as=args.name,
        trust_unverified=args.trust_unverified,
        only_directions=args.only_directions,
        log=stderr_log,
        progress=_ByteProgress,
    )
    print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else installed_names()
    if not names:
        print(f"no packs installed in {packs_dir()}")
        return 0
    failed = 0
    for name in names:
        if not is_installed(name):
            stderr_log(f"{name}: not installed in {pack_path(name)}")
            failed += 1
            continue
        results = verify_pack(pack_path(name))
        bad = [msg for _, ok, msg in results if not ok]
        for _, ok, msg in results:
            print(f"{name}: {'ok  ' if ok else 'FAIL'} {msg}")
        print(f"{name}: {'verified' if not bad else f'{len(bad)} file(s) FAILED'}")
        failed += bool(bad)
    if failed:
        stderr_log("facesmith: re-run `facesmith pack fetch NAME` to repair a damaged pack")
    return 1 if failed else 0


def _info(args: argparse.Namespace) -> int:
    print(describe(args.name))
    return 0


def _remove(args: argparse.Namespace) -> int:
    path = remove(args.name)
    print(f"removed {path}", file=sys.stderr)
    return 0


_ACTIONS = {
    "list": _list,
    "fetch": _fetch,
    "verify": _verify,
    "info": _info,
    "remove": _remove,
}
