#!/usr/bin/env python3
"""facesmith for GIMP 3: Filters ▸ facesmith ▸ Older, Younger, Bald, …, Edit faces…, New random
face…, Face from sketch… and Set up….

Each procedure reads the selected layer through GEGL, hands it to the facesmith runtime (a child
process in its own Python environment, see facesmith_host) and adds the result as a new layer
directly above the source, in one undo group. The source layer is never written, and nothing is
added when anything fails. Scripts call the procedures non-interactively with their arguments:

    pdb.lookup_procedure("plug-in-facesmith-older")   # strength: 0–100 % of the edit's range
    pdb.lookup_procedure("plug-in-facesmith-edit")    # edit: "age", strength: in the pack's units
    pdb.lookup_procedure("plug-in-facesmith-new-face")  # seed: -1 for a random face
    pdb.lookup_procedure("plug-in-facesmith-sketch")  # follow: 0–1; seed: whose colours
    pdb.lookup_procedure("plug-in-facesmith-set-up")  # server, token, wheels: the runtime
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The installer puts facesmith_host and facesmith_gimp beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Babl", "0.1")
gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
import facesmith_gimp as rules  # noqa: E402
from gi.repository import Babl, GdkPixbuf, Gegl, Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

try:
    from facesmith_host import jobs
    from facesmith_host.config import load_config, worker_command
    from facesmith_host.errors import WorkerError
    from facesmith_host.link import WorkerLink
except ImportError as missing:  # a broken install still shows its menu entry, and says why
    jobs = None  # type: ignore[assignment]
    HOST_MISSING: ImportError | None = missing

    class WorkerError(Exception):  # type: ignore[no-redef]
        def __init__(self, code: str, message: str, hint: str = "") -> None:
            super().__init__(message)
            self.code, self.message, self.hint = code, message, hint
else:
    HOST_MISSING = None

PLUG_IN_BINARY = "facesmith"
REINSTALL = "Run the facesmith installer again (installers/install.py)."
REPORT_BUG = "This is a bug in facesmith; please report it with the message above."
PREVIEW_SHOT_ENV = "FACESMITH_GIMP_PREVIEW_FILE"  # set: the dialog's preview is saved there


# -- the request a procedure makes ---------------------------------------------------------------


class EditRequest:
    """What one procedure asks for: a menu preset (strength in % of its range) or a named edit
    (strength in the pack's units)."""

    def __init__(self, title: str, preset: jobs.Preset | None = None) -> None:
        self.title = title
        self.preset = preset

    def edits(self, config: Gimp.ProcedureConfig, status: jobs.ServerStatus) -> list:
        if self.preset is not None and self.preset.mode == "swap":
            return [jobs.preset_edit(self.preset, status)]  # nothing to ask: no strength
        strength = float(config.get_property("strength"))
        if self.preset is not None:
            fraction = rules.preset_fraction(self.preset.fraction, strength)
            preset = dataclasses.replace(self.preset, fraction=fraction)
            return [(preset.edit, jobs.preset_strength(preset, status))]
        name = str(config.get_property("edit") or "").strip()
        edit = status.edit(name)  # unknown_edit, naming what the pack offers
        if not edit.min <= strength <= edit.max:
            raise WorkerError(
                "bad_request",
                f"strength {strength:g} is outside the {name!r} edit's range "
                f"{edit.min:g} … {edit.max:g}",
                "Pick a strength inside that range.",
            )
        return [(name, strength)]

    @staticmethod
    def fast(config: Gimp.ProcedureConfig, status: jobs.ServerStatus, edits: list) -> bool:
        """Whether the "one pass" box is ticked; WorkerError if the pack cannot do these edits
        in one pass."""
        if config.find_property("fast") is None or not config.get_property("fast"):
            return False
        status.check_fast(edits)
        return True


# -- GIMP pixels ---------------------------------------------------------------------------------


def source_layer(image: Gimp.Image, drawables: list) -> Gimp.Layer:
    """The one paint layer to edit; WorkerError naming the fix otherwise."""
    if image.get_base_type() != Gimp.ImageBaseType.RGB:
        raise WorkerError(
            "unsupported_image",
            "this image is grayscale or indexed; faces are edited in RGB images only.",
            "Choose Image ▸ Mode ▸ RGB, then run the filter again.",
        )
    if len(drawables) != 1:
        raise WorkerError(
            "unsupported_image",
            f"{len(drawables) or 'no'} layers are selected; faces are edited one layer at a time.",
            "Select a single layer in the Layers dialog.",
        )
    drawable = drawables[0]
    if not drawable.is_layer() or drawable.is_group_layer():
        raise WorkerError(
            "unsupported_image",
            f"{drawable.get_name()!r} is not a paint layer (a mask, channel or layer group).",
            "Select the photo's layer itself in the Layers dialog.",
        )
    return drawable


def layer_rect(layer: Gimp.Drawable) -> rules.Rect:
    _, x, y = layer.get_offsets()
    return rules.Rect(x, y, layer.get_width(), layer.get_height())


def gegl_rect(rect: rules.Rect) -> Gegl.Rectangle:
    return Gegl.Rectangle.new(rect.x, rect.y, rect.width, rect.height)


def babl_name(fmt: rules.PixelFormat, layer: Gimp.Drawable) -> str:
    """``fmt``'s encoding in the layer's colour space, so that GEGL converts nothing but the
    sample type (a Display P3 or Adobe RGB photo keeps its values exactly)."""
    return Babl.get_name(Babl.format_with_space(fmt.encoding, layer.get_format()))


def read_layer(layer: Gimp.Layer, fmt: rules.PixelFormat) -> jobs.HostImage:
    rect = rules.Rect(0, 0, layer.get_width(), layer.get_height())
    data = layer.get_buffer().get(
        gegl_rect(rect), 1.0, babl_name(fmt, layer), Gegl.AbyssPolicy.CLAMP
    )
    return jobs.HostImage(rect.width, rect.height, fmt.channels, fmt.dtype, fmt.order, data)


def read_selection(image: Gimp.Image, layer: Gimp.Layer) -> jobs.Selection | None:
    """The selection over the layer's extent as an 8-bit mask; None when nothing is selected."""
    if Gimp.Selection.is_empty(image):
        return None
    _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    area = layer_rect(layer)
    if rules.selection_misses(area, rules.Rect(x1, y1, x2 - x1, y2 - y1)):
        raise WorkerError(
            "no_face",
            f"the selection lies outside the layer {layer.get_name()!r}.",
            "Select around the faces on this layer, or choose Select ▸ None to edit every face.",
        )
    # The mask lives in image coordinates; outside the image it reads as unselected.
    mask = image.get_selection().get_buffer()
    data = mask.get(gegl_rect(area), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    return jobs.Selection(area.width, area.height, data)


def add_result_layer(
    image: Gimp.Image,
    source: Gimp.Layer,
    sent: jobs.HostImage,
    fmt: rules.PixelFormat,
    name: str,
    returned: bytes,
) -> Gimp.Layer:
    """A new layer directly above ``source``, at its offsets and with its opacity and mode: an
    exact copy of the source's pixels with the rows' changed spans written over it. One undo
    group; the layer is removed again if anything fails half-way."""
    area = layer_rect(source)
    kind = Gimp.ImageType.RGBA_IMAGE if fmt.channels == 4 else Gimp.ImageType.RGB_IMAGE
    layer = Gimp.Layer.new(
        image, name, area.width, area.height, kind, source.get_opacity(), source.get_mode()
    )
    # at the source's own index in its parent (0 = top): directly above it
    with inserted(image, layer, source.get_parent(), image.get_item_position(source)):
        layer.set_offsets(area.x, area.y)
        write_pixels(layer, source, sent, fmt, returned)
    return layer


@contextlib.contextmanager
def inserted(image: Gimp.Image, layer: Gimp.Layer, parent: Any, position: int) -> Iterator[None]:
    """``layer`` inserted (and then selected) in one undo group; removed again if the body
    fails half-way, so a failed run adds nothing."""
    image.undo_group_start()
    placed = False
    try:
        image.insert_layer(layer, parent, position)
        placed = True
        yield
        image.set_selected_layers([layer])
    except Exception:
        if placed:
            image.remove_layer(layer)
        else:
            layer.delete()
        raise
    finally:
        image.undo_group_end()


def write_pixels(
    layer: Gimp.Layer,
    source: Gimp.Layer,
    sent: jobs.HostImage,
    fmt: rules.PixelFormat,
    returned: bytes,
) -> None:
    whole = gegl_rect(rules.Rect(0, 0, sent.width, sent.height))
    buffer = layer.get_buffer()
    source.get_buffer().copy(whole, Gegl.AbyssPolicy.NONE, buffer, whole)  # same format: exact
    encoding = babl_name(fmt, source)
    pixel_bytes = fmt.pixel_bytes
    row_bytes = sent.width * pixel_bytes
    for y, x0, x1 in rules.changed_spans(
        bytes(sent.data), returned, sent.width, sent.height, pixel_bytes
    ):
        start = y * row_bytes
        span = returned[start + x0 * pixel_bytes : start + x1 * pixel_bytes]
        buffer.set(Gegl.Rectangle.new(x0, y, x1 - x0, 1), encoding, span)
    buffer.flush()
    layer.update(0, 0, sent.width, sent.height)


# -- one run -------------------------------------------------------------------------------------


def progress_reporter(title: str):
    Gimp.progress_init(f"facesmith: {title}")

    def report(fraction: float, stage: str) -> None:
        if stage:
            Gimp.progress_set_text(f"facesmith: {title} — {stage}")
        Gimp.progress_update(min(max(fraction, 0.0), 1.0))

    return report


def require_host() -> None:
    """WorkerError (``not_installed``) if the plug-in's facesmith_host files did not import."""
    if HOST_MISSING is not None:
        raise WorkerError(
            "not_installed",
            f"the plug-in's facesmith_host files are missing ({HOST_MISSING}).",
            REINSTALL,
        )


def edit_image(
    image: Gimp.Image, drawables: list, config: Gimp.ProcedureConfig, request: EditRequest
) -> Gimp.Layer:
    """Read, edit through the runtime, then write the new layer → that layer."""
    require_host()
    source = source_layer(image, drawables)
    fmt = rules.pixel_format(image.get_precision().value_nick, source.has_alpha())
    pixels = read_layer(source, fmt)
    selection = read_selection(image, source)
    link = WorkerLink(*worker_command(load_config()))
    try:
        report = progress_reporter(request.title)
        report(0.0, "starting the facesmith runtime")
        status = jobs.server_info(link)
        edits = request.edits(config, status)
        fast = request.fast(config, status, edits)
        outcome = jobs.edit(link, pixels, edits, selection=selection, fast=fast, on_progress=report)
    finally:
        link.close()
        Gimp.progress_end()
    if outcome.faces_edited == 0:
        where = "inside the selection" if selection is not None else "in this layer"
        raise WorkerError(
            "no_face",
            f"no face was found {where}.",
            "Faces need to be at least 40 pixels across; select the layer holding them.",
        )
    name = jobs.layer_name(edits)
    layer = add_result_layer(image, source, pixels, fmt, name, bytes(outcome.data))
    if outcome.notes:  # e.g. a swap that stopped at its range's end: the layer is still made
        Gimp.message("facesmith: " + "\n".join(outcome.notes))
    return layer


def new_face_layer(image: Gimp.Image, config: Gimp.ProcedureConfig) -> Gimp.Layer:
    """A face that does not exist, as a new layer holding the face as large as fits the
    selection's bounds (or the image), centred in them; above the selected layer, one undo
    group."""
    require_host()
    if image.get_base_type() != Gimp.ImageBaseType.RGB:
        raise WorkerError(
            "unsupported_image",
            "this image is grayscale or indexed; new faces are made in RGB images only.",
            "Choose Image ▸ Mode ▸ RGB, then run it again.",
        )
    seed = rules.chosen_seed(int(config.get_property("seed")))
    area = rules.Rect(0, 0, image.get_width(), image.get_height())
    if not Gimp.Selection.is_empty(image):
        _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
        area = rules.Rect(x1, y1, x2 - x1, y2 - y1)
    fmt = rules.pixel_format(image.get_precision().value_nick, True)
    link = WorkerLink(*worker_command(load_config()))
    try:
        report = progress_reporter(rules.NEW_FACE_LABEL)
        report(0.0, "starting the facesmith runtime")
        face = jobs.generate(link, seed, area.width, area.height, dtype=fmt.dtype,
                             order=fmt.order, on_progress=report)  # fmt: skip
    finally:
        link.close()
        Gimp.progress_end()
    square = rules.Rect(area.x + face.left, area.y + face.top, face.image.width, face.image.height)
    return add_face_layer(image, square, fmt, f"facesmith: face {seed}", bytes(face.image.data))


def add_face_layer(
    image: Gimp.Image,
    area: rules.Rect,
    fmt: rules.PixelFormat,
    name: str,
    data: bytes,
    above: Gimp.Layer | None = None,
) -> Gimp.Layer:
    """A new opaque-face layer holding ``data`` (``fmt``, RGBA) at ``area``, directly above
    ``above`` (None: above the selected layer); one undo group."""
    layer = Gimp.Layer.new(image, name, area.width, area.height, Gimp.ImageType.RGBA_IMAGE,
                           100.0, Gimp.LayerMode.NORMAL)  # fmt: skip
    parent, position = None, -1  # -1: above the selected layer
    if above is not None:  # at its own index in its parent (0 = top): directly above it
        parent, position = above.get_parent(), image.get_item_position(above)
    with inserted(image, layer, parent, position):
        layer.set_offsets(area.x, area.y)
        buffer = layer.get_buffer()
        buffer.set(gegl_rect(rules.Rect(0, 0, area.width, area.height)), babl_name(fmt, layer),
                   data)  # fmt: skip
        buffer.flush()
        layer.update(0, 0, area.width, area.height)
    return layer


def sketch_face_layer(
    image: Gimp.Image, drawables: list, config: Gimp.ProcedureConfig
) -> Gimp.Layer:
    """The face the lines on the selected layer show (only those inside the selection, if
    any), as a new layer directly above it where and as large as they were drawn (clipped to
    the image); one undo group. The drawing's layer is only read."""
    require_host()
    source = source_layer(image, drawables)
    precision = image.get_precision().value_nick
    fmt = rules.pixel_format(precision, source.has_alpha())
    area = layer_rect(source)
    selection = None
    if not Gimp.Selection.is_empty(image):
        _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
        chosen = rules.overlap(area, rules.Rect(x1, y1, x2 - x1, y2 - y1))
        if chosen is None:
            raise jobs.no_lines()
        area = chosen
        mask = image.get_selection().get_buffer()  # in image coordinates
        data = mask.get(gegl_rect(area), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
        selection = jobs.Selection(area.width, area.height, data)
    _, x, y = source.get_offsets()
    inside = rules.Rect(area.x - x, area.y - y, area.width, area.height)  # layer coordinates
    data = source.get_buffer().get(gegl_rect(inside), 1.0, babl_name(fmt, source),
                                   Gegl.AbyssPolicy.CLAMP)  # fmt: skip
    drawing = jobs.HostImage(area.width, area.height, fmt.channels, fmt.dtype, fmt.order, data)
    canvas = (-area.x, -area.y, image.get_width(), image.get_height())  # from the drawing
    follow = float(config.get_property("follow"))
    seed = rules.chosen_seed(int(config.get_property("seed")))
    link = WorkerLink(*worker_command(load_config()))
    try:
        report = progress_reporter(rules.SKETCH_LABEL)
        report(0.0, "starting the facesmith runtime")
        jobs.server_info(link).check_sketch()
        face = jobs.sketch(link, drawing, follow, seed=seed, selection=selection,
                           canvas=canvas, on_progress=report)  # fmt: skip
    finally:
        link.close()
        Gimp.progress_end()
    square = rules.Rect(area.x + face.left, area.y + face.top, face.image.width,
                        face.image.height)  # fmt: skip
    fmt = rules.pixel_format(precision, True)  # the face comes back with alpha
    return add_face_layer(image, square, fmt, rules.SKETCH_LAYER_NAME, bytes(face.image.data),
                          above=source)  # fmt: skip


def run_sketch(procedure, run_mode, image, drawables, config, _data):
    if run_mode == Gimp.RunMode.INTERACTIVE and not ask(procedure, config, rules.SKETCH_LABEL):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return finish_run(procedure, lambda: sketch_face_layer(image, list(drawables), config))


def run_new_face(procedure, run_mode, image, _drawables, config, _data):
    if run_mode == Gimp.RunMode.INTERACTIVE and not ask(procedure, config, rules.NEW_FACE_LABEL):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return finish_run(procedure, lambda: new_face_layer(image, config))


def set_up(config: Gimp.ProcedureConfig) -> str:
    """Make the runtime (this computer, or a client of a server elsewhere; from the internet
    or a folder of wheel files) and write runtime.json → what was done."""
    require_host()
    from facesmith_host import setup

    server = str(config.get_property("server") or "").strip() or "local"
    if server != "local":
        setup.check_server(server)
    wheels = str(config.get_property("wheels") or "").strip()
    found = setup.find_hardware()
    hardware = "cpu" if server != "local" else found[-1].kind  # a GPU when there is one
    plan = setup.make_plan(hardware, Path(__file__).parent, Path(wheels) if wheels else None,
                           server, str(config.get_property("token") or ""))  # fmt: skip
    report = progress_reporter(rules.SETUP_LABEL)
    try:
        setup.run_setup(plan, report, lambda line: print(line, file=sys.stderr, flush=True),
                        threading.Event())  # fmt: skip
    finally:
        Gimp.progress_end()
    return f"facesmith is set up: {plan.runtime} ({found[-1].name}), server {server}"


def run_set_up(procedure, run_mode, _image, _drawables, config, _data):
    if run_mode == Gimp.RunMode.INTERACTIVE and not ask(procedure, config, rules.SETUP_LABEL):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return finish_run(procedure, lambda: Gimp.message(set_up(config)))


def finish_run(procedure: Gimp.Procedure, work: Callable[[], object]) -> Any:
    """Run a procedure's ``work`` → its return values: success, or the error in words with
    the next step (never a plug-in crash)."""
    try:
        work()
    except WorkerError as err:
        text = rules.error_text(err.message, err.hint)
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(text))
    except Exception as err:  # a GEGL error or a bad reply: a message, not a plug-in crash
        text = rules.error_text(f"facesmith failed: {type(err).__name__}: {err}", REPORT_BUG)
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(text))
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class FacePreview:
    """The edit dialog's picture of the first face (inside the selection, if any), rendered by
    the runtime at its fast preview resolution from a crop around the face."""

    FORMAT = rules.PixelFormat("R'G'B'A u8", "u8", 4, "RGBA")

    def __init__(self, image: Gimp.Image, drawables: list, request: EditRequest) -> None:
        self.request = request
        source = source_layer(image, drawables)
        self.link = WorkerLink(*worker_command(load_config()))
        whole = read_layer(source, self.FORMAT)
        found = jobs.detect(self.link, whole, read_selection(image, source))
        faces = [f for f in found if f.in_selection]
        if not faces:
            raise WorkerError("no_face", "no face to preview", "")
        area = rules.preview_box(faces[0].box, whole.width, whole.height)
        data = source.get_buffer().get(gegl_rect(area), 1.0, babl_name(self.FORMAT, source),
                                       Gegl.AbyssPolicy.CLAMP)  # fmt: skip
        self.crop = jobs.HostImage(area.width, area.height, 4, "u8", "RGBA", data)
        face = faces[0]
        self.face = dataclasses.replace(
            face,
            box=(face.box[0] - area.x, face.box[1] - area.y, face.box[2] - area.x,
                 face.box[3] - area.y),
            landmarks=tuple((x - area.x, y - area.y) for x, y in face.landmarks),
        )  # fmt: skip
        self.status = jobs.server_info(self.link)

    def render(self, config: Gimp.ProcedureConfig) -> GdkPixbuf.Pixbuf:
        edits = self.request.edits(config, self.status)
        fast = self.request.fast(config, self.status, edits)
        outcome = jobs.edit(
            self.link, self.crop, edits, faces=[self.face], preview=not fast, fast=fast
        )
        crop = self.crop
        pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(
            GLib.Bytes.new(bytes(outcome.data)), GdkPixbuf.Colorspace.RGB, True, 8,
            crop.width, crop.height, crop.width * 4,
        )  # fmt: skip
        scale = rules.PREVIEW_SIDE / max(crop.width, crop.height)
        width, height = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
        return pixbuf.scale_simple(width, height, GdkPixbuf.InterpType.BILINEAR)

    def close(self) -> None:
        self.link.close()


def ask_with_preview(
    procedure: Gimp.Procedure,
    config: Gimp.ProcedureConfig,
    request: EditRequest,
    image: Gimp.Image,
    drawables: list,
) -> bool:
    """The procedure's dialog with a preview of the first face, rendered again whenever the
    strength or the edit changes; without a preview (no face, no runtime) it says why."""
    GimpUi.init(PLUG_IN_BINARY)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, f"facesmith: {request.title}")
    dialog.fill(None)
    picture, note = Gtk.Image.new(), Gtk.Label.new("")
    note.set_line_wrap(True)
    for widget in (picture, note):
        dialog.get_content_area().pack_start(widget, False, False, 6)
        widget.show()
    preview = None
    try:
        preview = FacePreview(image, drawables, request)
    except WorkerError as err:
        note.set_text(f"No preview: {err.message}")
    except Exception as err:  # a GEGL error: the dialog still works, without a preview
        note.set_text(f"No preview: {type(err).__name__}: {err}")

    def refresh(*_: object) -> None:
        if preview is None:
            return
        try:
            pixbuf = preview.render(config)
        except WorkerError as err:
            note.set_text(f"No preview: {err.message}")
            return
        picture.set_from_pixbuf(pixbuf)
        note.set_text("Preview of the first face (fast, low resolution)")
        shot = os.environ.get(PREVIEW_SHOT_ENV)
        if shot:  # for the tests and the README's picture
            pixbuf.savev(shot, "png", [], [])

    refresh()
    for name in ("strength", "edit", "fast"):
        if config.find_property(name) is not None:
            config.connect(f"notify::{name}", refresh)
    try:
        return bool(dialog.run())
    finally:
        if preview is not None:
            preview.close()
        dialog.destroy()


