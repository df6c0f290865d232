"""`facesmith pack list | fetch NAME | verify [NAME] | info NAME | remove NAME` (the parser;
the actions are in pack_actions, imported when the command runs)."""

from __future__ import annotations

from typing import Any


def add_pack_parser(commands: Any) -> None:
    """Register `facesmith pack …` on the CLI's subcommands."""
    p = commands.add_parser(
        "pack",
        help="list, fetch, verify, inspect or remove model packs",
        description="Model packs live in $FACESMITH_HOME/packs/NAME (default: the per-user "
        "data folder). Downloads are resumed, checked against their size and sha256 and "
        "only then moved into place.",
    )
    actions = p.add_subparsers(dest="pack_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="installed packs and the catalogue's, with their status")
    fetch_p = actions.add_parser("fetch", help="download (or make) a pack and verify it")
    fetch_p.add_argument("name", metavar="NAME", help="catalogue name (e.g. ffhq, test)")
    fetch_p.add_argument(
        "--from",
        dest="manifest_urls",
        action="append",
        default=[],
        metavar="URL",
        help="a manifest.json URL to install as NAME instead of the catalogue entry; its files "
        "are fetched from beside it. Repeat for mirrors, tried in order",
    )
    fetch_p.add_argument(
        "--trust-unverified",
        action="store_true",
        help="also install files for which no sha256 is published (their checksum is then "
        "recorded at download and checked from then on)",
    )
    fetch_p.add_argument(
        "--only-directions",
        action="store_true",
        help="keep the installed pack's generator and encoder and fetch only the catalogue's "
        "direction files (new or changed ones), then convert and place them",
    )
    verify_p = actions.add_parser("verify", help="check the size and sha256 of every file")
    verify_p.add_argument("name", nargs="?", metavar="NAME", help="default: every installed pack")
    info_p = actions.add_parser("info", help="files, sources, licences and checksums of a pack")
    info_p.add_argument("name", metavar="NAME")
    remove_p = actions.add_parser("remove", help="delete an installed pack")
    remove_p.add_argument("name", metavar="NAME")
    p.set_defaults(run="facesmith_client.cli.pack_actions:run_pack")
