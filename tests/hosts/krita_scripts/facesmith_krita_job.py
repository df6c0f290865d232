"""Runs inside kritarunner (Krita's own Python, not the test venv): one job from the JSON file
named by $FACESMITH_KRITA_JOB, its result written to job["result"] as JSON.

kritarunner exits 0 even when the script raises, so every failure is written to the result
file ("error": traceback) for the test to report.

Jobs:
  apply: open job["photo"] (or a blank document), optionally convert it to job["depth"] and
         select job["selection"] (x, y, w, h); record the source pixels and the faces found;
         run the plugin's apply path; save job["kra"].
  dump:  open job["kra"] and write every top-level layer's pixels and properties.
  new_face: a blank document, optionally with job["selection"]; the plugin's "New random
         face" path with job["seed"]; every layer before and after.
  sketch: per job["cases"] item, a blank document with a transparent paint layer "lines" on
         top holding the item's "faces" (outlines with eyes, drawn black) and optionally its
         "selection"; the plugin's "Face from sketch" path with job["follow"]; every layer
         before and after, the lines' extent and any WorkerError.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any


def main(*_args: Any) -> None:
    job = json.loads(Path(os.environ["FACESMITH_KRITA_JOB"]).read_text())
    result: dict[str, Any] = {}
    try:
        result.update(RUNS[job["run"]](job))
    except Exception:
        result["error"] = traceback.format_exc()
    Path(job["result"]).write_text(json.dumps(result, indent=1))


def run_apply(job: dict[str, Any]) -> dict[str, Any]:
    from krita import Krita, Selection

    from facesmith_host import jobs
    from facesmith_host.errors import WorkerError
    from facesmith_krita import apply, runtime

    app = Krita.instance()
    document = open_document(app, job)
    if job.get("depth"):
        document.setColorSpace("RGBA", job["depth"], document.colorProfile())
        document.waitForDone()
    if job.get("selection"):
        selection = Selection()
        selection.select(*job["selection"], 255)
        document.setSelection(selection)
    out: dict[str, Any] = {"active_node": str(document.activeNode())}
    source = layers_of(document)[-1]
    if job.get("move"):  # partly off the canvas: the new layer must keep that part too
        source.move(*job["move"])
        document.waitForDone()
    out["before"] = dump_layers(document, Path(job["dump"]) / "before")
    link = runtime.shared_link()
    snap = apply.snapshot(document)
    clock = time.monotonic()
    x, y = snap.rect[:2]  # face boxes are in the snapshot's pixels: to image coordinates
    faces = jobs.detect(link, snap.image)
    out["faces"] = [[f.box[0] + x, f.box[1] + y, f.box[2] + x, f.box[3] + y] for f in faces]
    out["detect_s"] = round(time.monotonic() - clock, 2)  # includes starting the worker
    clock = time.monotonic()
    try:
        edits = [tuple(e) for e in job["edits"]]
        layer = apply.apply_edits(document, link, edits, fast=bool(job.get("fast")))
        out["new_layer"] = layer.name()
    except WorkerError as err:
        out["worker_error"] = {"code": err.code, "text": str(err)}
    out["apply_s"] = round(time.monotonic() - clock, 2)
    out["source_untouched"] = pixels_of(source) == Path(job["dump"], "before", "0.raw").read_bytes()
    out["after"] = dump_layers(document, Path(job["dump"]) / "after")
    if job.get("kra"):
        document.setBatchmode(True)
        # exportImage, not saveAs: saveAs makes kritarunner abort at exit (QPixmap, no GUI)
        out["saved"] = document.exportImage(job["kra"], info_object())
        document.waitForDone()
    clock = time.monotonic()
    runtime.close()
    out["close_s"] = round(time.monotonic() - clock, 2)
    document.close()
    return out


def run_new_face(job: dict[str, Any]) -> dict[str, Any]:
    from krita import Krita, Selection

    from facesmith_krita import new_face, runtime

    document = open_document(Krita.instance(), job)
    if job.get("selection"):
        selection = Selection()
        selection.select(*job["selection"], 255)
        document.setSelection(selection)
    out: dict[str, Any] = {"before": dump_layers(document, Path(job["dump"]) / "before")}
    layer = new_face.new_face(document, runtime.shared_link(), job["seed"])
    out["new_layer"] = layer.name()
    out["after"] = dump_layers(document, Path(job["dump"]) / "after")
    runtime.close()
    document.close()
    return out


def run_sketch(job: dict[str, Any]) -> dict[str, Any]:
    from krita import Krita, Selection

    from facesmith_host.errors import WorkerError
    from facesmith_krita import runtime, sketch

    app = Krita.instance()
    cases = []
    for i, case in enumerate(job["cases"]):
        document = open_document(app, job)
        width, height = job["blank"]
        lines = document.createNode("lines", "paintlayer")
        document.rootNode().addChildNode(lines, None)
        if case["faces"]:
            lines.setPixelData(draw_faces(width, height, case["faces"]), 0, 0, width, height)
        document.setActiveNode(lines)
        document.waitForDone()
        if case.get("selection"):
            selection = Selection()
            selection.select(*case["selection"], 255)
            document.setSelection(selection)
        folder = Path(job["dump"]) / str(i)
        out: dict[str, Any] = {"before": dump_layers(document, folder / "before")}
        out["lines_rect"] = extent(lines)
        try:
            layer = sketch.face_from_sketch(document, runtime.shared_link(), job["follow"])
            out["new_layer"] = layer.name()
        except WorkerError as err:
            out["worker_error"] = {"code": err.code, "text": str(err)}
        document.waitForDone()
        out["after"] = dump_layers(document, folder / "after")
        cases.append(out)
        document.close()
    runtime.close()
    return {"cases": cases}


def draw_faces(width: int, height: int, faces: list[list[int]]) -> bytes:
    """Transparent B,G,R,A u8 pixels with, per (cx, cy, rx, ry), an elliptic outline 3 px
    thick and two eyes, in opaque black (no numpy in Krita's Python)."""
    data = bytearray(width * height * 4)
    for cx, cy, rx, ry in faces:
        eyes = [(cx - rx * 0.4, cy - ry * 0.25), (cx + rx * 0.4, cy - ry * 0.25)]
        eye_r = max(2.0, rx * 0.12)
        for y in range(max(0, cy - ry - 3), min(height, cy + ry + 4)):
            for x in range(max(0, cx - rx - 3), min(width, cx + rx + 4)):
                d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
                ring = abs(d**0.5 - 1.0) * min(rx, ry) <= 1.5
                eye = any((x - ex) ** 2 + (y - ey) ** 2 <= eye_r**2 for ex, ey in eyes)
                if ring or eye:
                    data[(y * width + x) * 4 + 3] = 255  # black: B, G, R stay 0
    return bytes(data)


def run_dump(job: dict[str, Any]) -> dict[str, Any]:
    from krita import Krita

    document = Krita.instance().openDocument(job["kra"])
    out = {"layers": dump_layers(document, Path(job["dump"]))}
    document.close()
    return out


def open_document(app: Any, job: dict[str, Any]) -> Any:
    if job.get("photo"):
        return app.openDocument(job["photo"])
    width, height = job["blank"]
    document = app.createDocument(width, height, "blank", "RGBA", "U8", "", 72.0)
    layer = document.rootNode().childNodes()[0]
    layer.setPixelData(b"\xc8" * (width * height * 4), 0, 0, width, height)  # light grey
    return document


def dump_layers(document: Any, folder: Path) -> list[dict[str, Any]]:
    """Every top-level layer, bottom to top: properties here, its pixels over its own extent
    (which may reach past the canvas) in folder/<i>.raw."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = []
    for i, node in enumerate(layers_of(document)):
        (folder / f"{i}.raw").write_bytes(pixels_of(node))
        layers.append(
            {
                "name": node.name(),
                "type": node.type(),
                "model": node.colorModel(),
                "depth": node.colorDepth(),
                "raw": str(folder / f"{i}.raw"),
                "rect": extent(node),
            }
        )
    return layers


def layers_of(document: Any) -> list[Any]:
    """Top-level layers, bottom to top, without the global selection's mask node."""
    return [n for n in document.rootNode().childNodes() if n.type() != "selectionmask"]


def extent(node: Any) -> list[int]:
    bounds = node.bounds()
    return [bounds.x(), bounds.y(), bounds.width(), bounds.height()]


def pixels_of(node: Any) -> bytes:
    return bytes(node.pixelData(*extent(node)))


def info_object() -> Any:
    from krita import InfoObject

    return InfoObject()


RUNS = {"apply": run_apply, "dump": run_dump, "new_face": run_new_face, "sketch": run_sketch}
