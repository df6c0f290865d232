"""Face detection: MTCNN's three stages on any image of the pixel conventions.

The proposal stage runs on a downscaled 8-bit copy (cheap even for 12-megapixel photos); the
refine and output stages read their crops from the full-resolution image, so boxes and
landmarks keep full precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from facesmith import pixels
from facesmith_client.vision.mtcnn import ONet, PNet, RNet, load_nets

PYRAMID_FACTOR = 0.709
PNET_CELL, PNET_STRIDE = 12, 2
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.9)  # last stage stricter than the paper: a false face gets edited


@dataclass(frozen=True)
class Face:
    """A detected face. box: (x0, y0, x1, y1) in image pixels; landmarks: [5, 2] (x, y) of
    left eye, right eye, nose, mouth left, mouth right (left/right as seen in the image)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray = field(repr=False)

    @property
    def size(self) -> float:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class Detector:
    pnet: PNet
    rnet: RNet
    onet: ONet
    device: torch.device


def load_detector(device: torch.device | str = "cpu") -> Detector:
    pnet, rnet, onet = load_nets(device)
    return Detector(pnet, rnet, onet, torch.device(device))


def detect_faces(
    image: np.ndarray,
    detector: Detector,
    min_face_size: int = 40,
    thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS,
) -> list[Face]:
    """Faces of at least ``min_face_size`` pixels in ``image`` (gray/RGB/RGBA, 8/16-bit or
    float), sorted left to right."""
    if min_face_size < PNET_CELL:
        raise ValueError(f"min_face_size must be at least {PNET_CELL} pixels")
    levels = _halvings(_rgb8(image))
    with torch.inference_mode():
        boxes = _propose(levels, detector, min_face_size, thresholds[0])
        boxes = _refine(levels, detector, boxes, thresholds[1])
        faces = _output(levels, detector, boxes, thresholds[2])
    return sorted(faces, key=lambda f: f.box[0])


def _rgb8(image: np.ndarray) -> np.ndarray:
    """RGB uint8 for the networks (detection needs no more depth): [H, W, 3], contiguous."""
    rgb = np.ascontiguousarray(pixels.rgb(image))
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.float32:
        rgb = cv2.threshold(rgb, 0.0, 0.0, cv2.THRESH_TOZERO)[1]  # negatives → 0, not |x|
    # One rounding, saturating pass: ~10× faster than going through float on 12 megapixels.
    return cv2.convertScaleAbs(rgb, alpha=255.0 / pixels.max_value(rgb.dtype))


def _halvings(rgb8: np.ndarray) -> list[np.ndarray]:
    """The image at scales 1, 1/2, 1/4, … (down to ~64 px): every resize below starts from the
    smallest level that is still large enough, which keeps 12-megapixel photos cheap."""
    levels = [rgb8]
    while min(levels[-1].shape[:2]) >= 128:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    return levels


def _level_for(levels: list[np.ndarray], scale: float) -> tuple[np.ndarray, float]:
    """The smallest level at least ``scale`` of full size, and its own scale."""
    index = min(int(np.floor(np.log2(1 / scale))) if scale < 1 else 0, len(levels) - 1)
    return levels[index], levels[index].shape[1] / levels[0].shape[1]


def _to_tensor(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N,H,W,3] → the nets' input [N,3,H,W] (channels-last memory), (x − 127.5) / 128."""
    t = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float()
    return ((t - 127.5) * 0.0078125).contiguous(memory_format=torch.channels_last)


# -- stage 1: proposals over a scale pyramid --------------------------------------------------


def pyramid_scales(height: int, width: int, min_face_size: int) -> list[float]:
    """Scales at which a ``min_face_size`` face and every larger one fill P-Net's 12×12 cell."""
    scale = PNET_CELL / min_face_size
    smallest_side = min(height, width) * scale
    scales = []
    while smallest_side >= PNET_CELL:
        scales.append(scale)
        scale *= PYRAMID_FACTOR
        smallest_side *= PYRAMID_FACTOR
    return scales


