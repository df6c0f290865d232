"""Runs inside GIMP 3 (python-fu-eval, the chroot's Python): one scenario of test_gimp.py.

    gimp-console-3.0 -i --batch-interpreter python-fu-eval -b - --quit   with stdin:
    import sys; sys.path.insert(0, HERE); import gimp_batch; gimp_batch.main(WORK)

WORK/job.json says which photo to open, how to prepare it (alpha, offsets, precision,
selection, crop, grey), which facesmith procedure to call with which arguments. This writes
WORK/result.json: the call's status and message, and the layers of the image before the call
and of the XCF saved after it and opened again, each with its pixels dumped raw in the layer's
own format (WORK/<stage>-<index>.raw). A failed call raises at the end, so GIMP exits 64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Babl", "0.1")
from gi.repository import Babl, Gegl, Gimp, Gio  # noqa: E402


def log(*parts: object) -> None:
    print("[gimp_batch]", *parts, file=sys.stderr, flush=True)


def open_image(path: str) -> Gimp.Image:
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))


def prepare(image: Gimp.Image, job: dict) -> None:
    layer = image.get_layers()[0]
    if "crop" in job:
        x, y, w, h = job["crop"]
        image.crop(w, h, x, y)
    if job.get("grey"):
        image.convert_grayscale()
    if job.get("alpha"):
        layer.add_alpha()
    if "offset" in job:  # grow the canvas and move the layer inside it
        dx, dy = job["offset"]
        image.resize(image.get_width() + 2 * dx, image.get_height() + 2 * dy, 0, 0)
        layer.set_offsets(dx, dy)
    if "precision" in job:
        image.convert_precision(getattr(Gimp.Precision, job["precision"]))
    if "select" in job:
        x, y, w, h = job["select"]
        image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)


def dump_layers(image: Gimp.Image, work: Path, stage: str) -> list[dict]:
    """Every layer, top first: placement and pixels in the layer's own storage format."""
    found = []
    for index, layer in enumerate(image.get_layers()):
        fmt = Babl.get_name(layer.get_format())
        w, h = layer.get_width(), layer.get_height()
        data = layer.get_buffer().get(
            Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.NONE
        )
        raw = work / f"{stage}-{index}.raw"
        raw.write_bytes(data)
        _, x, y = layer.get_offsets()
        found.append(
            {
                "name": layer.get_name(),
                "offsets": [x, y],
                "size": [w, h],
                "format": fmt,
                "channels": Babl.format_get_n_components(layer.get_format()),
                "opacity": layer.get_opacity(),
                "raw": raw.name,
            }
        )
    return found


def call(procedure: str, image: Gimp.Image, args: dict, mode: str) -> tuple[str, str]:
    """Run a facesmith procedure ("noninteractive" or "interactive": its dialog opens and the
    test answers it) → (status nick, error message)."""
    proc = Gimp.get_pdb().lookup_procedure(procedure)
    if proc is None:
        return "missing", f"procedure {procedure} is not registered"
    config = proc.create_config()
    config.set_property("run-mode", getattr(Gimp.RunMode, mode.upper()))
    config.set_property("image", image)
    config.set_core_object_array("drawables", image.get_selected_drawables())
    for key, value in args.items():
        config.set_property(key, value)
    result = proc.run(config)
    status = result.index(0)
    message = (
        result.index(1) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1 else ""
    )
    return status.value_nick, str(message or "")


def describe(names: list[str]) -> dict:
    """How GIMP registered each named procedure: menu label, paths and argument names."""
    found = {}
    for name in names:
        proc = Gimp.get_pdb().lookup_procedure(name)
        if proc is not None:
            found[name] = {
                "label": proc.get_menu_label(),
                "menu_paths": list(proc.get_menu_paths()),
                "image_types": proc.get_image_types(),
                "arguments": [spec.name for spec in proc.get_arguments()],
            }
    return found


def main(work_dir: str) -> None:
    work = Path(work_dir)
    job = json.loads((work / "job.json").read_text())
    image = open_image(job["photo"])
    prepare(image, job)
    image.set_selected_layers([image.get_layers()[0]])
    before = dump_layers(image, work, "before")
    status, message = call(
        job["procedure"], image, job.get("args", {}), job.get("mode", "noninteractive")
    )
    log("status", status, message)
    xcf = work / "result.xcf"
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(str(xcf)), None)
    reopened = open_image(str(xcf))
    result = {
        "status": status,
        "message": message,
        "precision": reopened.get_precision().value_nick,
        "selection_empty": Gimp.Selection.is_empty(image),
        "procedures": describe(job.get("describe", [])),
        "before": before,
        "after": dump_layers(reopened, work, "after"),
    }
    (work / "result.json").write_text(json.dumps(result, indent=1))
    if status != "success":
        raise RuntimeError(f"facesmith procedure failed ({status}): {message}")
