"""The official direction files as they really are: ../shared/official-directions holds
byte-exact copies of the public files (SOURCES.md: repository, commit, path, size, sha256).

Each matches its pinned `ffhq` catalogue entry and loads through the pack code with its true
space and shape; the real Z boundaries convert through a 512-wide mapping; and a loopback mirror
serving these exact bytes installs the whole pack end to end (the 1.6 GB generator and encoder
replaced by small stand-ins of the same layout: 1024 px, 18 × 512 latents), which then loads
with every direction settable. The files are never copied into the repository.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from linear_mapping import LinearMapping
from mirror import PackServer, serving
from needs import unavailable

from facesmith.files import sha256_file
from facesmith_client.cli.main import main
from facesmith_client.packs import store as packstore
from facesmith_client.packs.catalogue import (
    _STIT_FILES,
    FFHQ,
    STIT_REACH,
    CataloguePack,
    RemoteDirection,
    RemoteFile,
)
from facesmith_server.errors import PackError
from facesmith_server.latent.discover import sample_population, z_to_w
from facesmith_server.latent.edit import SWAP_MARGIN, apply_edits, strength_to_target
from facesmith_server.latent.fitting import cosine
from facesmith_server.model.checkpoints import save_encoder, save_generator
from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig
from facesmith_server.model.generator import Generator
from facesmith_server.model.pack import DirectionEntry, load_direction, load_pack

OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "official-directions"
RAW = "https://raw.githubusercontent.com/"
NUM_WS, DIM = 18, 512  # StyleGAN2 FFHQ config-f


@dataclass(frozen=True)
class Source:
    """One row of SOURCES.md."""

    file: str  # relative to OFFICIAL
    repo: str
    commit: str
    path: str  # in the repository
    size: int
    sha256: str

    @property
    def url(self) -> str:
        return f"{RAW}{self.repo}/{self.commit}/{self.path}"


@pytest.fixture(scope="module")
def sources() -> list[Source]:
    table = OFFICIAL / "SOURCES.md"
    if not table.is_file():
        unavailable(f"official direction files missing: {OFFICIAL} (CI needs ../shared)")
    rows = []
    for line in table.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[4].isdigit():
            rows.append(Source(cells[0], cells[1], cells[2], cells[3], int(cells[4]), cells[5]))
    return rows


def catalogue_entry(source: Source) -> tuple[str, RemoteDirection]:
    found = [(n, d) for n, d in FFHQ.directions.items() if d.urls[0] == source.url]
    assert len(found) == 1, f"{source.file}: {len(found)} catalogue entries"
    return found[0]


def test_every_official_file_is_pinned_in_the_catalogue(sources: list[Source]) -> None:
    assert len(sources) == len(FFHQ.directions) == 58
    named = set()
    for source in sources:
        path = OFFICIAL / source.file
        assert path.stat().st_size == source.size and sha256_file(path) == source.sha256
        name, entry = catalogue_entry(source)
        assert (entry.size, entry.sha256) == (source.size, source.sha256), name
        assert source.repo in entry.checksum_source and source.commit in entry.checksum_source
        assert all(source.commit in url for url in entry.urls)
        named.add(name)
    assert named == set(FFHQ.directions)


def test_every_official_file_loads_with_its_catalogue_entry(
    sources: list[Source], tmp_path: Path
) -> None:
    for source in sources:
        name, remote = catalogue_entry(source)
        target = tmp_path / remote.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(OFFICIAL / source.file, target)
        entry = direction_entry(remote)
        vector = load_direction(tmp_path, name, entry, NUM_WS, DIM).vector
        rows = NUM_WS if remote.space == "w+" else 1
        assert vector.shape == (rows, DIM) and vector.dtype == np.float32, name
        norms = np.linalg.norm(vector, axis=1)
        if rows > 1:
            assert np.all(vector == vector[:1]), f"{name}: all rows of the official files are equal"
        if source.repo == "rotemtzaban/STIT":  # float64 [18, 512], not unit vectors
            assert np.load(target).dtype == np.float64
            norm = _STIT_FILES[source.path.rsplit("/", 1)[1][: -len(".npy")]][0]
            np.testing.assert_allclose(norms, norm, atol=5e-5)
            assert abs(remote.max * norm - STIT_REACH) < 0.25 * norm, name  # its range's rule
        else:  # e4e's and InterFaceGAN's: unit vectors
            np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    # pose.pt is [1, 18, 512]: read as W (as the catalogue once did) it is refused, saying why
    pose = direction_entry(replace(FFHQ.directions["pose"], space="w"))
    with pytest.raises(PackError, match=r"got \[1, 18, 512\] \(that is a W\+ direction"):
        load_direction(tmp_path, "pose", pose, NUM_WS, DIM)


def direction_entry(remote: RemoteDirection) -> DirectionEntry:
    assert remote.sha256 is not None and remote.size is not None
    return DirectionEntry(
        path=remote.path, format=remote.format, sha256=remote.sha256, size=remote.size,
        space=remote.space, min=remote.min, max=remote.max,
    )  # fmt: skip


def test_real_boundaries_convert_through_a_512_wide_mapping(sources: list[Source]) -> None:
    generator = Generator(8, DIM, n_mlp=1, channels={4: 4, 8: 4})
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    a = rotation * np.linspace(0.3, 2.0, DIM)  # anisotropic, like W
    generator.mapping = LinearMapping(a)  # type: ignore[assignment]
    population = sample_population(generator, 3000, seed=0)
    boundaries = [s for s in sources if s.repo == "genforce/interfacegan"]
    assert len(boundaries) == 39
    for source in boundaries:
        normal = np.load(OFFICIAL / source.file, allow_pickle=False)
        assert normal.shape == (1, DIM) and normal.dtype == np.float32
        fit = z_to_w(normal, generator, seed=0, population=population)
        planted = np.linalg.solve(a.T, normal[0].astype(np.float64))  # z·n = w·(A⁻ᵀ n)
        assert fit.direction.shape == (1, DIM) and fit.metric > 0.99, source.file
        assert cosine(fit.direction, planted) > 0.99, source.file


# -- the whole pack from a mirror of the real bytes -------------------------------------------


def stand_in_models(folder: Path) -> tuple[Path, Path]:
    """A generator and an encoder in the official layouts and sizes of latents (1024 px,
    18 × 512, 8-layer mapping) but 4 channels wide: megabytes, not 1.6 GB."""
    torch.manual_seed(0)
    generator = Generator(1024, DIM, 8, channels={2**i: 4 for i in range(2, 11)}).eval()
    latent_avg = generator.mean_latent(1000, "cpu")[0]
    config = EncoderConfig(NUM_WS, DIM, 64, 8, (8, 16, 24, 32), (1, 1, 1, 1), 4, block_width=8)
    encoder = Encoder4Editing(config).eval()
    g_path, e_path = folder / "stylegan2-ffhq-config-f.pt", folder / "e4e_ffhq_encode.pt"
    save_generator(g_path, generator, latent_avg)
    save_encoder(e_path, encoder, generator, latent_avg)
    return g_path, e_path


def mirrored(pack: CataloguePack, base: str, models: tuple[Path, Path]) -> CataloguePack:
    """``pack`` with every direction fetched from ``base`` (same repository paths, same
    pinned sha256) and the stand-in models instead of the real ones."""

    def stand_in(remote: RemoteFile | None, path: Path) -> RemoteFile:
        assert remote is not None
        return replace(remote, urls=(f"{base}/standin/{path.name}",), sha256=sha256_file(path),
                       size=path.stat().st_size, checksum_source="a test stand-in")  # fmt: skip

    directions = {
        name: replace(d, urls=(d.urls[0].replace(RAW, f"{base}/"),))
        for name, d in pack.directions.items()
    }
    return replace(pack, generator=stand_in(pack.generator, models[0]),
                   encoder=stand_in(pack.encoder, models[1]), directions=directions)  # fmt: skip


@pytest.fixture(scope="module")
def mirror(sources: list[Source], tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[PackServer, tuple[Path, Path]]
]:  # fmt: skip
    models = stand_in_models(tmp_path_factory.mktemp("standin"))
    files = {s.url.removeprefix(RAW): (OFFICIAL / s.file).read_bytes() for s in sources}
    files |= {f"standin/{p.name}": p.read_bytes() for p in models}
    with serving(files) as server:
        yield server, models


@pytest.mark.slow
def test_a_mirror_of_the_real_files_installs_the_whole_pack(
    mirror: tuple[PackServer, tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, models = mirror
    pack = mirrored(FFHQ, f"{server.url}/good", models)
    messages: list[str] = []
    dest = packstore.fetch(pack, tmp_path / "packs", log=messages.append, samples=2000)
    assert not any("WARNING" in m for m in messages)  # every byte verified, nothing trusted
    manifest = json.loads((dest / "manifest.json").read_text())
    for name, remote in FFHQ.directions.items():  # the catalogue's pinned sha256, verified
        section = "z_directions" if remote.space == "z" else "directions"
        assert manifest[section][name]["sha256"] == remote.sha256
        assert manifest[section][name]["verified"] is True
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))

    loaded = load_pack(dest, "cpu")
    assert list(loaded.directions) == list(FFHQ.directions)  # menus: the catalogue's order
    for name, direction in loaded.directions.items():
        remote = FFHQ.directions[name]
        rows = NUM_WS if remote.space == "w+" else 1
        assert direction.vector.shape == (rows, DIM), name
        assert direction.space == ("w" if remote.space == "z" else remote.space), name
        assert (direction.min, direction.max, direction.group) == (
            remote.min, remote.max, remote.group,
        ), name  # fmt: skip
        assert direction.score is not None and direction.score.kind == remote.derive_score, name
    assert loaded.directions["pose"].space == "w+"
    gender = loaded.directions["gender"]  # "Swap gender" needs a binary gender model
    assert gender.score is not None and gender.score.kind == "binary"
    faces, checked = sample_population(loaded.generator, 50, seed=7).w, 0
    for w in faces:  # the swap mirrors each face across the gender boundary (at least to the
        # margin); --set reaches p
        latent = np.repeat(w[None], NUM_WS, axis=0)
        limits = (gender.min, gender.max)
        now = gender.score.value(latent)
        s = strength_to_target(latent, gender.vector, gender.score, "swap", 0.0, limits)
        if gender.min < s < gender.max:
            swapped = apply_edits(latent, [gender.vector], [s])
            goal = -math.copysign(max(abs(now), SWAP_MARGIN), now)
            assert gender.score.value(swapped) == pytest.approx(goal, abs=1e-3)
            checked += 1
        s = strength_to_target(latent, gender.vector, gender.score, "set", 0.8, limits)
        if gender.min < s < gender.max:
            value = gender.score.value(apply_edits(latent, [gender.vector], [s]))
            assert value == pytest.approx(np.log(0.8 / 0.2), abs=1e-3)
            checked += 1
    assert checked > 80  # of 100: most faces are within the slider's reach
    boundary = np.load(OFFICIAL / "interfacegan_stylegan2_ffhq_z/boundary_No_Beard.npy")
    beard = loaded.directions["beard"].vector[0]
    plain = z_to_w(boundary, loaded.generator, seed=0,
                   population=sample_population(loaded.generator, 2000, seed=0))  # fmt: skip
    assert cosine(beard, plain.direction) == pytest.approx(-1.0, abs=1e-5)  # No_Beard negated

    # `facesmith pack fetch ffhq --only-directions` keeps the (stand-in) models and brings an
    # older install's directions up to the catalogue: only the missing file is downloaded
    monkeypatch.setenv("FACESMITH_HOME", str(tmp_path))
    monkeypatch.setitem(packstore.CATALOGUE, "ffhq", replace(pack, generator=FFHQ.generator,
                                                             encoder=FFHQ.encoder))  # fmt: skip
    data = json.loads((dest / "manifest.json").read_text())
    old = data["directions"].pop("eyes_open")
    (dest / old["path"]).unlink()
    (dest / old["score"]["path"]).unlink()
    (dest / "manifest.json").write_text(json.dumps(data))
    before = len(server.requests)
    assert main(["pack", "fetch", "ffhq", "--only-directions"]) == 0
    fetched = [path for path, _ in server.requests[before:]]
    assert fetched == ["/good/rotemtzaban/STIT/" + FFHQ.directions["eyes_open"].urls[0]
                       .split("/rotemtzaban/STIT/", 1)[1]]  # fmt: skip
    capsys.readouterr()
    assert list(load_pack(dest, "cpu").directions) == list(FFHQ.directions)
    assert main(["pack", "info", "ffhq"]) == 0
    out = capsys.readouterr().out
    assert "stylegan2-ffhq-config-f.pt" in out and out.count("attribute model") >= 58

    # `facesmith directions convert-z` on a real boundary file, into the 512-wide pack
    rc = main(["directions", "convert-z", str(OFFICIAL / "interfacegan_stylegan2_ffhq_z"
               / "boundary_Bald.npy"), "bald_again", "--pack", str(dest), "-n", "1000",
               "--device", "cpu", "--group", "hair"])  # fmt: skip
    assert rc == 0
    again = load_pack(dest, "cpu").directions["bald_again"]
    assert again.group == "hair" and again.score is not None and again.score.kind == "binary"