def _propose(
    levels: list[np.ndarray], det: Detector, min_face_size: int, threshold: float
) -> np.ndarray:
    """Candidate boxes [K, 5] (x0, y0, x1, y1, score), squared, in image pixels."""
    h, w = levels[0].shape[:2]
    found = []
    for scale in pyramid_scales(h, w, min_face_size):
        size = (int(w * scale + 1), int(h * scale + 1))
        small = cv2.resize(_level_for(levels, scale)[0], size, interpolation=cv2.INTER_AREA)
        reg, prob = det.pnet(_to_tensor(small[None], det.device))
        boxes = _pnet_boxes(reg[0].cpu().numpy(), prob[0].cpu().numpy(), scale, threshold)
        found.append(boxes[nms(boxes, 0.5)])
    boxes = np.concatenate(found) if found else np.zeros((0, 9), np.float32)
    boxes = boxes[nms(boxes, 0.7)]
    return _square(_regress(boxes[:, :5], boxes[:, 5:9]))


def _pnet_boxes(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """P-Net maps → [K, 9]: box in image pixels, score, 4 offsets."""
    ys, xs = np.nonzero(prob >= threshold)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    top_left = np.floor((PNET_STRIDE * cells + 1) / scale)
    bottom_right = np.floor((PNET_STRIDE * cells + PNET_CELL) / scale)
    offsets = reg[:, ys, xs].T
    return np.hstack([top_left, bottom_right, prob[ys, xs, None], offsets]).astype(np.float32)


# -- stages 2 and 3: refine and output on full-resolution crops -------------------------------


def _refine(
    levels: list[np.ndarray], det: Detector, boxes: np.ndarray, threshold: float
) -> np.ndarray:
    if len(boxes) == 0:
        return boxes
    reg, prob = det.rnet(_to_tensor(_crops(levels, boxes, 24), det.device))
    keep = (prob >= threshold).cpu().numpy()
    boxes = np.hstack([boxes[keep, :4], prob.cpu().numpy()[keep, None]])
    reg_np = reg.cpu().numpy()[keep]
    order = nms(boxes, 0.7)
    return _square(_regress(boxes[order], reg_np[order]))


def _output(
    levels: list[np.ndarray], det: Detector, boxes: np.ndarray, threshold: float
) -> list[Face]:
    if len(boxes) == 0:
        return []
    reg, marks, prob = det.onet(_to_tensor(_crops(levels, boxes, 48), det.device))
    keep = (prob >= threshold).cpu().numpy()
    boxes = np.hstack([boxes[keep, :4], prob.cpu().numpy()[keep, None]])
    landmarks = _landmarks(boxes, marks.cpu().numpy()[keep])
    boxes = _regress(boxes, reg.cpu().numpy()[keep])
    order = nms(boxes, 0.7, by_smaller=True)
    return [
        Face(tuple(float(v) for v in boxes[i, :4]), float(boxes[i, 4]), landmarks[i])  # type: ignore[arg-type]
        for i in order
    ]


def _landmarks(boxes: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """O-Net's relative points → [K, 5, 2] image pixels."""
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    xs = w * marks[:, :5] + boxes[:, 0:1] - 1
    ys = h * marks[:, 5:10] + boxes[:, 1:2] - 1
    return np.stack([xs, ys], axis=2).astype(np.float32)


def _crops(levels: list[np.ndarray], boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box cut from the image (zero outside it) and resized to size×size: [K,size,size,3].

    A box is cut from the smallest level where it still spans twice ``size`` pixels."""
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for i, box in enumerate(boxes[:, :4]):
        side = max(box[2] - box[0], box[3] - box[1], 1.0)
        rgb8, k = _level_for(levels, min(1.0, 2 * size / side))
        h, w = rgb8.shape[:2]
        x0, y0, x1, y1 = np.rint(box * k).astype(int)
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        if bw < 2 or bh < 2:
            continue
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb8[sy0:sy1, sx0:sx1]
        out[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply the nets' box offsets (fractions of the box size) to [K, 5] boxes."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.copy()
    out[:, 0] += offsets[:, 0] * w
    out[:, 1] += offsets[:, 1] * h
    out[:, 2] += offsets[:, 2] * w
    out[:, 3] += offsets[:, 3] * h
    return out


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def nms(boxes: np.ndarray, threshold: float, by_smaller: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression on [K, ≥5] boxes (score in column 4) → kept indices.

    Overlap is intersection over union, or over the smaller box when ``by_smaller``.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=int)
    x0, y0, x1, y1, score = (boxes[:, i] for i in range(5))
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(-score, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = iw * ih
        base = np.minimum(area[i], area[rest]) if by_smaller else area[i] + area[rest] - inter
        order = rest[inter / base <= threshold]
    return np.asarray(keep, dtype=int)