def ask(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, title: str) -> bool:
    GimpUi.init(PLUG_IN_BINARY)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, f"facesmith: {title}")
    dialog.fill(None)
    accepted = dialog.run()
    dialog.destroy()
    return bool(accepted)


def make_run(request: EditRequest):
    def run(procedure, run_mode, image, drawables, config, _data):
        if run_mode == Gimp.RunMode.INTERACTIVE and not ask_with_preview(
            procedure, config, request, image, list(drawables)
        ):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        return finish_run(procedure, lambda: edit_image(image, list(drawables), config, request))

    return run


# -- registration --------------------------------------------------------------------------------


def presets() -> dict[str, jobs.Preset]:
    return {} if jobs is None else {rules.preset_procedure(p.key): p for p in jobs.PRESETS}


class Facesmith(Gimp.PlugIn):
    def do_set_i18n(self, _name):
        return False

    def do_query_procedures(self):
        return [*presets(), rules.EDIT_PROCEDURE, rules.NEW_FACE_PROCEDURE,
                rules.SKETCH_PROCEDURE, rules.SETUP_PROCEDURE]  # fmt: skip

    def do_create_procedure(self, name):
        if name == rules.NEW_FACE_PROCEDURE:
            return self._new_face_procedure(name)
        if name == rules.SKETCH_PROCEDURE:
            return self._sketch_procedure(name)
        if name == rules.SETUP_PROCEDURE:
            return self._set_up_procedure(name)
        preset = presets().get(name)
        label = preset.label if preset is not None else "Edit faces"
        request = EditRequest(label, preset)
        procedure = Gimp.ImageProcedure.new(
            self, name, Gimp.PDBProcType.PLUGIN, make_run(request), None
        )
        procedure.set_image_types("RGB*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(f"{label}…" if preset is None else label)
        procedure.add_menu_path(rules.MENU_PATH)
        procedure.set_attribution("facesmith", "facesmith contributors", "2025")
        flags = GObject.ParamFlags.READWRITE
        procedure.add_boolean_argument(
            "fast", "One _pass (fast)", "Edit in one pass with the pack's students (much "
            "faster, coarser; only the edits the pack distilled)", False, flags,
        )  # fmt: skip
        if preset is None:
            procedure.set_documentation(
                "Edit the faces in the layer with a facesmith edit",
                "Adds a new layer above the selected one with every face (inside the selection, "
                "if any) edited by the named edit of the server's model pack. The pack's edits "
                "come in groups (age, gender, hair, hair colour, beard, expression, eyes, nose, "
                "mouth, face shape, skin, makeup, accessories, pose, …): `facesmith info` "
                "lists them, and an unknown name is answered with that list.",
                name,
            )
            procedure.add_string_argument(
                "edit", "_Edit", "Edit name (age, bald, beard, bangs, …; by group in "
                "`facesmith info`)", "age", flags,
            )  # fmt: skip
            procedure.add_double_argument(
                "strength", "S_trength", "Strength in the edit's units", -1000, 1000, 20, flags
            )
        else:
            procedure.set_documentation(
                f"facesmith: {label}",
                f"Adds a new layer above the selected one with every face (inside the selection, "
                f"if any) edited: {label.lower()}.",
                name,
            )
            if preset.mode == "swap":
                return procedure  # a swap has no strength to ask for
            procedure.add_double_argument(
                "strength",
                "S_trength (%)",
                "Share of the edit's full range, in percent",
                0,
                100,
                round(abs(preset.fraction) * 100),
                flags,
            )
        return procedure

    def _new_face_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_new_face, None)
        procedure.set_image_types("RGB*")
        mask = Gimp.ProcedureSensitivityMask
        procedure.set_sensitivity_mask(mask.DRAWABLE | mask.DRAWABLES | mask.NO_DRAWABLES)
        procedure.set_menu_label(f"{rules.NEW_FACE_LABEL}…")
        procedure.add_menu_path(rules.MENU_PATH)
        procedure.set_attribution("facesmith", "facesmith contributors", "2025")
        procedure.set_documentation(
            "facesmith: a face that does not exist, as a new layer",
            "Adds a new layer above the selected one holding a face that does not exist, "
            "scaled to fit the selection (or the whole image) and centred in it. The same seed "
            "gives the same face; -1 picks a new one each time.",
            name,
        )
        procedure.add_int_argument(
            "seed", "_Seed", "The face's seed (-1: a random one)", -1, rules.MAX_SEED, -1,
            GObject.ParamFlags.READWRITE,
        )  # fmt: skip
        return procedure

    def _sketch_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_sketch, None)
        procedure.set_image_types("RGB*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(f"{rules.SKETCH_LABEL}…")
        procedure.add_menu_path(rules.MENU_PATH)
        procedure.set_attribution("facesmith", "facesmith contributors", "2025")
        procedure.set_documentation(
            "facesmith: the face a line drawing shows, as a new layer",
            "Makes the face that the dark lines on the selected layer show (on a transparent "
            "layer or on light paper; only the lines inside the selection, if there is one) "
            "and adds it as a new layer directly above, where and as large as the lines were "
            "drawn. Follow: how closely the face follows the lines, 0 (fastest) to 1. Seed: "
            "the face whose colours it takes (-1: a random one).",
            name,
        )
        procedure.add_double_argument(
            "follow", "_Follow the lines", "How closely the face follows the lines: 0 is "
            "fastest and best for hand drawings; more follows lines traced from a photo (slower)",
            0.0, 1.0, rules.DEFAULT_FOLLOW,
            GObject.ParamFlags.READWRITE,
        )  # fmt: skip
        procedure.add_int_argument(
            "seed", "_Colours from seed", "The face whose colours it takes (-1: a random one; "
            "another seed, another variation)", -1, rules.MAX_SEED, 0,
            GObject.ParamFlags.READWRITE,
        )  # fmt: skip
        return procedure

    def _set_up_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_set_up, None)
        mask = Gimp.ProcedureSensitivityMask
        procedure.set_sensitivity_mask(
            mask.DRAWABLE | mask.DRAWABLES | mask.NO_DRAWABLES | mask.NO_IMAGE
        )
        procedure.set_menu_label(f"{rules.SETUP_LABEL}…")
        procedure.add_menu_path(rules.MENU_PATH)
        procedure.set_attribution("facesmith", "facesmith contributors", "2025")
        procedure.set_documentation(
            "facesmith: set up the runtime that edits faces",
            "Creates facesmith's runtime in your user data folder and installs torch and "
            "facesmith into it (a few minutes; progress below), then the other facesmith "
            "filters work. Leave Server empty to edit on this computer (its GPU when one is "
            "found), or give HOST:PORT of a facesmith server elsewhere. Without internet, give "
            "a folder holding the wheel files (torch for your system, facenet-pytorch 2.6.0).",
            name,
        )
        flags = GObject.ParamFlags.READWRITE
        procedure.add_string_argument(
            "server", "_Server elsewhere", "HOST:PORT (empty: this computer)", "", flags
        )
        procedure.add_string_argument("token", "_Token", "the server's token, if any", "", flags)
        procedure.add_string_argument(
            "wheels", "_Wheel folder", "install only from this folder (no internet)", "", flags
        )
        return procedure


Gimp.main(Facesmith.__gtype__, sys.argv)
