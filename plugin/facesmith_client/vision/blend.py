"""Paste-back: an edited aligned crop goes back into the photo under a soft mask.

Only pixels the mask touches change; every other pixel of the frame is returned bit-identical,
in the frame's own dtype, channels and alpha.
"""

from __future__ import annotations

import cv2
import numpy as np

from facesmith import pixels
from facesmith_client.vision.align import crop_bounds, ffhq_quad

# Ellipse of the default mask, in crop fractions (FFHQ framing): the whole head, hair and crown
# included, so hair edits (bald, grey, a swap's new hair) reach all of the hair. The face-sized
# one before it (0.42 × 0.46 about y 0.48) kept the photo's own hair around each edit: on 90
# held-out faces (`facesmith train measure --limit 30`) older +4.3 y, younger −5.8 y, swap 11 %
# flipped, against +6.7 y, −7.8 y and 19 % with this one. A taller one (0.5 × 0.56 about 0.5)
# read a little stronger still but hazed the collar under the chin.
MASK_CENTRE = (0.5, 0.48)
MASK_RADII = (0.5, 0.54)
MASK_FEATHER = 0.3  # width of the soft edge, as a fraction of the ellipse's radius
EDGE_FADE = 0.06  # the mask falls to 0 over this fraction of the crop at its sides: no seam
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # RGB → gray for one-channel frames
# Adaptive paste-back: where an edit changes a crop pixel by CHANGE_FULL or more (RGB distance,
# channels 0..1) the render replaces the photo; where it changes nothing only the change is added
# (residual). Residual alone keeps the photo's own hair and outline under a swap or new hair,
# which then shows as a faint ghost over them.
CHANGE_FULL = 0.15
CHANGE_BLUR = 1 / 32  # σ of the blur of the change, a fraction of the crop's side
# Where adaptive takes the render it keeps the photo's detail finer than this σ, in crop pixels:
# a small pack's render is smooth, and pasted bare it shows as a blur over sharp hair and skin.
DETAIL_SIGMA = 1.0


def face_mask(
    size: int, landmarks_in_crop: np.ndarray | None = None, feather: float = MASK_FEATHER
) -> np.ndarray:
    """Soft mask [size, size] float32 0..1 over the head of an aligned crop.

    An ellipse over the head placed in the FFHQ framing square — the crop itself, or the square
    that ``landmarks_in_crop`` [5, 2] (the face's landmarks in crop pixels) frame, for crops
    made with another template: 1 inside, falling smoothly to exactly 0 at its rim
    (``feather`` is the soft edge's width as a fraction of the radius) and, within EDGE_FADE of
    the crop's sides, smoothly to 0 on its outer pixels, so nothing outside it moves and no
    seam shows where the crop ends.
    """
    if not 0 < feather <= 1:
        raise ValueError(f"feather must be in (0, 1], got {feather}")
    fx, fy = _framing_fractions(size, landmarks_in_crop)
    cx, cy = MASK_CENTRE
    rx, ry = MASK_RADII
    radius = np.sqrt(((fx - cx) / rx) ** 2 + ((fy - cy) / ry) ** 2)
    mask = _smoothstep((1.0 - radius) / feather)
    # the ellipse may pass the crop's sides (a big head, another template): fade it out inside
    inner = np.arange(size, dtype=np.float64) + 0.5
    edge = _smoothstep(np.minimum(inner, size - inner) / (EDGE_FADE * size))
    mask = mask * edge[:, None] * edge[None, :]
    mask[[0, -1], :] = 0  # the crop's edge never shows, whatever the landmarks say
    mask[:, [0, -1]] = 0
    return mask.astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, smooth in between."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _framing_fractions(
    size: int, landmarks_in_crop: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each crop pixel's position (x, y) in the framing square, 0..1 across it: [size, size]."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    if landmarks_in_crop is None:
        return (cols + 0.5) / size, (rows + 0.5) / size
    centre, x, y = ffhq_quad(landmarks_in_crop)
    dx, dy = cols - centre[0], rows - centre[1]
    side_sq = 2 * float(x @ x)  # |x| is half the side: projections / (2|x|²) span −½..½
    along_x = (dx * x[0] + dy * x[1]) / side_sq
    along_y = (dx * y[0] + dy * y[1]) / side_sq
    return 0.5 + along_x, 0.5 + along_y


