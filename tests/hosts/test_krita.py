"""The Krita adapter inside real Krita 5: kritarunner (headless) for the edit path, saved to
.kra and read back by a second run; the full GUI under Xvfb for the menu and the docker.

Krita runs its own Python (the system one), so the plugin talks to the real worker started
with this venv's python, against the in-process test-pack server (fixture ``server``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from needs import unavailable

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "krita_scripts"
EDITS = [["age", 30.0]]
# Self-test steps that wait for the worker (its start included): Krita's UI must keep running.
WORKER_WAITS = (
    "the server status",
    "faces found",
    "the preview",
    "the canvas preview follows the slider",
    "the face from the sketch",
)
GUI_DEADLINE_S = 180.0  # Krita's start, the self-test's steps, and its quitting
QUIT_GRACE_S = 30.0
FACE_MARGIN = 0.5  # edits may reach this far (× the face box) beyond a detected face box


@pytest.fixture(scope="module")
def kritarunner() -> str:
    return _krita_program("kritarunner")


@pytest.fixture(scope="module")
def krita_env(tmp_path_factory: pytest.TempPathFactory, server: str) -> dict[str, str]:
    """Isolated Krita folders, the plugin on the path, a runtime config naming this venv.

    Shared by the module's tests: Krita spends ~10 s filling a fresh XDG_DATA_HOME."""
    home = tmp_path_factory.mktemp("kritarunner-home")
    config = home / "runtime.json"
    config.write_text(json.dumps({"version": 1, "python": sys.executable, "server": server}))
    env = host_env()
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_DATA_HOME=str(home / "xdg-data"),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_RUNTIME_DIR=str(_runtime_dir(home)),
        TMPDIR=str(_runtime_dir(home)),  # Krita's single-instance lock lives there
        PYTHONPATH=os.pathsep.join(
            [str(REPO / "plugin"), str(REPO / "plugin" / "krita"), str(SCRIPTS)]
        ),
        FACESMITH_RUNTIME_CONFIG=str(config),
    )
    return env


def _in_venv(bin_dir: str) -> bool:
    """Whether a PATH entry is a virtual environment's (this one's or any other's) bin."""
    return (Path(bin_dir).parent / "pyvenv.cfg").is_file()


