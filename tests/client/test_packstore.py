"""`facesmith pack`: verified, resumable downloads from a loopback HTTP server serving the tiny
test pack — fetch, corruption, interruption, mirror fallback, unsafe paths, verify, remove."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mirror import PackServer, serving

from facesmith_client.cli.main import main
from facesmith_client.packs import store as packstore
from facesmith_client.packs.catalogue import CATALOGUE, FFHQ, CataloguePack, RemoteFile, remote_pack
from facesmith_client.packs.download import DownloadError, download_file, part_path
from facesmith_server.errors import PackError
from facesmith_server.model.pack import load_pack, resolve_inside


@pytest.fixture(scope="module")
def pack_files(test_pack: Path) -> dict[str, bytes]:
    return {
        p.relative_to(test_pack).as_posix(): p.read_bytes()
        for p in test_pack.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def http(pack_files: dict[str, bytes]) -> Iterator[PackServer]:
    with serving(dict(pack_files)) as server:
        yield server


def manifest_of(files: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files["manifest.json"])
    return data


def served_pack(http: PackServer, bases: tuple[str, ...] = ("good",)) -> CataloguePack:
    return remote_pack(manifest_of(http.files), [f"{http.url}/{b}" for b in bases])


def test_fetch_installs_a_pack_that_loads(http: PackServer, tmp_path: Path) -> None:
    messages: list[str] = []
    dest = packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=messages.append)
    assert dest == tmp_path / "tiny" and packstore.is_installed("tiny", tmp_path)
    assert not packstore.staging_path("tiny", tmp_path).exists()
    assert not list(dest.rglob("*.part"))
    pack = load_pack(dest, "cpu")
    assert set(pack.directions) == {"age", "gender", "bald", "smile"}
    gender = pack.directions["gender"]
    assert gender.score is not None and gender.score.kind == "binary"  # served with the pack
    checked = [name for name, ok, _ in packstore.verify_pack(dest) if ok]
    assert "directions/gender.score.npy" in checked and len(checked) == len(http.files) - 1
    # a second fetch finds it complete and downloads nothing
    before = len(http.requests)
    packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=messages.append)
    assert len(http.requests) == before
    assert "already installed and verified" in messages[-1]


def test_corrupted_file_is_rejected_and_not_installed(http: PackServer, tmp_path: Path) -> None:
    good = http.files["e4e.pt"]
    http.files["e4e.pt"] = good[:100] + bytes([good[100] ^ 0xFF]) + good[101:]
    messages: list[str] = []
    with pytest.raises(DownloadError, match="sha256"):
        packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=messages.append)
    assert not packstore.is_installed("tiny", tmp_path)
    staging = packstore.staging_path("tiny", tmp_path)
    assert not (staging / "e4e.pt").exists() and not part_path(staging / "e4e.pt").exists()
    assert any("e4e.pt: mirror" in m and "does not match" in m for m in messages)


def test_interrupted_transfer_resumes_with_range(http: PackServer, tmp_path: Path) -> None:
    http.drop_once.add("stylegan2.pt")
    dest = packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    half = len(http.files["stylegan2.pt"]) // 2
    assert http.ranged("stylegan2.pt") == [f"bytes={half}-"]
    assert (dest / "stylegan2.pt").read_bytes() == http.files["stylegan2.pt"]
    load_pack(dest, "cpu")


def test_leftover_part_file_is_resumed(http: PackServer, tmp_path: Path) -> None:
    body = http.files["directions/gender.npy"]
    dest = tmp_path / "gender.npy"
    part_path(dest).write_bytes(body[:50])
    digest = download_file(
        [f"{http.url}/good/directions/gender.npy"],
        dest,
        sha256=None,
        size=len(body),
        log=lambda m: None,
    )
    assert http.ranged("directions/gender.npy") == ["bytes=50-"]
    assert dest.read_bytes() == body and len(digest) == 64 and not part_path(dest).exists()


def test_failing_mirror_falls_back_to_the_next(http: PackServer, tmp_path: Path) -> None:
    messages: list[str] = []
    pack = served_pack(http, ("broken", "good"))
    dest = packstore.fetch(pack, tmp_path, install_as="tiny", log=messages.append)
    assert packstore.is_installed("tiny", tmp_path)
    failed = [m for m in messages if "/broken/" in m]
    assert len(failed) == len(pack.files())
    assert all("HTTP 503" in m and "trying the next mirror" in m for m in failed)
    load_pack(dest, "cpu")


def test_every_mirror_failing_names_each(http: PackServer, tmp_path: Path) -> None:
    pack = served_pack(http, ("broken", "missing"))
    with pytest.raises(DownloadError) as info:
        packstore.fetch(pack, tmp_path, install_as="tiny", log=lambda m: None)
    assert "/broken/" in str(info.value) and "HTTP 404" in str(info.value)
    assert not packstore.is_installed("tiny", tmp_path)


@pytest.mark.parametrize("bad", ["../evil.pt", "/etc/evil.pt", "directions/../../evil.pt"])
def test_path_outside_the_pack_is_refused(http: PackServer, tmp_path: Path, bad: str) -> None:
    manifest = manifest_of(http.files)
    http.files[bad.lstrip("/")] = http.files["stylegan2.pt"]
    manifest["generator"]["path"] = bad
    pack = remote_pack(manifest, [f"{http.url}/good"])
    with pytest.raises(PackError, match=r"(inside|leaves) the pack folder"):
        packstore.fetch(pack, tmp_path / "packs", install_as="tiny", log=lambda m: None)
    assert http.requests == []  # refused before anything was downloaded
    assert not list(tmp_path.rglob("evil.pt"))


def test_verify_catches_a_changed_file(http: PackServer, tmp_path: Path) -> None:
    dest = packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    path = dest / "directions" / "bald.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    results = packstore.verify_pack(dest)
    bad = [(name, msg) for name, ok, msg in results if not ok]
    assert [name for name, _ in bad] == ["directions/bald.npy"]
    assert "sha256" in bad[0][1]
    (dest / "e4e.pt").unlink()
    assert {n for n, ok, _ in packstore.verify_pack(dest) if not ok} == {
        "directions/bald.npy",
        "e4e.pt",
    }
    # fetching again repairs it, reusing the good files
    before = len(http.requests)
    packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    assert sorted(p for p, _ in http.requests[before:]) == [
        "/good/directions/bald.npy",
        "/good/e4e.pt",
    ]
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))


def test_repair_keeps_the_pack_until_it_succeeds_and_keeps_local_directions(
    http: PackServer, tmp_path: Path
) -> None:
    from facesmith_server.latent.discover import Provenance, write_direction

    dest = packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    provenance = Provenance("fit", "mine", "binary", 10, 0, "accuracy", 0.9, "tiny", "x")
    write_direction(dest, "mine", np.ones((1, 64), np.float32), provenance)
    (dest / "e4e.pt").write_bytes(b"damaged")
    with pytest.raises(DownloadError):  # every mirror down: nothing is lost
        packstore.fetch(served_pack(http, ("broken",)), tmp_path, install_as="tiny",
                        log=lambda m: None)  # fmt: skip
    assert (dest / "manifest.json").is_file() and (dest / "directions" / "mine.npy").is_file()
    packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))
    assert "mine" in load_pack(dest, "cpu").directions


def test_remove(http: PackServer, tmp_path: Path) -> None:
    dest = packstore.fetch(served_pack(http), tmp_path, install_as="tiny", log=lambda m: None)
    assert packstore.remove("tiny", tmp_path) == dest
    assert not dest.exists() and not packstore.is_installed("tiny", tmp_path)
    with pytest.raises(packstore.PackStoreError, match="not installed"):
        packstore.remove("tiny", tmp_path)
    for bad in ("..", "../x", "a/b", ""):
        with pytest.raises(packstore.PackStoreError, match="not a pack name"):
            packstore.remove(bad, tmp_path)


def test_unverifiable_file_needs_trust(http: PackServer, tmp_path: Path) -> None:
    pack = served_pack(http)
    assert pack.generator is not None
    unknown = RemoteFile(
        path=pack.generator.path,
        format=pack.generator.format,
        urls=pack.generator.urls,
        source="somewhere",
    )
    pack = CataloguePack(**{**pack.__dict__, "generator": unknown})
    with pytest.raises(packstore.PackStoreError, match="--trust-unverified"):
        packstore.fetch(pack, tmp_path, install_as="tiny", log=lambda m: None)
    assert http.requests == []
    dest = packstore.fetch(pack, tmp_path, install_as="tiny", trust_unverified=True, log=print)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["generator"]["verified"] is False
    assert manifest["generator"]["size"] == len(http.files["stylegan2.pt"])
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))
    load_pack(dest, "cpu")


def test_cli_pack_commands(
    http: PackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FACESMITH_HOME", str(tmp_path))
    url = f"{http.url}/good/manifest.json"
    assert main(["pack", "fetch", "tiny", "--from", f"{http.url}/broken/manifest.json",
                 "--from", url]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "packs" / "tiny")
    assert "trying the next mirror" in err
    assert main(["pack", "list"]) == 0
    out, _ = capsys.readouterr()
    assert re.search(r"^tiny\s+installed", out, re.M)
    assert re.search(r"^ffhq\s+not installed", out, re.M)
    assert re.search(r"^demo\s+built in", out, re.M)
    assert main(["pack", "verify"]) == 0
    out, _ = capsys.readouterr()
    assert "tiny: verified" in out
    assert main(["pack", "info", "tiny"]) == 0
    out, _ = capsys.readouterr()
    assert "stylegan2.pt" in out and "sha256" in out
    (tmp_path / "packs" / "tiny" / "e4e.pt").write_bytes(b"changed")
    assert main(["pack", "verify", "tiny"]) == 1
    out, _ = capsys.readouterr()
    assert "FAIL" in out and "e4e.pt" in out
    assert main(["pack", "info", "ffhq"]) == 0  # every file pinned: size and sha256 known
    out, _ = capsys.readouterr()
    assert "UNKNOWN" not in out and "mirror: " in out
    assert out.count("      sha256: ") == out.count("      size: ") == len(FFHQ.files()) == 60
    assert main(["pack", "remove", "tiny"]) == 0
    assert not (tmp_path / "packs" / "tiny").exists()
    assert main(["pack", "info", "nope"]) == 1


def test_official_catalogue_entry() -> None:
    assert set(CATALOGUE) >= {"test", "ffhq"}
    assert FFHQ.generator is not None and FFHQ.encoder is not None
    for remote in (FFHQ.generator, FFHQ.encoder):
        assert remote.verifiable and re.fullmatch(r"[0-9a-f]{64}", remote.sha256 or "")
        assert remote.size and remote.size > 100_000_000 and remote.checksum_source
        assert len(remote.urls) >= 2 and remote.license and remote.source
    assert FFHQ.generator.path == "stylegan2-ffhq-config-f.pt"
    assert FFHQ.encoder.path == "e4e_ffhq_encode.pt"
    # e4e's 3, STIT's 16 and InterFaceGAN++'s 39 StyleGAN2-FFHQ boundaries (CelebA's 40 but Blurry)
    spaces = Counter(d.space for d in FFHQ.directions.values())
    assert len(FFHQ.directions) == 58 and spaces == {"w": 2, "w+": 17, "z": 39}
    wanted = {"age", "gender", "bald", "smile", "eyeglasses", "gray_hair", "pose", "beard",
              "receding_hairline", "bangs", "double_chin", "makeup", "blond_hair",
              "yaw"}  # fmt: skip
    assert wanted <= set(FFHQ.directions)
    assert FFHQ.directions["bald"].space == "z" and FFHQ.directions["age"].space == "w"
    assert FFHQ.directions["pose"].space == "w+"  # stored [1, 18, 512]
    assert FFHQ.directions["beard"].negate and "No_Beard" in FFHQ.directions["beard"].source
    # every file pinned: sha256 and size, every mirror at a commit (never a branch)
    commit = re.compile(
        r"https://(raw\.githubusercontent\.com/[^/]+/[^/]+/|github\.com/[^/]+/[^/]+/raw/|"
        r"cdn\.jsdelivr\.net/gh/[^/]+/[^@]+@)[0-9a-f]{40}/"
    )
    for name, d in FFHQ.directions.items():
        assert d.verifiable and re.fullmatch(r"[0-9a-f]{64}", d.sha256 or ""), name
        assert "at commit" in d.checksum_source and d.license and d.source, name
        assert len(d.urls) == 3 and all(commit.match(u) for u in d.urls), (name, d.urls)
        assert not any(b in u for u in d.urls for b in ("/main/", "/master/")), name
        assert d.group and d.range_note and d.min == -d.max < 0 and d.description, name
        # every direction can be set or swapped: an attribute model is made at install
        assert d.derive_score in ("binary", "continuous"), name
    assert FFHQ.directions["gender"].derive_score == "binary"  # "Swap gender" on this pack
    root = Path("/nonexistent/pack")
    paths = [remote.path for remote in FFHQ.files()]
    assert len(set(paths)) == len(paths)
    for remote in FFHQ.files():
        resolve_inside(root, remote.path)


def test_z_directions_are_converted_to_w_on_fetch(http: PackServer, tmp_path: Path) -> None:
    boundary = np.random.default_rng(3).standard_normal((1, 64)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, boundary, allow_pickle=False)
    http.files["directions/z/hairline.npy"] = buffer.getvalue()
    manifest = manifest_of(http.files)
    manifest["z_directions"] = {
        "hairline": {
            "path": "directions/z/hairline.npy", "format": "npy",
            "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "size": len(buffer.getvalue()), "space": "z", "min": -2.0, "max": 2.0,
            "default": 0.0, "description": "receding hairline", "source": "a Z boundary",
        }
    }  # fmt: skip
    messages: list[str] = []
    pack = remote_pack(manifest, [f"{http.url}/good"])
    dest = packstore.fetch(pack, tmp_path, install_as="zpack", log=messages.append)
    loaded = load_pack(dest, "cpu")
    hairline = loaded.directions["hairline"]
    assert hairline.space == "w" and hairline.vector.shape == (1, 64)
    assert (hairline.min, hairline.max) == (-2.0, 2.0)
    entry = manifest_of({"manifest.json": (dest / "manifest.json").read_bytes()})
    provenance = entry["directions"]["hairline"]["provenance"]
    assert provenance["method"] == "z-to-w" and provenance["metric"] > 0.3
    assert any("hairline converted to W" in m for m in messages)
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))
    # fetching again finds nothing left to convert
    packstore.fetch(pack, tmp_path, install_as="zpack", log=messages.append)
    assert sum("converted to W" in m for m in messages) == 1
    # a newer catalogue entry (grouped, with an attribute model) updates the install: the
    # boundary is converted again, nothing is downloaded but the changed manifest's files
    manifest["z_directions"]["hairline"] |= {"group": "hair", "derive_score": "binary"}
    before = len(http.requests)
    packstore.fetch(remote_pack(manifest, [f"{http.url}/good"]), tmp_path, install_as="zpack",
                    log=messages.append)  # fmt: skip
    assert http.requests[before:] == []  # every file still verifies: reused
    assert any("older than the catalogue" in m for m in messages)
    assert sum("converted to W" in m for m in messages) == 2
    updated = load_pack(dest, "cpu").directions["hairline"]
    assert updated.group == "hair" and updated.score is not None
    # an installed pack can be served as a mirror: its conversions are made again from the
    # boundaries, its attribute models come along
    served = remote_pack(json.loads((dest / "manifest.json").read_text()), ["http://x"])
    assert served.directions["hairline"].space == "z"
    assert served.directions["gender"].score is not None


def test_install_negates_boundaries_and_places_attribute_models(
    http: PackServer, tmp_path: Path
) -> None:
    from facesmith_server.latent.discover import sample_population, z_to_w
    from facesmith_server.latent.zconvert import PERCENTILE_LOGIT

    boundary = np.random.default_rng(4).standard_normal((1, 64)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, boundary, allow_pickle=False)
    http.files["directions/z/no_beard.npy"] = buffer.getvalue()
    manifest = manifest_of(http.files)
    manifest["z_directions"] = {
        "beard": {
            "path": "directions/z/no_beard.npy", "format": "npy",
            "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "size": len(buffer.getvalue()), "min": -3.0, "max": 3.0, "group": "beard",
            "negate": True, "derive_score": "binary",
        }
    }  # fmt: skip
    manifest["directions"]["bald"] |= {"derive_score": "continuous", "group": "hair"}
    dest = packstore.fetch(remote_pack(manifest, [f"{http.url}/good"]), tmp_path,
                           install_as="models", log=lambda m: None, samples=3000)  # fmt: skip
    pack = load_pack(dest, "cpu")
    beard, bald = pack.directions["beard"], pack.directions["bald"]
    assert (beard.group, bald.group) == ("beard", "hair")
    population = sample_population(pack.generator, 3000, seed=0)
    plain = z_to_w(boundary, pack.generator, seed=0, population=population).direction
    np.testing.assert_allclose(beard.vector, -plain, rtol=1e-4, atol=1e-6)  # No_Beard negated
    assert beard.score is not None and bald.score is not None
    assert (beard.score.kind, bald.score.kind, bald.score.unit) == ("binary", "continuous", "sigma")
    for direction, spread in ((beard, PERCENTILE_LOGIT), (bald, 1.0)):
        assert direction.score is not None
        values = np.array([direction.score.value(w[None]) for w in population.w])
        assert abs(np.median(values)) < 1e-3  # the boundary at the faces' median
        assert values.std() == pytest.approx(spread, rel=1e-3)
    assert all(ok for _, ok, _ in packstore.verify_pack(dest))
    # a repair keeps the models of unchanged directions and the converted boundaries
    before = json.loads((dest / "manifest.json").read_text())["directions"]
    (dest / "e4e.pt").write_bytes(b"damaged")
    packstore.fetch(remote_pack(manifest, [f"{http.url}/good"]), tmp_path, install_as="models",
                    log=lambda m: None, samples=3000)  # fmt: skip
    after = json.loads((dest / "manifest.json").read_text())["directions"]
    assert after["bald"]["score"] == before["bald"]["score"]  # kept, not made again
    assert after["beard"] == before["beard"]
    assert len(load_pack(dest, "cpu").directions) == 5
