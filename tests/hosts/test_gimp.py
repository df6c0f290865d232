"""The GIMP 3 plug-in inside real GIMP: a Debian 13 chroot (Debian 12 has no GIMP 3) that
`.ci/host-apps` builds beside the repository — tests never build it or install anything;
without it they are skipped (a failure under CI=true). The installer puts the plug-in into an
isolated GIMP3_DIRECTORY; gimp-console runs a facesmith procedure non-interactively on a real
photo against the test-pack server on this machine (the chroot shares the network), through the
real runtime worker; gimp_batch.py saves the XCF, opens it again and dumps every layer. Checks:
one new layer directly above the source at its offsets and depth, changes only near faces, the
source layer byte-identical, and errors that leave the image as it was.

The worker runs this test's own venv python inside the chroot, so the repository, the venv and
the base Python are bind-mounted there read-only at their own paths. Each GIMP run gets a
private mount namespace (unshare): the mounts vanish with it, even when a run is killed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from needs import unavailable

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROOT = Path(os.environ.get("FACESMITH_GIMP_ROOT") or REPO.parent / "gimp-root").absolute()
GIMP_TIMEOUT_S = 300
FACE_MARGIN = 0.6  # changed pixels must lie within each face box grown by this share of its size
EDIT = "plug-in-facesmith-edit"
OLDER = "plug-in-facesmith-older"
NEW_FACE = "plug-in-facesmith-new-face"
SKETCH = "plug-in-facesmith-sketch"
SET_UP = "plug-in-facesmith-set-up"
PRESET_KEYS = ("older", "younger", "bald", "masculine", "feminine", "smile")
NUMPY_TYPES = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "half": np.float16}
NUMPY_TYPES |= {"float": np.float32, "double": np.float64}


# -- the chroot and what it must see ---------------------------------------------------------


def find_gimp_root(chroot: Path = CHROOT) -> Path:
    """The GIMP 3 chroot that `.ci/host-apps` builds. Tests never build it, nor install
    anything: without it (or without root) these tests are skipped, and fail under CI=true."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("the GIMP host tests need root and unshare (chroot and bind mounts)")
    if not (chroot / ".facesmith-ready").exists():
        unavailable(
            f"no GIMP 3 chroot at {chroot}: set up the host programs with `sudo .ci/host-apps` "
            "(FACESMITH_GIMP_ROOT names another place)"
        )
    return chroot


@pytest.fixture(scope="session")
def gimp_root() -> Path:
    return find_gimp_root()


SYSTEM_PREFIXES = (Path("/"), Path("/usr"))  # never bound whole: that would hide the chroot's


@dataclass(frozen=True)
class Runtime:
    """The Python environment the plug-in's worker runs in (this test's venv)."""

    python: Path  # the venv's interpreter, as the runtime config names it
    prefix: Path  # the venv
    base_prefix: Path  # the Python installation the venv was made from
    stdlib: tuple[Path, ...]

    @classmethod
    def current(cls) -> Runtime:
        if sys.prefix == sys.base_prefix:
            pytest.fail("run the GIMP host tests from a venv: the worker needs one")
        paths = sysconfig.get_paths()
        return cls(
            python=Path(sys.executable),
            prefix=Path(sys.prefix),
            base_prefix=Path(sys.base_prefix),
            stdlib=tuple(sorted({Path(paths["stdlib"]), Path(paths["platstdlib"])})),
        )


def bind_mounts(runtime: Runtime, scratch: Path) -> list[tuple[Path, Path]]:
    """(host path, path inside the chroot) to bind, in order, so that ``runtime.python`` runs
    there as it does here. The venv's bin/ is replaced by links straight to the real
    interpreter: a venv made by Debian's python3 links to /usr/bin/python3, which inside the
    chroot is GIMP's Python 3.13. A base Python under /usr lends only its interpreter and
    standard library; one elsewhere (pyenv, a python.org build) is bound whole."""
    interpreter = runtime.python.resolve()
    binds = [(REPO, REPO), (runtime.prefix, runtime.prefix)]
    bin_dir = scratch / "venv-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in {runtime.python.name, "python", "python3"}:
        link = bin_dir / name
        if not link.is_symlink():
            link.symlink_to(interpreter)
    binds.append((bin_dir, runtime.prefix / "bin"))
    if runtime.base_prefix.resolve() in SYSTEM_PREFIXES:
        binds += [(path, path) for path in runtime.stdlib]
        binds.append((interpreter, interpreter))
    else:
        binds += [(runtime.base_prefix, runtime.base_prefix)]
        if not interpreter.is_relative_to(runtime.base_prefix):
            binds.append((interpreter.parent, interpreter.parent))
    return binds