def host_env() -> dict[str, str]:
    """This environment as a user's desktop would have it: no PYTHON* variables and no active
    virtual environment (Krita's embedded Python finds `python3` on PATH, and the test venv's
    would hide the system's PyQt5 from it)."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not _in_venv(p)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(path)
    return env


def run_job(program: str, env: dict[str, str], tmp_path: Path, job: dict[str, Any]) -> dict:
    """One kritarunner process running facesmith_krita_job with ``job`` → its result."""
    name = job["run"] + "-" + str(len(list(tmp_path.glob("job-*.json"))))
    job = {**job, "result": str(tmp_path / f"{name}.result.json")}
    job_file = tmp_path / f"job-{name}.json"
    job_file.write_text(json.dumps(job))
    started = time.monotonic()
    done = subprocess.run(
        [program, "-s", "facesmith_krita_job", "-f", "main"],
        env={**env, "FACESMITH_KRITA_JOB": str(job_file)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = (done.stdout + done.stderr)[-3000:]
    result_file = Path(job["result"])
    assert result_file.exists(), f"kritarunner wrote no result (rc {done.returncode}):\n{log}"
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"] + "\n--- kritarunner log:\n" + log
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def pixels(layer: dict[str, Any]) -> np.ndarray:
    _, _, width, height = layer["rect"]
    dtype = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}[layer["depth"]]
    return np.frombuffer(Path(layer["raw"]).read_bytes(), dtype).reshape(height, width, 4)


def near_faces(rect: list[int], boxes: list[list[float]]) -> np.ndarray:
    """Over ``rect``: True within the face boxes (image coordinates) grown by FACE_MARGIN."""
    left, top, width, height = rect
    mask = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        dx, dy = (x1 - x0) * FACE_MARGIN, (y1 - y0) * FACE_MARGIN
        rows = slice(max(0, int(y0 - dy) - top), max(0, int(y1 + dy) + 1 - top))
        mask[rows, max(0, int(x0 - dx) - left) : max(0, int(x1 + dx) + 1 - left)] = True
    return mask


def check_new_layer(applied: dict, reopened: dict, depth: str, edited_faces: list) -> None:
    """Exactly one new layer, directly above the source, over the same extent, differing from
    it only near ``edited_faces``; the source byte-identical to its pixels before the edit."""
    before, layers = applied["before"], reopened["layers"]
    assert len(before) == 1 and len(layers) == 2, [layer["name"] for layer in layers]
    source, new = layers
    assert source["name"] == before[0]["name"]
    assert new["name"] == "facesmith: age +30"
    assert (source["type"], new["type"]) == ("paintlayer", "paintlayer")
    assert source["depth"] == new["depth"] == depth
    assert source["rect"] == new["rect"] == before[0]["rect"]
    assert Path(source["raw"]).read_bytes() == Path(before[0]["raw"]).read_bytes()
    assert applied["source_untouched"]
    changed = np.any(pixels(new) != pixels(source), axis=2)
    assert changed.sum() > 100, "the new layer is a plain copy: no face was edited"
    outside = changed & ~near_faces(source["rect"], edited_faces)
    assert not outside.any(), f"{outside.sum()} pixels changed away from the faces"
    assert np.array_equal(pixels(new)[..., 3], pixels(source)[..., 3]), "alpha changed"


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_apply_adds_one_layer_above_the_source(
    kritarunner: str, krita_env: dict, tmp_path: Path, photos_dir: Path, depth: str
) -> None:
    kra = tmp_path / "edited.kra"
    applied = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {
            "run": "apply",
            "photo": str(photos_dir / "whole" / "obama.jpg"),
            "depth": depth if depth != "U8" else None,
            "move": [-40, 25] if depth == "U8" else None,  # partly off the canvas
            "edits": EDITS,
            "kra": str(kra),
            "dump": str(tmp_path / "applied"),
        },
    )
    assert applied["active_node"] == "None"  # the plugin's fallback to the top paint layer
    assert applied["saved"] and kra.exists()
    assert len(applied["faces"]) == 1
    reopened = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {"run": "dump", "kra": str(kra), "dump": str(tmp_path / "kra")},
    )
    check_new_layer(applied, reopened, depth, applied["faces"])
    print(
        f"kritarunner apply run {applied['seconds']} s (worker start + detect "
        f"{applied['detect_s']} s, apply {applied['apply_s']} s), dump run {reopened['seconds']} s"
    )


def test_selection_limits_the_faces_edited(
    kritarunner: str, krita_env: dict, tmp_path: Path, photos_dir: Path
) -> None:
    from PIL import Image

    photo = photos_dir / "whole" / "obama_and_biden.jpg"
    width, height = Image.open(photo).size
    selection = [0, 0, width // 2, height]  # the left half
    kra = tmp_path / "selected.kra"
    applied = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {
            "run": "apply",
            "photo": str(photo),
            "selection": selection,
            "edits": EDITS,
            "kra": str(kra),
            "dump": str(tmp_path / "applied"),
        },
    )
    inside = [b for b in applied["faces"] if (b[0] + b[2]) / 2 < selection[2]]
    outside = [b for b in applied["faces"] if (b[0] + b[2]) / 2 >= selection[2]]
    assert inside and outside, applied["faces"]
    reopened = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {"run": "dump", "kra": str(kra), "dump": str(tmp_path / "kra")},
    )
    check_new_layer(applied, reopened, "U8", inside)


def test_no_face_is_an_error_and_changes_nothing(
    kritarunner: str, krita_env: dict, tmp_path: Path
) -> None:
    applied = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {"run": "apply", "blank": [256, 256], "edits": EDITS, "dump": str(tmp_path / "applied")},
    )
    assert applied["worker_error"]["code"] == "no_face", applied["worker_error"]
    assert "\n" in applied["worker_error"]["text"]  # the message, then the next step
    assert [layer["name"] for layer in applied["after"]] == [
        layer["name"] for layer in applied["before"]
    ]
    assert applied["source_untouched"]


def test_a_one_pass_edit_adds_one_layer_above_the_source(
    kritarunner: str, krita_env: dict, tmp_path: Path, photos_dir: Path, student_pack: Path
) -> None:
    """The docker's "One pass (fast)" path: the pack's student edits the face, one new layer."""
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    engine = Engine(load_pack(student_pack, "cpu"), torch.device("cpu"))
    grpc_server, port = create_server("127.0.0.1:0", engine)
    config = tmp_path / "runtime.json"
    config.write_text(json.dumps({"version": 1, "python": sys.executable,
                                  "server": f"127.0.0.1:{port}"}))  # fmt: skip
    env = {**krita_env, "FACESMITH_RUNTIME_CONFIG": str(config)}
    kra = tmp_path / "fast.kra"
    try:
        job = {"run": "apply", "photo": str(photos_dir / "whole" / "obama.jpg"), "fast": True,
               "edits": EDITS, "kra": str(kra), "dump": str(tmp_path / "applied")}  # fmt: skip
        applied = run_job(kritarunner, env, tmp_path, job)
        refused = run_job(kritarunner, env, tmp_path, {**job, "edits": [["bald", 1.0]],
                                                       "kra": None})  # fmt: skip
    finally:
        grpc_server.stop(grace=None)
    reopened = run_job(
        kritarunner,
        krita_env,
        tmp_path,
        {"run": "dump", "kra": str(kra), "dump": str(tmp_path / "kra")},
    )
    check_new_layer(applied, reopened, "U8", applied["faces"])
    assert "no one-pass edit makes bald" in refused["worker_error"]["text"]
    assert len(refused["after"]) == 1


def test_new_random_face_is_a_layer_over_the_selection(
    kritarunner: str, krita_env: dict, tmp_path: Path
) -> None:
    job = {"run": "new_face", "blank": [300, 200], "selection": [20, 10, 120, 160], "seed": 5}
    made = [run_job(kritarunner, krita_env, tmp_path, {**job, "dump": str(tmp_path / f"d{i}")})
            for i in range(2)]  # fmt: skip
    before, after = made[0]["before"], made[0]["after"]
    assert [layer["name"] for layer in after] == [before[0]["name"], "facesmith: face 5"]
    assert Path(after[0]["raw"]).read_bytes() == Path(before[0]["raw"]).read_bytes()
    face = after[1]
    # the selection's 120 x 160 holds a 120 px face, centred from top to bottom
    assert face["rect"] == [20, 30, 120, 120] and face["depth"] == "U8"
    rgba = pixels(face)
    assert (rgba[..., 3] == 255).all() and rgba[..., :3].std() > 5
    again = made[1]["after"][1]
    assert Path(again["raw"]).read_bytes() == Path(face["raw"]).read_bytes()  # same seed


def expected_face_box(
    lines: dict[str, Any], selection: list[int] | None, canvas: list[int]
) -> list[int]:
    """Where the runtime puts a face from the lines on ``lines`` (only those inside
    ``selection``), clipped to ``canvas`` (x, y, w, h)."""
    from facesmith_client.pipeline.sketch import frame_drawing

    x, y, width, height = lines["rect"]
    drawing = pixels(lines)[..., [2, 1, 0, 3]].copy()  # Krita's B,G,R,A → R,G,B,A
    if selection is not None:
        sx, sy, sw, sh = selection
        inside = np.zeros((height, width), bool)
        inside[max(sy - y, 0) : max(sy + sh - y, 0), max(sx - x, 0) : max(sx + sw - x, 0)] = True
        drawing[~inside, 3] = 0
    _, box = frame_drawing(drawing, 64)
    cx, cy, cw, ch = canvas
    x0, y0 = max(box.x + x, cx), max(box.y + y, cy)
    x1, y1 = min(box.x + box.side + x, cx + cw), min(box.y + box.side + y, cy + ch)
    return [x0, y0, x1 - x0, y1 - y0]


def test_face_from_sketch_is_a_layer_above_the_drawing(
    kritarunner: str, krita_env: dict, tmp_path: Path, sketch_server: str
) -> None:
    """The plugin's "Face from sketch" path in Krita: a new opaque face layer above the
    drawing where the lines were drawn (clipped to the canvas; only the lines inside the
    selection), the drawing untouched; an empty layer is refused with the next step."""
    config = tmp_path / "runtime.json"
    config.write_text(json.dumps({"version": 1, "python": sys.executable,
                                  "server": sketch_server}))  # fmt: skip
    env = {**krita_env, "FACESMITH_RUNTIME_CONFIG": str(config)}
    cases: list[dict[str, Any]] = [
        {"faces": [[250, 150, 40, 52]]},  # in the middle
        {"faces": [[45, 150, 40, 52]]},  # at the left edge: the face is cut at the canvas
        {"faces": [[100, 150, 40, 52], [300, 150, 40, 52]], "selection": [230, 70, 150, 160]},
        {"faces": []},  # nothing drawn yet
    ]
    job = {"run": "sketch", "blank": [400, 300], "follow": 0.0, "cases": cases,
           "dump": str(tmp_path / "sketch")}  # fmt: skip
    made = run_job(kritarunner, env, tmp_path, job)["cases"]
    for case, out in zip(cases[:3], made[:3], strict=True):
        assert "worker_error" not in out, out["worker_error"]
        before, after = out["before"], out["after"]
        assert len(before) == 2 and before[1]["name"] == "lines"
        assert [layer["name"] for layer in after] == [
            before[0]["name"],
            "lines",
            "facesmith: face from sketch",
        ]  # the face directly above the drawing
        for old, new in zip(before, after[:2], strict=True):  # the drawing and background kept
            assert old["rect"] == new["rect"]
            assert Path(old["raw"]).read_bytes() == Path(new["raw"]).read_bytes()
        face = after[2]
        assert face["type"] == "paintlayer" and face["depth"] == "U8"
        assert face["rect"] == expected_face_box(before[1], case.get("selection"), [0, 0, 400, 300])
        rgba = pixels(face)
        assert (rgba[..., 3] == 255).all()  # opaque over the whole square
        assert rgba[..., :3].std() > 2  # a face, not a flat fill
    assert made[1]["after"][2]["rect"][0] == 0  # cut at the canvas' left edge
    x, _, width, _ = made[2]["after"][2]["rect"]
    assert x >= 230 and x + width <= 380  # around the selected drawing only
    empty = made[3]
    assert empty["worker_error"]["code"] == "no_lines"
    assert "Draw dark lines on the layer first" in empty["worker_error"]["text"]
    assert [layer["name"] for layer in empty["after"]] == [
        layer["name"] for layer in empty["before"]
    ]


def test_face_from_sketch_is_refused_by_a_pack_without_a_sketch_encoder(
    kritarunner: str, krita_env: dict, tmp_path: Path
) -> None:
    from facesmith_host import jobs

    job = {"run": "sketch", "blank": [200, 200], "follow": 0.5,
           "cases": [{"faces": [[100, 100, 40, 52]]}], "dump": str(tmp_path / "plain")}  # fmt: skip
    (out,) = run_job(kritarunner, krita_env, tmp_path, job)["cases"]
    refusal = jobs.no_sketch("test")
    assert out["worker_error"]["code"] == "no_sketch"
    assert "cannot make faces from sketches" in out["worker_error"]["text"]
    assert refusal.hint in out["worker_error"]["text"]  # the words GIMP shows too
    assert len(out["after"]) == len(out["before"])


def test_gui_loads_the_installed_plugin(
    tmp_path: Path, sketch_server: str, photos_dir: Path
) -> None:
    """Real Krita under Xvfb, the plugin installed by the installer into isolated folders; a
    test-only plugin (krita_scripts/facesmith_selftest) drives it and reports. The server's
    pack has a sketch encoder, for "Face from sketch"."""
    server = sketch_server
    data, config = tmp_path / "xdg-data", tmp_path / "xdg-config"
    pykrita, kritarc = data / "krita" / "pykrita", config / "kritarc"
    install = [
        sys.executable, str(REPO / "installers" / "install.py"), "--use-python", sys.executable,
        "--krita-dir", str(pykrita), "--kritarc", str(kritarc), "--no-gimp",
        "--config", str(tmp_path / "runtime.json"), "--server", server,
    ]  # fmt: skip
    subprocess.run(install, check=True, capture_output=True, timeout=120)
    assert "enable_facesmith_krita=true" in kritarc.read_text()  # the installer's doing
    _add_selftest_plugin(pykrita, kritarc)
    env = _gui_env(tmp_path, data, config, photos_dir)
    shot = Path(env["FACESMITH_SELFTEST_SHOT"])
    result, returncode, log = _run_gui(env, tmp_path / "selftest.json", tmp_path / "krita.log")
    _check_selftest(result, returncode, log, pykrita, server)
    _check_screenshot(shot, "krita-docker.png")


def test_the_release_zip_installs_through_kritas_importer(
    tmp_path: Path, sketch_server: str, photos_dir: Path, runtime_wheels: Path
) -> None:
    """The artist's path: Tools ▸ Scripts ▸ Import Python Plugin from File… with the built zip
    (Krita's own action; its file dialog and question answered by the self-test), a restart,
    the docker's set-up (offline, from a folder of wheel files), and the plugin works as when
    installed by the installer."""
    server = sketch_server
    dist = tmp_path / "dist"
    build = [
        sys.executable,
        str(REPO / "installers" / "build.py"),
        "--no-wheel",
        "--out",
        str(dist),
    ]
    subprocess.run(build, check=True, capture_output=True, timeout=120)
    (zip_file,) = dist.glob("facesmith-krita-*.zip")
    data, config = tmp_path / "xdg-data", tmp_path / "xdg-config"
    pykrita, kritarc = data / "krita" / "pykrita", config / "kritarc"
    pykrita.mkdir(parents=True)
    kritarc.parent.mkdir(parents=True)
    kritarc.write_text("[python]\nenable_plugin_importer=true\n")
    _add_selftest_plugin(pykrita, kritarc)
    env = _gui_env(tmp_path, data, config, photos_dir)
    imported, returncode, log = _run_gui(
        {**env, "FACESMITH_SELFTEST_IMPORT": str(zip_file)}, tmp_path / "import.json",
        tmp_path / "import.log",
    )  # fmt: skip
    assert not imported["errors"] and imported["done"], "\n".join(imported["errors"]) + log
    assert imported["asked"] and "Activate" in imported["asked"][0], imported["asked"]
    assert (pykrita / "facesmith_krita.desktop").is_file()
    assert (pykrita / "facesmith_krita" / "vendor" / "facesmith_host" / "jobs.py").is_file()
    assert not (pykrita / "facesmith_host").exists()  # only what the importer copies
    assert "enable_facesmith_krita=true" in kritarc.read_text()  # Krita's "Yes, enable"
    # after the restart the docker offers the set-up: done offline, against the test server
    set_up = {"FACESMITH_SELFTEST_WHEELS": str(runtime_wheels), "FACESMITH_SELFTEST_SERVER": server,
              "FACESMITH_SELFTEST_SETUP_SHOT": str(tmp_path / "krita-setup.png")}  # fmt: skip
    result, returncode, log = _run_gui({**env, **set_up}, tmp_path / "selftest.json",
                                       tmp_path / "krita.log")  # fmt: skip
    assert result["setup_choices"][0].startswith("This computer — CPU (")
    assert result["setup_choices"][-1] == "A server elsewhere"
    assert f"{server} accepts connections" in result["setup_log"]
    assert "installing torch" in "\n".join(result["setup_log"])
    assert len(result["setup_progress_seen"]) >= 3  # the bar moved through the steps
    config = json.loads((tmp_path / "runtime.json").read_text())
    assert config["server"] == server
    assert config["python"].startswith(str(data / "facesmith" / "runtime"))
    _check_selftest(result, returncode, log, pykrita, server)
    assert result["setup_screenshot"]
    _check_screenshot(tmp_path / "krita-setup.png", "krita-setup.png")


def _gui_env(tmp_path: Path, data: Path, config: Path, photos_dir: Path) -> dict[str, str]:
    env = host_env()
    env.update(
        XDG_DATA_HOME=str(data),
        XDG_CONFIG_HOME=str(config),
        XDG_RUNTIME_DIR=str(_runtime_dir(tmp_path)),
        TMPDIR=str(_runtime_dir(tmp_path)),  # else a running Krita would take over this start
        FACESMITH_RUNTIME_CONFIG=str(tmp_path / "runtime.json"),
        FACESMITH_SELFTEST_SHOT=str(tmp_path / "krita-docker.png"),
        FACESMITH_SELFTEST_PHOTO=str(_selftest_photo(tmp_path, photos_dir)),
    )
    return env


def _run_gui(
    env: dict[str, str], result_file: Path, log_file: Path
) -> tuple[dict[str, Any], int | None, str]:
    """Krita under Xvfb with the self-test plugin → (its report, exit status, log tail)."""
    krita, xvfb_run = _krita_program("krita"), _krita_program("xvfb-run")
    command = [xvfb_run, "-a", "-s", "-screen 0 1280x900x24", krita, "--nosplash"]
    env = {**env, "FACESMITH_SELFTEST_FILE": str(result_file)}
    returncode, log = _run_until_reported(command, env, result_file, log_file)
    if not result_file.exists() and "could not connect to display" in log:
        # xvfb-run -a picks a display by its lock file only: right after another X server
        # closed, the new Xvfb can fail to take the display and Krita finds none. Once more.
        returncode, log = _run_until_reported(command, env, result_file, log_file)
    assert result_file.exists(), f"the self-test wrote nothing (rc {returncode}):\n{log}"
    return json.loads(result_file.read_text()), returncode, log


def _check_selftest(
    result: dict[str, Any], returncode: int | None, log: str, pykrita: Path, server: str
) -> None:
    """The plugin loaded from ``pykrita`` and did everything the self-test asked of it."""
    shown = "\n".join(result["errors"] + result["error_boxes"])
    assert not result["errors"], shown + "\n--- Krita log:\n" + log
    assert result["plugin_module"] == str(pykrita / "facesmith_krita" / "__init__.py")
    assert "FacesmithExtension" in result["extensions"]
    presets = ["Older", "Younger", "Bald", "Swap gender", "More masculine", "More feminine",
               "Smile"]  # fmt: skip
    assert list(result["actions"].values()) == ["Age…", *presets]
    # Krita read facesmith_krita.action (installed beside pykrita/): its tooltips are set
    assert result["tooltips"]["facesmith_older"] == "Make every face older"
    # Tools ▸ Scripts ▸ facesmith
    assert result["menu"] == ["Age…", "New random face", "Face from sketch", *presets]
    assert result["docker"] == "facesmith"
    assert result["status"].startswith(f"Server: {server}")
    # Ungrouped edits first, then the pack's groups (the test pack groups age and gender).
    assert result["sliders"] == [
        f"facesmith_slider_{e}" for e in ("bald", "smile", "age", "gender")
    ]
    assert result["faces"] == 1
    assert result["age_after_reconnect"] == 80  # the docker keeps its settings
    assert json.loads(result["remembered"])["age"] == 30.0
    assert result["layers_after_apply"] == ["Background", "facesmith: age +30"]
    assert result["layers_after_undo"] == ["Background"]  # one undo step
    # the preview on the canvas: a layer above the photo while it shows, following the slider,
    # hidden by Before; Cancel and closing the docker take it away and leave no undo step
    preview = ["Background", "facesmith preview (not applied)"]
    assert result["canvas_preview_layers"] == preview
    assert result["active_layer_under_the_preview"] == "Background"  # the artist's layer
    assert result["canvas_preview_layers_after_slider"] == preview
    assert result["canvas_preview_hidden_by_before"] and result["canvas_preview_shown_again"]
    assert result["undo_after_cancel_as_before"] and result["modified_after_cancel_as_before"]
    assert result["before_disabled_after_cancel"]
    assert result["layers_after_closing_the_docker"] == ["Background"]
    assert result["undo_kept_after_closing"], (
        result["undo_text_before_preview"],
        result["undo_text_after_closing"],
        log,
    )
    assert result["layers_after_preset"] == ["Background", "facesmith: age +25"]
    assert result["layers_after_age"] == ["Background", "facesmith: age -20"]
    assert result["note_floated"]  # Krita showed the plugin's note over the canvas
    assert len(result["error_boxes"]) == 2 and "no face" in result["error_boxes"][0], shown
    assert len(result["blank_layers"]) == 1  # nothing added
    new_face = result["blank_after_new_face"]
    assert new_face[0] == result["blank_layers"][0] and new_face[1].startswith("facesmith: face ")
    # Face from sketch: the docker's button on an empty layer says to draw first; the menu
    # action adds the face above the drawing, the drawing untouched; one undo removes it
    assert "Draw dark lines on the layer first" in result["error_boxes"][1]
    assert result["sketch_follow_remembered"] == "0"
    drawn = result["sketch_layers_before"]
    assert drawn[-1] == "lines"
    assert result["sketch_layers_after"] == [*drawn, "facesmith: face from sketch"]
    assert result["sketch_face_opaque"]
    assert result["sketch_lines_untouched"]
    assert result["sketch_layers_after_undo"] == drawn
    waits = {k: v for k, v in result["ui_pauses_s"].items() if k in WORKER_WAITS}
    assert max(waits.values()) < 1.0, f"the UI thread blocked while the worker ran: {waits}"
    assert result["done"] and returncode == 0, log


def test_the_action_file_names_every_action_without_shortcuts() -> None:
    """Krita lists the actions under "facesmith" in its shortcut settings from this file: one
    entry per action the extension creates, none with a default shortcut."""
    import xml.etree.ElementTree as ET

    from facesmith_host.jobs import PRESETS

    root = ET.parse(REPO / "plugin" / "krita" / "facesmith_krita.action").getroot()
    (group,) = root.findall("Actions")
    assert group.get("category") == "facesmith" and group.findtext("text") == "facesmith"
    declared = {a.get("name"): a for a in group.findall("Action")}
    source = (REPO / "plugin" / "krita" / "facesmith_krita" / "extension.py").read_text()
    created = set(re.findall(r'createAction\(\s*"(facesmith_\w+)"', source))
    created |= {f"facesmith_{p.key}" for p in PRESETS}  # made in a loop
    assert set(declared) == created - {"facesmith"}  # "facesmith": the submenu itself
    assert all(not (a.findtext("shortcut") or "").strip() for a in declared.values())
    assert all((a.findtext("toolTip") or "").strip() for a in declared.values())


# -- helpers ---------------------------------------------------------------------------------


def _krita_program(name: str) -> str:
    """The Krita program; missing is a failure in CI (the host tests never skip there)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not found: apt-get install -y krita python3-pyqt5 xvfb xauth")
    return path


def _run_until_reported(
    command: list[str], env: dict[str, str], report: Path, log_file: Path
) -> tuple[int | None, str]:
    """Run the GUI until it exits; stop it (its whole process group) if it has not written
    ``report`` within GUI_DEADLINE_S, or has not quit QUIT_GRACE_S after writing it."""
    with log_file.open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + GUI_DEADLINE_S
        while process.poll() is None and time.monotonic() < deadline:
            if report.exists():
                deadline = min(deadline, time.monotonic() + QUIT_GRACE_S)
            time.sleep(0.5)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
        else:
            returncode = process.returncode
    return returncode, log_file.read_text(errors="replace")[-3000:]


def _add_selftest_plugin(pykrita: Path, kritarc: Path) -> None:
    shutil.copytree(SCRIPTS / "facesmith_selftest", pykrita / "facesmith_selftest")
    shutil.copy2(SCRIPTS / "facesmith_selftest.desktop", pykrita)
    text = kritarc.read_text()
    kritarc.write_text(text.replace("[python]\n", "[python]\nenable_facesmith_selftest=true\n", 1))


def _selftest_photo(tmp_path: Path, photos_dir: Path) -> Path:
    """A test photo; for the docs screenshot the astronaut scikit-image ships (public domain),
    since the test photos may not be published."""
    if os.environ.get("FACESMITH_DOCS_SCREENSHOT") != "1":
        return photos_dir / "whole" / "obama.jpg"
    from PIL import Image
    from skimage import data

    path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def _check_screenshot(shot: Path, docs_name: str) -> None:
    """A real picture of the docker; FACESMITH_DOCS_SCREENSHOT=1 copies it to docs/."""
    from PIL import Image

    with Image.open(shot) as picture:
        assert picture.width >= 250 and picture.height >= 400, picture.size
        assert sum(1 for n in picture.convert("L").histogram() if n) > 50  # not blank
    assert shot.stat().st_size < 300_000
    if os.environ.get("FACESMITH_DOCS_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copy2(shot, REPO / "docs" / docs_name)


def _runtime_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "xdg-runtime"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def test_the_plugin_loads_and_builds_its_docker_under_pyqt6(tmp_path: Path) -> None:
    """Krita 6 ships PyQt6; none is installed here, so the plugin registers and builds its
    docker (set-up panel included) against a stand-in `krita` module with PyQt5 blocked."""
    code = """
import json, sys
sys.modules["PyQt5"] = None  # as in Krita 6: only PyQt6
from PyQt6 import QtWidgets
app = QtWidgets.QApplication([])
import facesmith_krita
from facesmith_krita import qt
from krita import Krita, Window
krita = Krita.instance()
(extension,) = krita.extensions
window = Window()
extension.setup()
extension.createActions(window)
(factory,) = krita.factories
docker = factory.make()
docker.show()
app.processEvents()
buttons = [b.objectName() for b in docker.findChildren(QtWidgets.QPushButton)]
print(json.dumps({"qt": qt.QT_MAJOR, "actions": sorted(window.actions), "buttons": buttons}))
"""
    paths = os.pathsep.join(
        str(p) for p in (HERE / "pyqt6", REPO / "plugin", REPO / "plugin" / "krita")
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": paths,
           "FACESMITH_RUNTIME_CONFIG": str(tmp_path / "none.json")}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["qt"] == 6
    actions = {"facesmith_age", "facesmith_new_face", "facesmith_face_from_sketch",
               "facesmith_older"}  # fmt: skip
    assert actions <= set(loaded["actions"])
    assert {"facesmith_apply", "facesmith_setup_start", "facesmith_new_random_face",
            "facesmith_face_from_sketch"} <= set(loaded["buttons"])  # fmt: skip
