"""The packs `facesmith pack` knows by name, and where their files come from.

Each remote file lists its mirrors in the order they are tried, its licence and source, and
the size and sha256 *where a public record of them was found* (named in ``checksum_source``).
``sha256=None`` means no published checksum is known: `facesmith pack fetch` refuses such a
file unless the user passes ``--trust-unverified``.

Directions in Z space (InterFaceGAN++ boundaries) are kept with ``space="z"``: they must be
converted to W through the pack's own mapping network before the server can use them, so they
are written to the installed manifest under ``z_directions`` (which the pack loader ignores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOCAL = "local"  # made on this machine (make-test-pack), never downloaded


@dataclass(frozen=True)
class RemoteFile:
    """One file of a pack: where it goes in the pack folder and where it comes from."""

    path: str  # relative to the pack folder, POSIX separators
    format: str
    urls: tuple[str, ...]
    sha256: str | None = None  # None: no published checksum found
    size: int | None = None
    source: str = ""
    license: str = ""
    checksum_source: str = ""  # where sha256/size were read (e.g. a Git LFS pointer file)

    @property
    def verifiable(self) -> bool:
        return self.sha256 is not None and self.size is not None


@dataclass(frozen=True)
class RemoteDirection(RemoteFile):
    """An edit direction file plus its slider range and latent space (w, w+ or z)."""

    space: str = "w"
    min: float = -3.0
    max: float = 3.0
    default: float = 0.0
    description: str = ""


@dataclass(frozen=True)
class CataloguePack:
    """A pack that can be installed by name."""

    name: str
    description: str
    resolution: int = 1024
    latent_space: str = "w+"
    alignment: str = "ffhq"
    license: str = ""
    generator: RemoteFile | None = None  # None only for LOCAL packs
    encoder: RemoteFile | None = None
    directions: dict[str, RemoteDirection] = field(default_factory=dict)
    origin: str = "download"  # or LOCAL

    def files(self) -> list[RemoteFile]:
        """Every file: generator, encoder, then the directions."""
        head = [f for f in (self.generator, self.encoder) if f is not None]
        return head + list(self.directions.values())


def remote_pack(manifest: Any, base_urls: list[str]) -> CataloguePack:
    """A CataloguePack from a manifest.json object served under each of ``base_urls``.

    Each file's mirrors are ``base + "/" + path`` for every base, in order. The manifest's
    sha256 and size are what the downloads are checked against.
    """
    if not isinstance(manifest, dict):
        raise ValueError("manifest: must be a JSON object")

    def urls(path: str) -> tuple[str, ...]:
        return tuple(f"{base.rstrip('/')}/{path}" for base in base_urls)

    def file_fields(obj: Any, where: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ValueError(f"manifest: {where} must be a JSON object")
        try:
            path, fmt, sha, size = obj["path"], obj["format"], obj["sha256"], obj["size"]
        except KeyError as exc:
            raise ValueError(f"manifest: {where} has no {exc.args[0]!r}") from exc
        if not (isinstance(path, str) and isinstance(fmt, str) and isinstance(sha, str)):
            raise ValueError(f"manifest: {where} path, format and sha256 must be strings")
        if not isinstance(size, int) or isinstance(size, bool):
            raise ValueError(f"manifest: {where}.size must be an integer")
        return {
            "path": path,
            "format": fmt,
            "urls": urls(path),
            "sha256": sha.lower(),
            "size": size,
            "source": str(obj.get("source", "")),
            "license": str(obj.get("license", "")),
            "checksum_source": "the pack's manifest.json",
        }

    directions: dict[str, RemoteDirection] = {}
    for section in ("directions", "z_directions"):
        entries = manifest.get(section) or {}
        if not isinstance(entries, dict):
            raise ValueError(f"manifest: {section} must be a JSON object")
        for name, obj in entries.items():
            fields = file_fields(obj, f"{section}.{name}")
            if str(name) in directions:
                raise ValueError(f"manifest: direction {name!r} appears twice")
            # the section decides: an entry of z_directions is a Z boundary whatever it says
            space = "z" if section == "z_directions" else str(obj.get("space", "w"))
            directions[str(name)] = RemoteDirection(
                **fields,
                space=space,
                min=float(obj.get("min", -3.0)),
                max=float(obj.get("max", 3.0)),
                default=float(obj.get("default", 0.0)),
                description=str(obj.get("description", "")),
            )
    return CataloguePack(
        name=str(manifest.get("name", "")),
        description=str(manifest.get("description", "")),
        resolution=int(manifest.get("resolution", 0)),
        latent_space=str(manifest.get("latent_space", "w+")),
        alignment=str(manifest.get("alignment", "ffhq")),
        license=str(manifest.get("license", "")),
        generator=RemoteFile(**file_fields(manifest.get("generator"), "generator")),
        encoder=RemoteFile(**file_fields(manifest.get("encoder"), "encoder")),
        directions=directions,
    )


# -- the official FFHQ pack ----------------------------------------------------------------------

_NVIDIA_NC = (
    "Nvidia Source Code License-NC (StyleGAN2 weights, non-commercial use only); "
    "trained on FFHQ (CC BY-NC-SA 4.0)"
)
_E4E = "https://github.com/omertov/encoder4editing"
_E4E_LICENSE = "MIT (encoder4editing); the encoder is trained with the StyleGAN2 FFHQ generator"
_STIT = "https://github.com/rotemtzaban/STIT"
_STIT_COMMIT = "5d6c472bca3c5cc1751dc6932ebdd01ff37f36c2"
_IFG = "https://github.com/genforce/interfacegan"
_IFG_COMMIT = "150882e69130f90f2e3bc4a6477a498ff03ab1e0"  # InterFaceGAN++ boundaries
_BABYGAN_COMMIT = "b6346459396027ae7029468e7fba1098bb279030"
_LFS_POINTER = (
    f"Git LFS pointer https://github.com/yypylypiv0422/babygan/blob/{_BABYGAN_COMMIT}/"
    "pretrained_models/{name}"
)
_UNKNOWN = "no published sha256/size found; fetch needs --trust-unverified"


def _e4e_direction(name: str, description: str) -> RemoteDirection:
    path = f"editings/interfacegan_directions/{name}.pt"
    return RemoteDirection(
        path=f"directions/{name}.pt",
        format="torch-tensor",
        urls=tuple(
            f"https://raw.githubusercontent.com/omertov/encoder4editing/{branch}/{path}"
            for branch in ("main", "master")
        ),
        source=f"{_E4E} {path} (InterFaceGAN direction for the StyleGAN2 FFHQ generator)",
        license="MIT (encoder4editing)",
        checksum_source=_UNKNOWN,
        space="w",
        min=-5.0,
        max=5.0,
        description=description,
    )


def _stit_direction(name: str, description: str) -> RemoteDirection:
    path = f"editings/w_directions/{name}.npy"
    return RemoteDirection(
        path=f"directions/stit_{name}.npy",
        format="npy",
        urls=(
            f"https://raw.githubusercontent.com/rotemtzaban/STIT/{_STIT_COMMIT}/{path}",
            f"https://raw.githubusercontent.com/rotemtzaban/STIT/main/{path}",
        ),
        source=f"{_STIT} {path} (commit {_STIT_COMMIT[:7]})",
        license="MIT (STIT)",
        checksum_source=_UNKNOWN,
        space="w+",
        min=-5.0,
        max=5.0,
        description=description,
    )


def _ifg_boundary(attribute: str, description: str) -> RemoteDirection:
    path = f"boundaries/stylegan2_ffhq_z/boundary_{attribute}.npy"
    return RemoteDirection(
        path=f"directions/z/{attribute.lower()}.npy",
        format="npy",
        urls=(
            f"https://raw.githubusercontent.com/genforce/interfacegan/{_IFG_COMMIT}/{path}",
            f"https://raw.githubusercontent.com/genforce/interfacegan/master/{path}",
        ),
        source=f"{_IFG} {path} (InterFaceGAN++, commit {_IFG_COMMIT[:7]})",
        license="MIT (InterFaceGAN)",
        checksum_source=_UNKNOWN,
        space="z",
        min=-3.0,
        max=3.0,
        description=description + " (Z-space boundary: convert to W before use)",
    )


FFHQ = CataloguePack(
    name="ffhq",
    description="StyleGAN2 FFHQ config-f (rosinality layout), the e4e FFHQ encoder and "
    "attribute directions from e4e, STIT and InterFaceGAN++. Makes real faces at 1024 px.",
    resolution=1024,
    latent_space="w+",
    alignment="ffhq",
    license="non-commercial (StyleGAN2 FFHQ weights: Nvidia Source Code License-NC)",
    generator=RemoteFile(
        path="stylegan2-ffhq-config-f.pt",
        format="rosinality-stylegan2",
        urls=(
            "https://huggingface.co/akhaliq/jojogan-stylegan2-ffhq-config-f/resolve/main/"
            "stylegan2-ffhq-config-f.pt",
            "https://huggingface.co/Awesimo/jojogan/resolve/main/stylegan2-ffhq-config-f.pt",
            "https://drive.usercontent.google.com/download?id=1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"
            "&export=download&confirm=t",
        ),
        sha256="bae494ef77e32a9cd1792a81a3c167692a0e64f6bcd8b06592ff42917e2ed46e",
        size=381462551,
        source="NVIDIA StyleGAN2 FFHQ config-f, converted to PyTorch by "
        "https://github.com/rosinality/stylegan2-pytorch (the file pSp/e4e/ReStyle use)",
        license=_NVIDIA_NC,
        checksum_source=_LFS_POINTER.format(name="stylegan2-ffhq-config-f.pt"),
    ),
    encoder=RemoteFile(
        path="e4e_ffhq_encode.pt",
        format="e4e",
        urls=(
            "https://drive.usercontent.google.com/download?id=1cUv_reLE6k3604or78EranS7XzuVMWeO"
            "&export=download&confirm=t",
            "https://huggingface.co/AIRI-Institute/HairFastGAN/resolve/main/pretrained_models/"
            "encoder4editing/e4e_ffhq_encode.pt",
        ),
        sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
        size=1201649680,
        source=f"{_E4E} (pretrained model 'FFHQ Inversion')",
        license=_E4E_LICENSE,
        checksum_source=_LFS_POINTER.format(name="e4e_ffhq_encode.pt"),
    ),
    directions={
        "age": _e4e_direction("age", "older (+) / younger (−)"),
        "smile": _e4e_direction("smile", "smile (+) / no smile (−)"),
        "pose": _e4e_direction("pose", "head turned one way (+) / the other (−)"),
        "gender": _stit_direction("gender", "more male (+) / more female (−)"),
        "bald": _ifg_boundary("Bald", "balder (+) / more hair (−)"),
        "receding_hairline": _ifg_boundary("Receding_Hairline", "receding hairline (+)"),
        "gray_hair": _ifg_boundary("Gray_Hair", "grey hair (+)"),
        "eyeglasses": _ifg_boundary("Eyeglasses", "eyeglasses (+)"),
        "male": _ifg_boundary("Male", "more male (+) / more female (−)"),
        "young": _ifg_boundary("Young", "younger (+) / older (−)"),
    },
)

TEST = CataloguePack(
    name="test",
    description="Tiny random-weight pack in the official formats, made on this machine by "
    "make-test-pack (no download). Edits run end to end; the faces it makes are noise.",
    resolution=64,
    license="Apache-2.0",
    origin=LOCAL,
)

CATALOGUE: dict[str, CataloguePack] = {p.name: p for p in (TEST, FFHQ)}
