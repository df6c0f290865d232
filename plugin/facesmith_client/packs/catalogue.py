"""The packs `facesmith pack` knows by name, and where their files come from.

Each remote file lists its mirrors in the order they are tried, its licence and source, and
the size and sha256 *where a public record of them was found* (named in ``checksum_source``).
``sha256=None`` means no published checksum is known: `facesmith pack fetch` refuses such a
file unless the user passes ``--trust-unverified``. Every file of the ``ffhq`` pack is pinned:
GitHub files by commit (never a branch), with their size and sha256.

Directions in Z space (InterFaceGAN++ boundaries) are kept with ``space="z"``: they must be
converted to W through the pack's own mapping network before the server can use them, so they
are written to the installed manifest under ``z_directions`` (which the pack loader ignores).
A direction published without an intercept asks for an attribute model (``derive_score``),
placed at install in the generator's random faces (see ``facesmith_server.latent.zconvert``),
so that absolute edits (``--set``) and swaps work on it.
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
class RemoteScore(RemoteFile):
    """A direction's published attribute model (see facesmith_server.model.pack.ScoreEntry)."""

    intercept: float = 0.0
    kind: str = "binary"
    unit: str = ""
    min: float = 0.0
    max: float = 1.0


@dataclass(frozen=True)
class RemoteDirection(RemoteFile):
    """An edit direction file plus its slider range and latent space (w, w+ or z)."""

    space: str = "w"
    min: float = -3.0
    max: float = 3.0
    default: float = 0.0
    description: str = ""
    group: str = ""  # where menus list the edit
    derive_score: str = ""  # attribute model made at install: "binary", "continuous" or none
    negate: bool = False  # Z boundaries: convert the negative (CelebA's No_Beard → beard)
    range_note: str = ""  # how min and max were chosen
    score: RemoteScore | None = None  # a published attribute model (its file is fetched too)


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
        """Every file: generator, encoder, then the directions (each with its attribute model)."""
        files = [f for f in (self.generator, self.encoder) if f is not None]
        for direction in self.directions.values():
            files.append(direction)
            if direction.score is not None:
                files.append(direction.score)
        return files


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
    boundaries = manifest.get("z_directions") or {}
    boundaries = boundaries if isinstance(boundaries, dict) else {}
    for section in ("directions", "z_directions"):
        entries = manifest.get(section) or {}
        if not isinstance(entries, dict):
            raise ValueError(f"manifest: {section} must be a JSON object")
        for name, obj in entries.items():
            converted = isinstance(obj, dict) and bool(obj.get("converted_from"))
            if section == "directions" and converted and name in boundaries:
                continue  # an installed pack's conversion: made again from the boundary
            fields = file_fields(obj, f"{section}.{name}")
            if str(name) in directions:
                raise ValueError(f"manifest: direction {name!r} appears twice")
            # the section decides: an entry of z_directions is a Z boundary whatever it says
            space = "z" if section == "z_directions" else str(obj.get("space", "w"))
            score = obj.get("score")
            remote_score = None
            if score:
                where = f"{section}.{name}.score"
                if not isinstance(score, dict):
                    raise ValueError(f"manifest: {where} must be a JSON object")
                remote_score = RemoteScore(
                    **file_fields(score, where),
                    intercept=float(score.get("intercept", 0.0)),
                    kind=str(score.get("kind", "binary")),
                    unit=str(score.get("unit", "")),
                    min=float(score.get("min", 0.0)),
                    max=float(score.get("max", 1.0)),
                )
            directions[str(name)] = RemoteDirection(
                **fields,
                space=space,
                min=float(obj.get("min", -3.0)),
                max=float(obj.get("max", 3.0)),
                default=float(obj.get("default", 0.0)),
                description=str(obj.get("description", "")),
                group=str(obj.get("group", "")),
                derive_score=str(obj.get("derive_score", "")),
                negate=bool(obj.get("negate", False)),
                range_note=str(obj.get("range_note", "")),
                score=remote_score,
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
_BABYGAN_COMMIT = "b6346459396027ae7029468e7fba1098bb279030"
_LFS_POINTER = (
    f"Git LFS pointer https://github.com/yypylypiv0422/babygan/blob/{_BABYGAN_COMMIT}/"
    "pretrained_models/{name}"
)


@dataclass(frozen=True)
class _Repo:
    """A public GitHub repository at the commit its files are taken from."""

    name: str  # owner/name
    commit: str  # 40 hex digits: files are fetched at this commit, never from a branch
    license: str

    def urls(self, path: str) -> tuple[str, ...]:
        """Mirrors of ``path`` at the pinned commit: GitHub's raw host, GitHub, jsDelivr."""
        return (
            f"https://raw.githubusercontent.com/{self.name}/{self.commit}/{path}",
            f"https://github.com/{self.name}/raw/{self.commit}/{path}",
            f"https://cdn.jsdelivr.net/gh/{self.name}@{self.commit}/{path}",
        )

    def checksum_source(self, path: str) -> str:
        return (
            f"size and sha256 of the public file {path} of github.com/{self.name} at commit "
            f"{self.commit} (a byte-exact copy, hashed)"
        )


E4E_REPO = _Repo(
    "omertov/encoder4editing", "99ea50578695d2e8a1cf7259d8ee89b23eea942b", "MIT (encoder4editing)"
)
STIT_REPO = _Repo(
    "rotemtzaban/STIT",
    "5d6c472bca3c5cc1751dc6932ebdd01ff37f36c2",
    # STIT's README credits its editing directions to StyleGAN2 Distillation
    "MIT (STIT); STIT's README credits its w_directions to "
    "github.com/EvgenyKashin/stylegan2-distillation (Creative Commons NonCommercial)",
)
# InterFaceGAN++: the StyleGAN2 boundaries exist at this commit (master later reverted them)
IFG_REPO = _Repo(
    "genforce/interfacegan", "150882e69130f90f2e3bc4a6477a498ff03ab1e0", "MIT (InterFaceGAN)"
)

# Sizes and sha256 of the official direction files, by their path in the repository.
_E4E_FILES = {  # torch tensors, float32, unit rows; pose.pt was saved on a CUDA device
    "age": (2808, "50074516b1629707d89b5e43d6b8abd1792212fa3b961a87a11323d6a5222ae0"),
    "pose": (37624, "736e0eacc8488fa0b020a2e7bd256b957284c364191dfea693705e5d06d43e7d"),
    "smile": (2808, "817a7e732b59dee9eba862bec8bd7e8373568443bc9f9731a21cf9b0356f0653"),
}
_STIT_FILES = {  # float64 [18, 512], 18 equal rows of the norm given here (not unit vectors)
    "age": (0.7308, "72095858d9f441494d46742639da43b17c282bbd48add6f5eca143073d725986"),
    "eye_distance": (0.2154, "c679f7405f8277ef791aa22fd8cb7c728bd0ac210fcd9664cf57c3138c9c4ef6"),
    "eye_eyebrow_distance": (
        0.2255,
        "a13002c0ad517fdcffe1688e3a3b44a1b8fab0a71769e609b6de43a20550edf0",
    ),
    "eye_ratio": (0.2222, "77a7aa387c857eea20380a530626e48ba63de1ad33621c37319020a823be7446"),
    "eyes_open": (0.2067, "6115c94f42449aaa1f7064171f32bdc6d6c92aba4db7905fdbbd31a1483fde90"),
    "gender": (0.9716, "f1ac40508d9f5b7df499378f60766d93fe4e5f5461b63fff8ed14233e9b15a9e"),
    "lip_ratio": (0.3031, "a3ee87e7a175666437d722dbb191cd1b73fd5ce02955f058cbe280878bd529b0"),
    "mouth_open": (0.2063, "b4852b360bbc70380f2151e5d7204a895ccf8d22d6a951dbb6f65264774dab39"),
    "mouth_ratio": (0.2291, "0a897cc731a213a3ec62869181a30d31d72a2761340c58d0f24e073a5a67be28"),
    "nose_mouth_distance": (
        0.2265,
        "a466d61d2123d64134616656d36ae5f50fa9bf345373f2e51d37fc41d1af30ca",
    ),
    "nose_ratio": (0.2220, "8866c8cf02f7aad7a13c71c3f6b64f9414a58f43a2d4b8f52982c86b4c1dc2d3"),
    "nose_tip": (0.2289, "aba1e4487b43e8a1389b3c645b83fe032c439f32397c04e24d3dc9c0e63857b0"),
    "pitch": (0.5183, "28fd460a828f56f83c6c22ce4c5251664dab5d7d5da3ad840517c6df9d07c385"),
    "roll": (0.2786, "b4e0cc381482a79cd8901e0997cb1d4ffdf6c8e597306da32a040f290e0fed88"),
    "smile": (1.0073, "703a67fe070ce1f3c5ad18fc0f5711093756ba1a7048e2e09b2cd6c933032b6e"),
    "yaw": (0.9364, "600bbadd2569a8382f444498bf995b3484b9151972601ddfacd80dfa4d5740cd"),
}
STIT_FILE_SIZE = 73856
_IFG_FILES = {  # float32 [1, 512] unit normals in Z, 2176 bytes each; CelebA's 40 but Blurry
    "5_o_Clock_Shadow": "d73f812fb788622308a257f22f1687848622d00f8e0a4265d9f473f9c2c72a0f",
    "Arched_Eyebrows": "599f2e8048f2781fd12435180c81afec247c27fa7513ead37fee82c12572c3ca",
    "Attractive": "c1c2340d9fba1f6a5f290e121a179a4c128357dd5ff12f797c7080bdd460f576",
    "Bags_Under_Eyes": "4744311628ce033b3a74f6a91fdc8706535ed97a8c760cc8e57c14594f4955c5",
    "Bald": "b6dcf8ab55a9ea52e520239c0b60b5a1fae0e0e1876ef331a4f183d02a1a892b",
    "Bangs": "d7eb6fb4823e766f3606300fab424b10fcda7c2eba725c8b1dd0036fb6c48393",
    "Big_Lips": "2c2ff99fa77acd9821f443a2ed0b66ba0179e8b0f48b3ebb0e8eb9b2de0d38f9",
    "Big_Nose": "238cfcf1707431a098b5e45228032a8087d9bf11942ec91c8eb63d82a15e81ff",
    "Black_Hair": "beeda8ade249f4feb155a4f0c8f54445cdb71b01f6a9e05cd922f090a99aa740",
    "Blond_Hair": "9ef675e77cfcd0dd8d2523c8bc0ee91b0b808fbfb2a7d9a3a492dad858ef2f2a",
    "Brown_Hair": "b87150cc495d2f1656750fd584bf751e5c466cdebdd36a39f817d23ce4ed7011",
    "Bushy_Eyebrows": "8c450276cbfeb4bb138d7c4bbd9d54813c5840906bc25ea22fb93aae54cd49df",
    "Chubby": "960413b25e7ef7dbaec756d1d2170bb149d2cf5ea6dac54a7305279116920e13",
    "Double_Chin": "80b92001f31511c3b0ff05e0ed85e7eae3c968b77128d3ab9a426365b6923ce1",
    "Eyeglasses": "2b8007827e446e7522e4ef8834cb6af3defb008780c3ad4dc6bfe9f4d62f01d7",
    "Goatee": "e08814691d06c04035c7bb809fa3a1deed8b6cb293288a15e4a30303676b53f6",
    "Gray_Hair": "8160401f9bc19d27df845106291ff2340b3c904d6cc7a10ba4ad67d5fd5166aa",
    "Heavy_Makeup": "7823ee386627bab6d818f7b567671b3e2dc67aeb73f5ee32a693bd6fa33f250c",
    "High_Cheekbones": "89a2df795ed5d60ff8fc913365649469742846c1c9e1f135da6ff84c709ef230",
    "Male": "381231594e42af8c65e985a6bb77da546a2af229aa583122d9c4d0e66e9a20ee",
    "Mouth_Slightly_Open": "f2c70022d25fc33911b4db20f7e895e37582062235784863b105b5856bf65714",
    "Mustache": "a07553bda0efadedc2b64c24d1e520c8a9ae50083ba437df2fc439e43c40336f",
    "Narrow_Eyes": "6f3102157ea98adbfd0ecc810590be7d365daa592f8082b2e7835512dbfb0ef2",
    "No_Beard": "50f33e90d6272fea3fd97e0831791cf668ee58f3e6350fdc96d414384362f668",
    "Oval_Face": "d98d08e30229b041db4f024b76256da6379b4afaeeb2f740a22822fd8ef32e0f",
    "Pale_Skin": "492af34355110efe830e89216b27432fb3eaf18c465a5a17b4f921364cb7ef75",
    "Pointy_Nose": "f7cc5ee0518623420bfe0bffe9b39b61a91935a3a1f3dcc75c32d2025471bde2",
    "Receding_Hairline": "ace517166b956c81f994767b1eedd5c1a78da9abe36a6f409ffb3f80cd42640f",
    "Rosy_Cheeks": "5d5ff2698ce44d64a62f38f2cc4e582708257b2d2ab447b42669bc83c0236e9e",
    "Sideburns": "cb1915e7ed7bed3d8a85a04cac205e8172f524d3a4b14fe7de96e19cf36ff27d",
    "Smiling": "3f1a1ff7c54da7ed15c85a14274c1852829f94802e39c7791b82fc7bb77ea58f",
    "Straight_Hair": "c537584e24c076c1f08210801f2e6828dda0c22ccec1f73e149b15829b95bbc6",
    "Wavy_Hair": "2a4ee8c9ff308394ed67754f08226d998e4afafdd6dd0c2c09f1d4b0f6d07343",
    "Wearing_Earrings": "eb86614c99fdb5ba9ebe7f7f11cf8318db8bd6fe76d0471832de1c2d12d62b8f",
    "Wearing_Hat": "63fd2caf7bbbebec3f448bd6b4ca64cdcb72735024f330d1425d35e0483266e6",
    "Wearing_Lipstick": "71ed1dd7952bbd8a713a5512c1e4a6eff03570e84952b10c3ef5019ffc4be573",
    "Wearing_Necklace": "45d6e1611f5410d017d0c7fcc58a81491e9e75c3c5e049bbf0d13e4e20df2465",
    "Wearing_Necktie": "4b6f180b292a6fa366d2bd42597bebf2a74fdbe4051cea57d5e35cf512d6975e",
    "Young": "3cf9e5919571ca41e5181a54f6a4008992fa423ff0bdd257d5c697bad9b4c441",
}
IFG_FILE_SIZE = 2176

E4E_RANGE = 5.0
E4E_RANGE_NOTE = (
    "±5: e4e's editing notebook applies its InterFaceGAN directions with factor_range (-5, 5) "
    "(unit rows: w moves by at most 5)"
)
STIT_REACH = 3.0  # |Δw| at the end of a STIT slider
IFG_RANGE = 3.0
IFG_RANGE_NOTE = (
    "±3 standard deviations of the Z boundary's score (InterFaceGAN's edit.py sweeps -3…3); "
    "converted to W so that strength 1 is still one standard deviation"
)
BINARY, CONTINUOUS = "binary", "continuous"


def stit_range(norm: float) -> float:
    """The end of a STIT slider: w moves by about STIT_REACH, to the nearest half."""
    return round(2 * STIT_REACH / norm) / 2


def _e4e_direction(
    name: str, group: str, kind: str, description: str, space: str = "w"
) -> RemoteDirection:
    path = f"editings/interfacegan_directions/{name}.pt"
    size, sha256 = _E4E_FILES[name]
    return RemoteDirection(
        path=f"directions/{name}.pt",
        format="torch-tensor",
        urls=E4E_REPO.urls(path),
        sha256=sha256,
        size=size,
        source=f"{_E4E} {path} at {E4E_REPO.commit[:7]} (InterFaceGAN direction for the "
        "StyleGAN2 FFHQ generator)",
        license=E4E_REPO.license,
        checksum_source=E4E_REPO.checksum_source(path),
        space=space,
        min=-E4E_RANGE,
        max=E4E_RANGE,
        description=description,
        group=group,
        derive_score=kind,
        range_note=E4E_RANGE_NOTE,
    )


def _stit_direction(file: str, group: str, kind: str, description: str) -> RemoteDirection:
    path = f"editings/w_directions/{file}.npy"
    norm, sha256 = _STIT_FILES[file]
    limit = stit_range(norm)
    return RemoteDirection(
        path=f"directions/stit_{file}.npy",
        format="npy",
        urls=STIT_REPO.urls(path),
        sha256=sha256,
        size=STIT_FILE_SIZE,
        source=f"https://github.com/{STIT_REPO.name} {path} at {STIT_REPO.commit[:7]}",
        license=STIT_REPO.license,
        checksum_source=STIT_REPO.checksum_source(path),
        space="w+",
        min=-limit,
        max=limit,
        description=description,
        group=group,
        derive_score=kind,
        range_note=f"±{limit:g} = {STIT_REACH:g} / |row| (|row| = {norm}): w moves by at most "
        f"~{STIT_REACH:g}, as in STIT's README edits (age -8, gender -6, which its editor "
        "halves: factor / 2)",
    )


def _ifg_boundary(
    attribute: str, group: str, description: str, negate: bool = False
) -> RemoteDirection:
    path = f"boundaries/stylegan2_ffhq_z/boundary_{attribute}.npy"
    return RemoteDirection(
        path=f"directions/z/{attribute.lower()}.npy",
        format="npy",
        urls=IFG_REPO.urls(path),
        sha256=_IFG_FILES[attribute],
        size=IFG_FILE_SIZE,
        source=f"https://github.com/{IFG_REPO.name} {path} (InterFaceGAN++, CelebA attribute "
        f"{attribute}{', negated' if negate else ''}, commit {IFG_REPO.commit[:7]})",
        license=IFG_REPO.license,
        checksum_source=IFG_REPO.checksum_source(path),
        space="z",
        min=-IFG_RANGE,
        max=IFG_RANGE,
        description=description,
        group=group,
        derive_score=BINARY,
        negate=negate,
        range_note=IFG_RANGE_NOTE,
    )


# Menus list groups in this order (the order of the directions below).
_FFHQ_DIRECTIONS = {
    # age
    "age": _e4e_direction("age", "age", CONTINUOUS, "older (+) / younger (−)"),
    "age_stit": _stit_direction("age", "age", CONTINUOUS, "older (+) / younger (−) (STIT)"),
    "young": _ifg_boundary("Young", "age", "younger (+) / older (−) (CelebA Young)"),
    # gender
    "gender": _stit_direction("gender", "gender", BINARY, "more male (+) / more female (−)"),
    "male": _ifg_boundary("Male", "gender", "more male (+) / more female (−) (CelebA Male)"),
    # hair
    "bald": _ifg_boundary("Bald", "hair", "balder (+) / more hair (−)"),
    "receding_hairline": _ifg_boundary("Receding_Hairline", "hair", "receding hairline (+)"),
    "bangs": _ifg_boundary("Bangs", "hair", "bangs, a fringe (+)"),
    "straight_hair": _ifg_boundary("Straight_Hair", "hair", "straight hair (+)"),
    "wavy_hair": _ifg_boundary("Wavy_Hair", "hair", "wavy hair (+)"),
    # hair colour
    "gray_hair": _ifg_boundary("Gray_Hair", "hair colour", "grey hair (+)"),
    "black_hair": _ifg_boundary("Black_Hair", "hair colour", "black hair (+)"),
    "blond_hair": _ifg_boundary("Blond_Hair", "hair colour", "blond hair (+)"),
    "brown_hair": _ifg_boundary("Brown_Hair", "hair colour", "brown hair (+)"),
    # beard
    "beard": _ifg_boundary(
        "No_Beard", "beard", "beard (+) / clean-shaven (−) (CelebA No_Beard, negated)", negate=True
    ),
    "stubble": _ifg_boundary("5_o_Clock_Shadow", "beard", "stubble, five o'clock shadow (+)"),
    "goatee": _ifg_boundary("Goatee", "beard", "goatee (+)"),
    "mustache": _ifg_boundary("Mustache", "beard", "moustache (+)"),
    "sideburns": _ifg_boundary("Sideburns", "beard", "sideburns (+)"),
    # expression
    "smile": _e4e_direction("smile", "expression", BINARY, "smile (+) / no smile (−)"),
    "smile_stit": _stit_direction("smile", "expression", BINARY, "smile (+) / no smile (−) (STIT)"),
    "smile_ifg": _ifg_boundary("Smiling", "expression", "smiling (+) (CelebA Smiling)"),
    # eyes and brows
    "eyes_open": _stit_direction("eyes_open", "eyes", BINARY, "eyes open (+) / closed (−)"),
    "narrow_eyes": _ifg_boundary("Narrow_Eyes", "eyes", "narrow eyes (+)"),
    "eye_bags": _ifg_boundary("Bags_Under_Eyes", "eyes", "bags under the eyes (+)"),
    "eye_distance": _stit_direction("eye_distance", "eyes", CONTINUOUS, "eyes further apart (+)"),
    "eye_ratio": _stit_direction("eye_ratio", "eyes", CONTINUOUS, "eye shape: taller (+)"),
    "eye_eyebrow_distance": _stit_direction(
        "eye_eyebrow_distance", "eyes", CONTINUOUS, "brows higher above the eyes (+)"
    ),
    "arched_eyebrows": _ifg_boundary("Arched_Eyebrows", "eyes", "arched eyebrows (+)"),
    "bushy_eyebrows": _ifg_boundary("Bushy_Eyebrows", "eyes", "bushy eyebrows (+)"),
    # nose
    "big_nose": _ifg_boundary("Big_Nose", "nose", "bigger nose (+)"),
    "pointy_nose": _ifg_boundary("Pointy_Nose", "nose", "pointy nose (+)"),
    "nose_ratio": _stit_direction("nose_ratio", "nose", CONTINUOUS, "nose shape ratio (+)"),
    "nose_tip": _stit_direction("nose_tip", "nose", CONTINUOUS, "nose tip (+)"),
    "nose_mouth_distance": _stit_direction(
        "nose_mouth_distance", "nose", CONTINUOUS, "more space between nose and mouth (+)"
    ),
    # mouth
    "mouth_open": _stit_direction("mouth_open", "mouth", BINARY, "mouth open (+) / closed (−)"),
    "mouth_slightly_open": _ifg_boundary("Mouth_Slightly_Open", "mouth", "mouth slightly open (+)"),
    "big_lips": _ifg_boundary("Big_Lips", "mouth", "fuller lips (+)"),
    "lip_ratio": _stit_direction("lip_ratio", "mouth", CONTINUOUS, "lip shape ratio (+)"),
    "mouth_ratio": _stit_direction("mouth_ratio", "mouth", CONTINUOUS, "mouth shape ratio (+)"),
    # face shape
    "chubby": _ifg_boundary("Chubby", "face shape", "chubbier face (+)"),
    "double_chin": _ifg_boundary("Double_Chin", "face shape", "double chin (+)"),
    "high_cheekbones": _ifg_boundary("High_Cheekbones", "face shape", "high cheekbones (+)"),
    "oval_face": _ifg_boundary("Oval_Face", "face shape", "oval face (+)"),
    # skin
    "pale_skin": _ifg_boundary("Pale_Skin", "skin", "paler skin (+)"),
    "rosy_cheeks": _ifg_boundary("Rosy_Cheeks", "skin", "rosy cheeks (+)"),
    # makeup
    "makeup": _ifg_boundary("Heavy_Makeup", "makeup", "heavy makeup (+) (CelebA Heavy_Makeup)"),
    "lipstick": _ifg_boundary("Wearing_Lipstick", "makeup", "lipstick (+)"),
    # accessories
    "eyeglasses": _ifg_boundary("Eyeglasses", "accessories", "eyeglasses (+)"),
    "hat": _ifg_boundary("Wearing_Hat", "accessories", "hat (+)"),
    "earrings": _ifg_boundary("Wearing_Earrings", "accessories", "earrings (+)"),
    "necklace": _ifg_boundary("Wearing_Necklace", "accessories", "necklace (+)"),
    "necktie": _ifg_boundary("Wearing_Necktie", "accessories", "necktie (+)"),
    # pose
    "pose": _e4e_direction(
        "pose", "pose", CONTINUOUS, "head turned (yaw): one way (+) / the other (−)", space="w+"
    ),
    "yaw": _stit_direction("yaw", "pose", CONTINUOUS, "head turned left/right (yaw)"),
    "pitch": _stit_direction("pitch", "pose", CONTINUOUS, "head tilted up/down (pitch)"),
    "roll": _stit_direction("roll", "pose", CONTINUOUS, "head tilted sideways (roll)"),
    # overall
    "attractive": _ifg_boundary("Attractive", "overall", "CelebA's Attractive label (+)"),
}

FFHQ = CataloguePack(
    name="ffhq",
    description="StyleGAN2 FFHQ config-f (rosinality layout), the e4e FFHQ encoder and "
    f"{len(_FFHQ_DIRECTIONS)} attribute directions from e4e, STIT and InterFaceGAN++ (all its "
    "StyleGAN2-FFHQ CelebA boundaries). Makes real faces at 1024 px.",
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
    directions=_FFHQ_DIRECTIONS,
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