def chroot_command(
    root: Path,
    binds: list[tuple[Path, Path]],
    env: dict[str, str],
    argv: list[str],
    shared: tuple[Path, ...] = (),
) -> list[str]:
    """argv run in the chroot inside a private mount namespace holding /proc, the read-only
    ``binds`` and the ``shared`` folders (read-write, same path: the X server's sockets)."""
    q = shlex.quote
    lines = ["set -e", f"mount -t proc proc {q(f'{root}/proc')}"]
    for path in shared:
        inside = q(str(root / path.relative_to("/")))
        lines += [f"mkdir -p {inside}", f"mount --bind {q(str(path))} {inside}"]
    for source, target in binds:
        inside = root / target.relative_to("/")
        if inside.is_symlink():  # a bind would follow it and cover the chroot's own file
            pytest.fail(f"{inside} is a symlink in the chroot; cannot bind {source} there")
        if source.is_dir():
            lines.append(f"mkdir -p {q(str(inside))}")
        else:
            lines.append(f"mkdir -p {q(str(inside.parent))} && touch {q(str(inside))}")
        lines.append(f"mount --bind -o ro {q(str(source))} {q(str(inside))}")
    variables = " ".join(q(f"{k}={v}") for k, v in env.items())
    command = " ".join(q(a) for a in argv)
    lines.append(f"exec chroot {q(str(root))} env -i {variables} {command}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]


def run_killable(argv: list[str], stdin: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """subprocess.run in its own process group, all of which is killed on a timeout (GIMP's
    plug-ins and the worker included)."""
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            out, _ = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
            pytest.fail(f"GIMP did not finish within {timeout} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(argv, process.returncode, out, "")


# -- one GIMP home with the plug-in installed --------------------------------------------------


@dataclass(frozen=True)
class GimpHome:
    root: Path  # the chroot
    inside: str  # this module's folder, as GIMP sees it (below the chroot's /tmp)
    binds: list[tuple[Path, Path]]

    @property
    def host(self) -> Path:
        return self.root / self.inside.lstrip("/")

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": self.inside,
            "LANG": "C.UTF-8",
            "GIMP3_DIRECTORY": f"{self.inside}/gimp3",
            "FACESMITH_RUNTIME_CONFIG": f"{self.inside}/runtime.json",
        }


@pytest.fixture(scope="module")
def gimp(gimp_root: Path, server: str) -> Iterator[GimpHome]:
    """An isolated GIMP3_DIRECTORY in the chroot with the plug-in installed by the installer,
    its runtime config naming this venv's python and the test-pack server."""
    host = Path(tempfile.mkdtemp(prefix="facesmith-gimp-", dir=gimp_root / "tmp"))
    inside = "/" + str(host.relative_to(gimp_root))
    home = GimpHome(gimp_root, inside, bind_mounts(Runtime.current(), host))
    install = subprocess.run(
        [
            sys.executable,
            str(REPO / "installers" / "install.py"),
            "--use-python",
            sys.executable,
            "--gimp-dir",
            str(host / "gimp3" / "plug-ins"),
            "--config",
            str(host / "runtime.json"),
            "--server",
            server,
            "--no-krita",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert os.access(host / "gimp3" / "plug-ins" / "facesmith" / "facesmith.py", os.X_OK)
    shutil.copy(HERE / "gimp_batch.py", host)
    yield home
    shutil.rmtree(host, ignore_errors=True)


@pytest.fixture(scope="module")
def gimp_from_zip(
    gimp_root: Path, server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GimpHome]:
    """A GIMP home whose plug-ins folder got the release zip unpacked into it as it is (file
    modes kept, as unzip and file managers do), and the runtime config the installer writes."""
    dist = tmp_path_factory.mktemp("dist")
    build = [sys.executable, str(REPO / "installers" / "build.py"), "--no-wheel", "--out"]
    subprocess.run([*build, str(dist)], check=True, capture_output=True, timeout=120)
    (zip_file,) = dist.glob("facesmith-gimp-*.zip")
    host = Path(tempfile.mkdtemp(prefix="facesmith-gimp-zip-", dir=gimp_root / "tmp"))
    plug_ins = host / "gimp3" / "plug-ins"
    plug_ins.mkdir(parents=True)
    with zipfile.ZipFile(zip_file) as archive:
        for info in archive.infolist():
            archive.extract(info, plug_ins)
            if not info.is_dir():
                (plug_ins / info.filename).chmod((info.external_attr >> 16) & 0o777)
    assert os.access(plug_ins / "facesmith" / "facesmith.py", os.X_OK)
    config = {"version": 1, "python": sys.executable, "server": server}
    (host / "runtime.json").write_text(json.dumps(config))
    shutil.copy(HERE / "gimp_batch.py", host)
    inside = "/" + str(host.relative_to(gimp_root))
    yield GimpHome(gimp_root, inside, bind_mounts(Runtime.current(), host))
    shutil.rmtree(host, ignore_errors=True)


@dataclass
class LayerDump:
    name: str
    offsets: tuple[int, int]
    format: str
    opacity: float
    pixels: np.ndarray  # H x W x C in the layer's own storage type


@dataclass
class Outcome:
    rc: int
    log: str
    status: str
    message: str
    precision: str
    procedures: dict[str, Any]
    before: list[LayerDump]  # the prepared image's layers, top first
    after: list[LayerDump]  # the saved XCF's layers, opened again


def run_gimp(
    gimp: GimpHome,
    photo: Path,
    name: str,
    dialog: Dialog | None = None,
    env: dict[str, str] | None = None,
    **job: Any,
) -> Outcome:
    """Prepare ``photo`` as ``job`` says, run a facesmith procedure on it in gimp-console
    (with ``dialog``: on that X display, where the procedure's dialog gets answered)."""
    work = gimp.host / name
    work.mkdir()
    shutil.copy(photo, work / photo.name)
    inside = f"{gimp.inside}/{name}"
    job = {"photo": f"{inside}/{photo.name}", **job}
    (work / "job.json").write_text(json.dumps(job))
    script = f"import sys; sys.path.insert(0, {gimp.inside!r}); import gimp_batch; "
    script += f"gimp_batch.main({inside!r})\n"
    argv = ["gimp-console-3.0", "-i", "--batch-interpreter", "python-fu-eval", "-b", "-", "--quit"]
    env, shared = {**gimp.env(), **(env or {})}, ()
    if dialog is not None:
        env["DISPLAY"], shared = dialog.display, (Path("/tmp/.X11-unix"),)
        dialog.answer_in_background()
    command = chroot_command(gimp.root, gimp.binds, env, argv, shared)
    done = run_killable(command, script, GIMP_TIMEOUT_S)
    if dialog is not None:
        assert dialog.answered.wait(5), f"the dialog {dialog.title!r} never appeared"
    result_file = work / "result.json"
    assert result_file.exists(), f"GIMP exited {done.returncode} without a result:\n{done.stdout}"
    result = json.loads(result_file.read_text())
    return Outcome(
        rc=done.returncode,
        log=done.stdout,
        status=result["status"],
        message=result["message"],
        precision=result["precision"],
        procedures=result["procedures"],
        before=[load_layer(work, layer) for layer in result["before"]],
        after=[load_layer(work, layer) for layer in result["after"]],
    )


def load_layer(work: Path, info: dict[str, Any]) -> LayerDump:
    sample = info["format"].split(" ")[1].split("-")[0]  # "R'G'B'A u16-<space>" → "u16"
    w, h = info["size"]
    flat = np.fromfile(work / info["raw"], NUMPY_TYPES[sample])
    return LayerDump(
        name=info["name"],
        offsets=tuple(info["offsets"]),
        format=info["format"],
        opacity=info["opacity"],
        pixels=flat.reshape(h, w, info["channels"]),
    )


@dataclass
class Dialog:
    """Presses ``key`` in the window titled ``title`` on ``display`` once it shows (again, until
    it closes: GTK may map the window before it takes keys)."""

    display: str
    title: str = ""
    key: str = "Return"
    answered: threading.Event = field(default_factory=threading.Event)

    def answer_in_background(self) -> None:
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self) -> None:
        env = {**os.environ, "DISPLAY": self.display}
        deadline = time.monotonic() + GIMP_TIMEOUT_S
        while time.monotonic() < deadline:
            found = subprocess.run(
                ["xdotool", "search", "--name", f"^{self.title}$"],
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
            )
            windows = found.stdout.split()
            if not windows and self.answered.is_set():
                return
            if windows:
                for step in (["windowfocus", "--sync", windows[0]], ["key", self.key]):
                    subprocess.run(["xdotool", *step], env=env, capture_output=True, timeout=10)
                self.answered.set()
            time.sleep(0.5)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A virtual X display (Xvfb) for the plug-in's dialog → its name, e.g. ":1"."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        unavailable(f"{', '.join(missing)} missing: apt-get install -y xvfb xdotool")
    reader, writer = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(writer), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(writer,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(writer)
    with os.fdopen(reader) as numbers:
        number = numbers.readline().strip()  # Xvfb writes it once it accepts clients
    assert number, "Xvfb did not start"
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


# -- checks ------------------------------------------------------------------------------------


@functools.cache
def faces_in(photo: Path) -> tuple[tuple[float, float, float, float], ...]:
    """Face boxes in the photo file: the source layer holds its pixels at any depth."""
    from facesmith_client.vision.detect import detect_faces, load_detector

    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    return tuple(face.box for face in detect_faces(rgb, load_detector("cpu")))


def near(shape: tuple[int, ...], boxes: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    """H x W bool: inside one of ``boxes`` grown by FACE_MARGIN of its size."""
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        m = FACE_MARGIN * max(x1 - x0, y1 - y0)
        mask[max(0, int(y0 - m)) : int(y1 + m) + 1, max(0, int(x0 - m)) : int(x1 + m) + 1] = True
    return mask


def assert_added_above(outcome: Outcome) -> tuple[LayerDump, LayerDump]:
    """One new layer directly above the untouched source, same place, size and storage →
    (new, source)."""
    assert outcome.rc == 0 and outcome.status == "success", outcome.log[-3000:]
    assert len(outcome.before) == 1 and len(outcome.after) == 2, [d.name for d in outcome.after]
    new, source = outcome.after
    original = outcome.before[0]
    assert source.name == original.name and new.name.startswith("facesmith: ")
    assert new.offsets == source.offsets == original.offsets
    assert new.format == source.format == original.format
    assert new.opacity == source.opacity
    assert np.array_equal(source.pixels, original.pixels), "the source layer was changed"
    return new, source


def assert_changed_near(new: LayerDump, source: LayerDump, boxes: Sequence) -> np.ndarray:
    """Some pixels changed, all of them near ``boxes`` → the changed-pixel mask."""
    diff = np.any(new.pixels != source.pixels, axis=2)
    assert diff.any(), "the new layer equals the source"
    assert not (diff & ~near(diff.shape, boxes)).any(), "pixels far from the faces changed"
    return diff


def assert_unchanged(outcome: Outcome, expected: str) -> None:
    """A failed call that says ``expected`` and left every layer as it was."""
    assert outcome.rc == 64, outcome.log[-3000:]  # GIMP's exit status for a failed batch
    assert outcome.status == "execution-error", (outcome.status, outcome.message)
    assert expected.lower() in outcome.message.lower(), outcome.message
    assert outcome.message in outcome.log  # GIMP printed it (its message UI in batch mode)
    assert [d.name for d in outcome.after] == [d.name for d in outcome.before]
    for after, before in zip(outcome.after, outcome.before, strict=True):
        assert np.array_equal(after.pixels, before.pixels)


# -- tests -------------------------------------------------------------------------------------


def test_older_adds_one_layer_above_an_offset_rgba_layer(gimp: GimpHome, photos_dir: Path) -> None:
    photo = photos_dir / "whole" / "two_people.jpg"
    describe = [EDIT, *(f"plug-in-facesmith-{key}" for key in PRESET_KEYS)]
    outcome = run_gimp(
        gimp, photo, "older", alpha=True, offset=[30, 20], procedure=OLDER,
        args={"strength": 50.0}, describe=describe,
    )  # fmt: skip
    new, source = assert_added_above(outcome)
    assert new.name.startswith("facesmith: age +"), new.name
    assert new.offsets == (30, 20) and new.pixels.shape[2] == 4
    assert len(faces_in(photo)) == 2
    assert_changed_near(new, source, faces_in(photo))
    assert np.array_equal(new.pixels[:, :, 3], source.pixels[:, :, 3]), "alpha changed"
    # every menu entry is registered under Filters ▸ facesmith with a strength argument
    assert set(outcome.procedures) == set(describe)
    for info in outcome.procedures.values():
        assert info["menu_paths"] == ["<Image>/Filters/facesmith"]
        assert "strength" in info["arguments"]
    assert outcome.procedures[OLDER]["label"] == "Older"
    assert "edit" in outcome.procedures[EDIT]["arguments"]


@pytest.mark.parametrize(
    ("precision", "storage"),
    [("U16_NON_LINEAR", "R'G'B' u16"), ("FLOAT_LINEAR", "RGB float")],
)
def test_edit_keeps_the_layer_precision(
    gimp: GimpHome, photos_dir: Path, precision: str, storage: str
) -> None:
    photo = photos_dir / "whole" / "astronaut.png"
    outcome = run_gimp(
        gimp, photo, precision.lower(), precision=precision, procedure=EDIT,
        args={"edit": "age", "strength": -20.0},
    )  # fmt: skip
    new, source = assert_added_above(outcome)
    assert outcome.precision == precision.lower().replace("_", "-")
    assert new.name == "facesmith: age -20" and new.format == storage
    diff = assert_changed_near(new, source, faces_in(photo))
    if new.pixels.dtype == np.uint16:  # the edit came back at 16 bits, not as 8 bits widened
        assert (new.pixels[diff] % 257 != 0).any()


def test_selection_limits_the_edit_to_faces_inside(gimp: GimpHome, photos_dir: Path) -> None:
    photo = photos_dir / "whole" / "two_people.jpg"
    boxes = sorted(faces_in(photo))
    assert len(boxes) == 2
    x0, y0, x1, y1 = boxes[0]  # the left face, with room around it
    m = FACE_MARGIN * max(x1 - x0, y1 - y0)
    sx, sy = max(0, int(x0 - m)), max(0, int(y0 - m))
    select = [sx, sy, int(x1 + m) - sx, int(y1 + m) - sy]
    # the layer sits 400 px right of the canvas' edge: the selection is in image coordinates
    select[0] += 400
    outcome = run_gimp(
        gimp, photo, "selection", select=select, offset=[400, 0], procedure=OLDER, args={}
    )
    new, source = assert_added_above(outcome)
    diff = assert_changed_near(new, source, boxes[:1])
    assert not diff[near(diff.shape, boxes[1:])].any(), "the face outside the selection changed"


def test_new_random_face_is_a_layer_over_the_selection(gimp: GimpHome, photos_dir: Path) -> None:
    photo = photos_dir / "whole" / "astronaut.png"
    job = {"select": [40, 30, 200, 120], "procedure": NEW_FACE, "args": {"seed": 5}}
    runs = [run_gimp(gimp, photo, f"new-face-{i}", describe=[NEW_FACE], **job) for i in range(2)]
    outcome = runs[0]
    assert outcome.rc == 0 and outcome.status == "success", outcome.log[-3000:]
    assert [d.name for d in outcome.after] == ["facesmith: face 5", outcome.before[0].name]
    face, source = outcome.after
    assert np.array_equal(source.pixels, outcome.before[0].pixels)
    # the selection's 200 x 120 holds a 120 px face, centred from left to right
    assert face.offsets == (80, 30) and face.pixels.shape[:2] == (120, 120)
    assert (face.pixels[:, :, 3] == 255).all()
    assert face.pixels[:, :, :3].std() > 5  # a face, not a flat fill
    assert np.array_equal(runs[1].after[0].pixels, face.pixels)  # the same seed, the same face
    info = outcome.procedures[NEW_FACE]
    assert info["menu_paths"] == ["<Image>/Filters/facesmith"] and "seed" in info["arguments"]


def test_the_release_zip_unpacked_into_plug_ins_works(
    gimp_from_zip: GimpHome, photos_dir: Path
) -> None:
    photo = photos_dir / "whole" / "two_people.jpg"
    outcome = run_gimp(gimp_from_zip, photo, "from-zip", procedure=OLDER, args={"strength": 50.0})
    new, source = assert_added_above(outcome)
    assert_changed_near(new, source, faces_in(photo))


def test_set_up_checks_the_server_before_installing_anything(
    gimp: GimpHome, photos_dir: Path
) -> None:
    """The "Set up…" procedure is registered with its arguments; a server elsewhere that does
    not answer is said in words before anything is made."""
    address = f"127.0.0.1:{closed_port()}"
    outcome = run_gimp(gimp, photos_dir / "whole" / "astronaut.png", "set-up", procedure=SET_UP,
                       args={"server": address}, describe=[SET_UP])  # fmt: skip
    assert_unchanged(outcome, f"nothing answers at {address}")
    info = outcome.procedures[SET_UP]
    assert info["label"] == "Set up…" and info["menu_paths"] == ["<Image>/Filters/facesmith"]
    assert {"server", "token", "wheels"} <= set(info["arguments"])
    assert not (gimp.host / ".local" / "share" / "facesmith").exists()  # no runtime was made


def test_dialog_runs_the_edit_interactively(
    gimp: GimpHome, photos_dir: Path, display: str, tmp_path: Path
) -> None:
    photo = photos_dir / "whole" / "astronaut.png"
    dialog = Dialog(display, title="facesmith: Smile")
    shot = gimp.host / "preview.png"
    shot.unlink(missing_ok=True)
    outcome = run_gimp(
        gimp, photo, "dialog", dialog, procedure="plug-in-facesmith-smile", mode="interactive",
        env={"FACESMITH_GIMP_PREVIEW_FILE": f"{gimp.inside}/preview.png"},
    )  # fmt: skip
    new, source = assert_added_above(outcome)
    assert new.name.startswith("facesmith: smile +"), new.name
    assert_changed_near(new, source, faces_in(photo))
    # the dialog showed the face, edited, before it was answered
    preview = cv2.imread(str(shutil.copy(shot, tmp_path)), cv2.IMREAD_UNCHANGED)
    assert preview is not None and max(preview.shape[:2]) == 200, shot
    assert preview[:, :, :3].std() > 20  # a picture, not a flat fill


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, server: str) -> None:
    config = {"version": 1, "python": sys.executable, "server": server, "token": ""}
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no face", "no face"),
        ("grey image", "RGB"),
        ("selection off the layer", "outside the layer"),
        ("not installed", "installer"),
        ("server down", "server"),
    ],
)
def test_errors_name_the_next_step_and_change_nothing(
    gimp: GimpHome, photos_dir: Path, case: str, expected: str
) -> None:
    photo = photos_dir / "whole" / "astronaut.png"
    name = case.replace(" ", "-")
    job: dict[str, Any] = {"procedure": OLDER, "args": {}}
    if case == "no face":
        job["crop"] = [0, 330, 512, 182]  # the suit and the flag
    elif case == "grey image":
        job["grey"] = True
    elif case == "selection off the layer":
        job |= {"offset": [200, 0], "select": [0, 0, 150, 150]}
    elif case == "not installed":
        job["env"] = {"FACESMITH_RUNTIME_CONFIG": f"{gimp.inside}/missing/runtime.json"}
    elif case == "server down":
        write_config(gimp.host / "down.json", f"127.0.0.1:{closed_port()}")
        job["env"] = {"FACESMITH_RUNTIME_CONFIG": f"{gimp.inside}/down.json"}
    assert_unchanged(run_gimp(gimp, photo, name, **job), expected)


def test_one_pass_edits_through_the_fast_argument(
    gimp: GimpHome, photos_dir: Path, student_pack: Path
) -> None:
    """ "One pass (fast)": the pack's student edits the faces; an edit it has no student for
    is refused in words, the image unchanged."""
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    engine = Engine(load_pack(student_pack, "cpu"), torch.device("cpu"))
    grpc_server, port = create_server("127.0.0.1:0", engine)
    write_config(gimp.host / "students.json", f"127.0.0.1:{port}")
    env = {"FACESMITH_RUNTIME_CONFIG": f"{gimp.inside}/students.json"}
    photo = photos_dir / "whole" / "two_people.jpg"
    try:
        older = run_gimp(gimp, photo, "fast-older", procedure=OLDER,
                         args={"strength": 50.0, "fast": True}, env=env)  # fmt: skip
        bald = run_gimp(gimp, photo, "fast-bald", procedure="plug-in-facesmith-bald",
                        args={"strength": 100.0, "fast": True}, env=env)  # fmt: skip
    finally:
        grpc_server.stop(grace=None)
    new, source = assert_added_above(older)
    assert_changed_near(new, source, faces_in(photo))
    assert_unchanged(bald, "cannot make bald +")


def drawing_file(
    path: Path, size: tuple[int, int], faces: Sequence[tuple[int, int]], paper: bool = False
) -> Path:
    """A PNG (width, height) with a face outline and eyes, in black, around each (x, y):
    transparent around the lines, or on white paper without alpha → its path."""
    width, height = size
    layer = np.zeros((height, width, 4), np.uint8)
    for x, y in faces:
        cv2.ellipse(layer, (x, y), (40, 52), 0, 0, 360, (0, 0, 0, 255), 3)
        for dx in (-16, 16):
            cv2.circle(layer, (x + dx, y - 13), 5, (0, 0, 0, 255), -1)
    if paper:
        layer = np.repeat(255 - layer[:, :, 3:], 3, axis=2)
    cv2.imwrite(str(path), layer)  # B,G,R(,A): black lines are the same either way
    return path


def face_box(path: Path, select: Sequence[int] | None, offset: Sequence[int] = (0, 0)) -> tuple:
    """Where the runtime puts the face from the drawing at ``path`` (lines inside ``select``
    only), in image coordinates, clipped to the image: (x, y, width, height)."""
    from facesmith_client.pipeline.sketch import frame_drawing

    drawing = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert drawing is not None, path
    height, width = drawing.shape[:2]
    dx, dy = offset
    if select is not None:
        x, y, w, h = select[0] - dx, select[1] - dy, select[2], select[3]
        inside = np.zeros((height, width), bool)
        inside[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = True
        if drawing.shape[2] == 4:
            drawing[~inside, 3] = 0  # transparent
        else:
            drawing[~inside] = 255  # white paper
    _, box = frame_drawing(drawing, 64)
    x0, y0 = max(box.x + dx, 0), max(box.y + dy, 0)
    x1, y1 = min(box.x + box.side + dx, width + 2 * dx), min(box.y + box.side + dy, height + 2 * dy)
    return x0, y0, x1 - x0, y1 - y0


def assert_face_above(outcome: Outcome, box: tuple) -> LayerDump:
    """A new opaque face layer at ``box`` directly above the untouched drawing → the face."""
    assert outcome.rc == 0 and outcome.status == "success", outcome.log[-3000:]
    assert [d.name for d in outcome.after] == ["facesmith: face from sketch",
                                               outcome.before[0].name]  # fmt: skip
    face, lines = outcome.after
    original = outcome.before[0]
    assert lines.offsets == original.offsets
    assert np.array_equal(lines.pixels, original.pixels), "the drawing's layer was changed"
    assert (*face.offsets, face.pixels.shape[1], face.pixels.shape[0]) == box
    assert face.pixels.shape[2] == 4 and (face.pixels[:, :, 3] == 255).all()
    assert face.pixels[:, :, :3].std() > 2  # a face, not a flat fill
    return face


def test_face_from_sketch_is_a_layer_above_the_drawing(
    gimp: GimpHome, tmp_path: Path, sketch_server: str
) -> None:
    """Filters ▸ facesmith ▸ Face from sketch…: the face where the lines were drawn (on a
    transparent layer moved inside a larger canvas; or on white paper without alpha, only the
    lines inside the selection, the face cut at the image's edge), the drawing untouched; an
    empty layer is refused with the next step."""
    write_config(gimp.host / "sketch.json", sketch_server)
    env = {"FACESMITH_RUNTIME_CONFIG": f"{gimp.inside}/sketch.json"}
    one = drawing_file(tmp_path / "one.png", (300, 240), [(150, 120)])
    moved = run_gimp(gimp, one, "sketch-moved", env=env, offset=[60, 40], procedure=SKETCH,
                     args={"follow": 0.0}, describe=[SKETCH])  # fmt: skip
    assert_face_above(moved, face_box(one, None, (60, 40)))
    info = moved.procedures[SKETCH]
    assert info["label"] == "Face from sketch…" and info["menu_paths"] == [
        "<Image>/Filters/facesmith"
    ]
    assert "follow" in info["arguments"] and "seed" in info["arguments"]
    two = drawing_file(tmp_path / "two.png", (400, 240), [(90, 120), (345, 120)], paper=True)
    select = [250, 40, 150, 170]  # around the right face, which is near the image's edge
    chosen = run_gimp(gimp, two, "sketch-selected", env=env, select=select, procedure=SKETCH,
                      args={"follow": 0.0, "seed": 5})  # fmt: skip
    face = assert_face_above(chosen, face_box(two, select))
    assert face.offsets[0] > 250 and face.offsets[0] + face.pixels.shape[1] == 400  # cut there
    empty = drawing_file(tmp_path / "empty.png", (200, 200), [])
    refused = run_gimp(gimp, empty, "sketch-empty", env=env, procedure=SKETCH,
                       args={"follow": 0.0})  # fmt: skip
    assert_unchanged(refused, "draw dark lines on the layer first")


def test_face_from_sketch_is_refused_by_a_pack_without_a_sketch_encoder(
    gimp: GimpHome, tmp_path: Path
) -> None:
    from facesmith_host import jobs

    one = drawing_file(tmp_path / "one.png", (200, 200), [(100, 100)])
    outcome = run_gimp(gimp, one, "sketch-refused", procedure=SKETCH, args={})
    assert_unchanged(outcome, "cannot make faces from sketches")
    assert jobs.no_sketch("test").hint in outcome.message  # the words Krita shows too


# -- the plug-in's pure rules (no GIMP needed) -------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> Any:
    path = REPO / "plugin" / "gimp" / "facesmith" / "facesmith_gimp.py"
    spec = importlib.util.spec_from_file_location("facesmith_gimp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("precision", "alpha", "encoding", "dtype"),
    [
        ("u8-non-linear", True, "R'G'B'A u8", "u8"),
        ("u8-perceptual", False, "R~G~B~ u8", "u8"),
        ("u16-non-linear", False, "R'G'B' u16", "u16"),
        ("u8-linear", True, "R'G'B'A float", "f32"),  # linear: made perceptual, exactly
        ("u32-non-linear", True, "R'G'B'A float", "f32"),
        ("half-linear", False, "R'G'B' float", "f32"),
        ("double-perceptual", True, "R'G'B'A float", "f32"),
    ],
)
def test_pixel_format_follows_the_precision(
    rules: Any, precision: str, alpha: bool, encoding: str, dtype: str
) -> None:
    fmt = rules.pixel_format(precision, alpha)
    assert (fmt.encoding, fmt.dtype, fmt.order) == (encoding, dtype, "RGBA" if alpha else "RGB")
    assert fmt.pixel_bytes == fmt.channels * {"u8": 1, "u16": 2, "f32": 4}[dtype]


def test_changed_spans_cover_exactly_the_changed_pixels(rules: Any) -> None:
    width, height, pixel = 7, 4, 3
    sent = bytes(range(width * height * pixel))
    returned = bytearray(sent)
    returned[(1 * width + 2) * pixel + 1] ^= 1  # row 1, pixel 2
    returned[(1 * width + 5) * pixel + 2] ^= 1  # row 1, pixel 5
    returned[(3 * width + 6) * pixel + 0] ^= 1  # row 3, the last pixel
    spans = rules.changed_spans(sent, bytes(returned), width, height, pixel)
    assert spans == [(1, 2, 6), (3, 6, 7)]
    assert rules.changed_spans(sent, sent, width, height, pixel) == []


def test_selection_and_strength_rules(rules: Any) -> None:
    layer = rules.Rect(400, 0, 100, 50)
    assert rules.selection_misses(layer, rules.Rect(0, 0, 400, 50))
    assert not rules.selection_misses(layer, rules.Rect(0, 0, 401, 50))
    assert rules.preset_fraction(-0.5, 40) == -0.4 and rules.preset_fraction(1.0, 250) == 1.0
    assert (
        rules.error_text("no face found", "Select one.") == "facesmith: no face found\nSelect one."
    )


def test_the_sketch_default_is_the_runtimes(rules: Any) -> None:
    from facesmith.quality import DEFAULT_FOLLOW
    from facesmith_host import jobs

    assert rules.DEFAULT_FOLLOW == jobs.DEFAULT_FOLLOW == DEFAULT_FOLLOW