def replace_weight(edited: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Where adaptive paste-back takes the render: [S, S] float32 0..1, the blurred RGB distance
    between the edited crop and the reconstruction (both [S, S, 3] 0..1) over CHANGE_FULL."""
    change = np.sqrt(np.square(edited - reconstruction).sum(axis=2)).astype(np.float32)
    sigma = CHANGE_BLUR * edited.shape[0]
    change = low_pass(change, sigma)
    return np.clip(change / CHANGE_FULL, 0.0, 1.0)


def paste_back(
    frame: np.ndarray,
    crop: np.ndarray,
    mask: np.ndarray,
    matrix: np.ndarray,
    reconstruction: np.ndarray | None = None,
    replace: np.ndarray | None = None,
) -> np.ndarray:
    """A new frame with ``crop`` (float RGB [S, S, 3] 0..1) warped back through ``matrix``
    (image → crop) and blended under ``mask`` [S, S].

    With ``reconstruction`` (the unedited render of the same face) only the edit's change is
    added: frame + warp⁻¹(crop − reconstruction) · mask (residual mode), so inversion error
    does not soften the rest of the face. ``replace`` [S, S] 0..1 (with ``reconstruction``;
    `replace_weight`) takes the crop itself instead where it is 1, plus the frame's detail
    finer than DETAIL_SIGMA crop pixels (adaptive mode).
    """
    frame = pixels.check_image(frame)
    size = crop.shape[0]
    if crop.shape != (size, size, 3) or mask.shape != (size, size):
        raise ValueError(
            f"crop must be [S, S, 3] with a [S, S] mask, got {crop.shape}, {mask.shape}"
        )
    x0, y0, x1, y1 = crop_bounds(matrix, size, *frame.shape[:2])
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    change = crop if reconstruction is None else crop - reconstruction
    layers = [change, mask[:, :, None]]
    if reconstruction is not None and replace is not None:
        layers += [crop, replace[:, :, None]]
    warped = _warp_back(layers, matrix, (x0, y0), (x1 - x0, y1 - y0))
    change_w, mask_w = warped[0], warped[1][:, :, 0:1]
    region = frame[y0:y1, x0:x1]
    colour = pixels.to_float(pixels.rgb(region))
    if reconstruction is None:
        blended = colour * (1 - mask_w) + change_w * mask_w
    elif replace is None:
        blended = colour + change_w * mask_w
    else:
        crop_w, replace_w = warped[2], warped[3][:, :, 0:1]
        smooth = low_pass(colour, DETAIL_SIGMA / crop_scale(matrix))
        blended = colour + mask_w * ((1 - replace_w) * change_w + replace_w * (crop_w - smooth))
    new_region = _like(region, blended)
    touched = mask_w[:, :, 0] > 0
    out[y0:y1, x0:x1][touched] = new_region[touched]
    return out


def crop_scale(matrix: np.ndarray) -> float:
    """Crop pixels per frame pixel of an image → crop ``matrix`` [2, 3] (a similarity)."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def low_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` float [H, W] or [H, W, C] blurred with a Gaussian of ``sigma`` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def _warp_back(
    layers: list[np.ndarray], matrix: np.ndarray, origin: tuple[int, int], size: tuple[int, int]
) -> list[np.ndarray]:
    """Crop-space float layers → the frame region at ``origin`` of ``size`` (w, h)."""
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array(origin, np.float64)
    out = []
    for layer in layers:
        w = cv2.warpAffine(
            layer.astype(np.float32),
            shifted,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        out.append(w if w.ndim == 3 else w[:, :, None])
    return out


def _like(region: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Float RGB → the region's dtype and channels (alpha kept from the region)."""
    channels = region.shape[2]
    colour = (rgb @ LUMA)[:, :, None] if channels == 1 else rgb
    converted = pixels.from_float(colour, region.dtype)
    if channels == 4:
        converted = np.concatenate([converted, region[:, :, 3:4]], axis=2)
    return converted
