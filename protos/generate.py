"""Generate the Python stubs of protos/facesmith/v1/*.proto (the build step; never hand-edit).

python protos/generate.py          # write facesmith/v1/*_pb2*.py(i) beside the .proto files
python protos/generate.py --check  # exit 1 if the committed stubs differ from a fresh build
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PROTO_DIR = ROOT / "facesmith" / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc  # dev dependency, imported only here

    protos = sorted(PROTO_DIR.glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_dir / "facesmith" / "v1").iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed stubs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        if args.check:
            stale = [p.name for p in fresh if not _same(p, PROTO_DIR / p.name)]
            if stale:
                print(f"stale stubs (run python protos/generate.py): {stale}", file=sys.stderr)
                return 1
            print(f"stubs are current ({len(fresh)} files)")
            return 0
        for p in fresh:
            shutil.copyfile(p, PROTO_DIR / p.name)
            print(f"wrote {PROTO_DIR / p.name}")
    return 0


def _same(a: Path, b: Path) -> bool:
    return b.exists() and filecmp.cmp(a, b, shallow=False)


if __name__ == "__main__":
    sys.exit(main())
