"""Krita layers in facesmith terms: which layer to edit, its pixels, the selection mask, and
the new layer that receives the result. Main thread only (the Krita API is not thread-safe).
"""

from __future__ import annotations

from typing import Any

from facesmith_host.errors import WorkerError
from facesmith_host.jobs import HostImage, Selection

# Krita's pixelData layout per colour depth: integer channels come as B,G,R,A, float as R,G,B,A.
DEPTHS = {
    "U8": ("u8", "BGRA", 1),
    "U16": ("u16", "BGRA", 2),
    "F16": ("f16", "RGBA", 2),
    "F32": ("f32", "RGBA", 4),
}
CONVERT_TO_RGB = "Convert the image to RGB: Image ▸ Convert Image Color Space… ▸ RGB/Alpha."

Node = Any  # krita.Node; the krita module only exists inside Krita
Document = Any  # krita.Document
Rect = tuple[int, int, int, int]  # x, y, width, height in image pixels


def source_layer(document: Document) -> Node:
    """The layer to edit: the active one, or the top paint layer when none is active
    (``activeNode()`` is None right after opening a document from a script)."""
    node = document.activeNode()
    if node is None:
        node = top_paint_layer(document.rootNode())
    if node is None:
        raise WorkerError(
            "unsupported_image", "this image has no paint layer to edit", "Add a paint layer."
        )
    if node.type() != "paintlayer":
        raise WorkerError(
            "unsupported_image",
            f"the active layer {node.name()!r} is a {node.type()}, not a paint layer",
            "Select the paint layer with the photo in the Layers docker.",
        )
    return node


def top_paint_layer(parent: Node) -> Node | None:
    """The topmost visible paint layer under ``parent``, looking inside groups."""
    for node in reversed(parent.childNodes()):  # childNodes() runs bottom to top
        if not node.visible():
            continue
        if node.type() == "paintlayer":
            return node
        found = top_paint_layer(node)
        if found is not None:
            return found
    return None


def pixel_layout(node: Node) -> tuple[str, str, int]:
    """(dtype, order, bytes per channel) of ``node``'s pixelData; WorkerError if not RGBA."""
    model, depth = node.colorModel(), node.colorDepth()
    if model != "RGBA":
        raise WorkerError(
            "unsupported_image",
            f"facesmith edits RGB images; the layer {node.name()!r} is {model} {depth}",
            CONVERT_TO_RGB,
        )
    if depth not in DEPTHS:
        raise WorkerError(
            "unsupported_image",
            f"facesmith cannot edit {depth} layers",
            "Convert the image to RGB/Alpha at 8 or 16 bits per channel.",
        )
    return DEPTHS[depth]


def extent(node: Node) -> Rect:
    """(x, y, width, height) of everything on ``node``, in image coordinates: it may reach
    past the canvas, and all of it is copied to the new layer."""
    bounds = node.bounds()
    if bounds.isEmpty():
        raise WorkerError(
            "unsupported_image", f"the layer {node.name()!r} is empty", "Pick the photo's layer."
        )
    return bounds.x(), bounds.y(), bounds.width(), bounds.height()


def read_image(node: Node, rect: Rect) -> HostImage:
    """``node``'s pixels in ``rect``, laid out as Krita hands them over."""
    dtype, order, _ = pixel_layout(node)
    x, y, width, height = rect
    return HostImage(width, height, 4, dtype, order, bytes(node.pixelData(x, y, width, height)))


def read_selection(document: Document, rect: Rect) -> Selection | None:
    """The document's selection over ``rect`` as an 8-bit mask, or None without one."""
    selection = document.selection()
    if selection is None:
        return None
    x, y, width, height = rect
    return Selection(width, height, bytes(selection.pixelData(x, y, width, height)))


def detached_layer(document: Document, like: Node, name: str, data: bytes, rect: Rect) -> Node:
    """A paint layer in ``like``'s colour space holding ``data`` at ``rect`` (x, y, w, h),
    not yet in the layer tree: filling it there costs no undo step of its own."""
    layer = document.createNode(name, "paintlayer")
    space = (like.colorModel(), like.colorDepth(), like.colorProfile())
    if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) != space:
        layer.setColorSpace(*space)
    x, y, width, height = rect
    layer.setPixelData(data, x, y, width, height)
    return layer


def add_above(source: Node, layer: Node) -> None:
    """Put ``layer`` directly above ``source`` in one step (one undo entry)."""
    parent = source.parentNode()
    if parent is None:
        raise WorkerError(
            "bad_request",
            f"the layer {source.name()!r} was removed while facesmith was working",
            "Nothing was changed; run the edit again.",
        )
    if not parent.addChildNode(layer, source):
        raise WorkerError("internal", "Krita refused to add the new layer")
