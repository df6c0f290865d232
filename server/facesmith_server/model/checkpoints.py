"""Read and write generator / encoder weights in the official file layouts.

- rosinality StyleGAN2: `{"g_ema": <g_ema state dict>, "latent_avg": [dim]}`
  (the file e4e, ReStyle and HyperStyle use, e.g. `stylegan2-ffhq-config-f.pt`).
- e4e: `{"state_dict": {"encoder.<...>": ..., "decoder.<g_ema names>": ...},
  "latent_avg": [num_ws, dim], "opts": {...}}`.
Files are read with `torch.load(weights_only=True)`: a pickle with code is refused. They are
memory-mapped onto the CPU (zip files, i.e. every file torch >= 1.6 writes), so only the tensors
used are read: the official generator file also holds `g` and `d` (381 MB in all, a third of it
`g_ema`), the e4e file its decoder; neither is ever loaded whole, on the CPU or the GPU.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from facesmith_server.errors import CheckpointError
from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig
from facesmith_server.model.generator import Generator
from facesmith_server.model.official_names import load_official_state_dict, official_state_dict
from facesmith_server.model.seeded_z import seeded_z

ENCODER_PREFIX = "encoder."
DECODER_PREFIX = "decoder."
MEAN_LATENT_SAMPLES = 10_000  # used only when a generator file has no latent_avg
ZIP_MAGIC = b"PK\x03\x04"  # torch's zip serialisation (>= 1.6): can be memory-mapped
# Buffers that hold no learned values (FIR kernels made from the blur taps): a copy of g_ema
# without them (some conversions drop buffers) gets them rebuilt.
CONSTANT_BUFFER = re.compile(r"(convs\.\d+\.conv\.blur|to_rgbs\.\d+\.upsample)\.kernel")
SHOWN_KEYS = 4  # keys named per kind of mismatch in an error message
# What e4e's own code reads from "opts" (utils/model_utils.setup_model, models/psp.pSp,
# scripts/inference.py): the dataset type decides the generator size there ("ffhq" → 1024).
E4E_DATASET_TYPE = "ffhq_encode"

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def load_generator(path: Path | str, device: torch.device | str) -> tuple[Generator, torch.Tensor]:
    """Load a rosinality StyleGAN2 checkpoint -> (Generator in eval mode, latent_avg [dim]).

    size, style_dim, n_mlp and the channel table are inferred from the tensor shapes.
    A file without latent_avg gets the mean w of 10k random z (seeded, deterministic). A copy
    without the constant blur/upsample kernel buffers gets them rebuilt; any other missing,
    extra or misshapen tensor is refused, named as the file names it.
    """
    path = Path(path)
    ckpt = _load_dict(path)
    state = _tensor_dict(path, ckpt, "g_ema")
    generator = _build_generator(path, state)
    expected = official_state_dict(generator)
    state = _with_constant_buffers(state, expected)
    _check_keys(path, "g_ema", state, expected)
    _load_strict(path, lambda: load_official_state_dict(generator, state), "g_ema")
    generator = _freeze(generator.to(device))
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is None:
        latent_avg = _seeded_mean_latent(generator, device)
    latent_avg = _latent_avg_rows(path, latent_avg, generator.style_dim, 1)[0]
    return generator, latent_avg.to(device)


def load_encoder(
    path: Path | str, device: torch.device | str
) -> tuple[Encoder4Editing, torch.Tensor]:
    """Load an e4e checkpoint -> (Encoder4Editing in eval mode, latent_avg [num_ws, dim])."""
    path = Path(path)
    ckpt = _load_dict(path)
    full = _tensor_dict(path, ckpt, "state_dict")
    state = {k[len(ENCODER_PREFIX) :]: v for k, v in full.items() if k.startswith(ENCODER_PREFIX)}
    if not state:
        raise CheckpointError(f"{path}: state_dict has no 'encoder.*' weights; not an e4e file")
    try:
        config = EncoderConfig.from_state_dict(state)
    except (KeyError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: not an e4e encoder layout ({exc})") from exc
    encoder = Encoder4Editing(config)
    _check_keys(path, "state_dict", state, encoder.state_dict(), prefix=ENCODER_PREFIX)
    _load_strict(path, lambda: encoder.load_state_dict(state), "encoder")
    if "latent_avg" not in ckpt:
        raise CheckpointError(f"{path}: no 'latent_avg' (e4e predicts offsets from it)")
    latent_avg = _latent_avg_rows(path, ckpt["latent_avg"], config.style_dim, config.num_ws)
    return _freeze(encoder.to(device)), latent_avg.to(device)


def save_generator(path: Path | str, generator: Generator, latent_avg: torch.Tensor) -> None:
    """Write `{"g_ema": ..., "latent_avg": [dim]}` in rosinality naming."""
    torch.save(
        {"g_ema": _cpu(official_state_dict(generator)), "latent_avg": _cpu_tensor(latent_avg)},
        Path(path),
    )


def save_encoder(
    path: Path | str, encoder: Encoder4Editing, generator: Generator, latent_avg: torch.Tensor
) -> None:
    """Write the e4e layout; latent_avg [dim] or [num_ws, dim] is stored as [num_ws, dim], with
    the options e4e's own scripts read (`e4e_options`)."""
    state = {ENCODER_PREFIX + k: v for k, v in encoder.state_dict().items()}
    state.update({DECODER_PREFIX + k: v for k, v in official_state_dict(generator).items()})
    rows = _cpu_tensor(latent_avg).reshape(-1, encoder.style_dim)
    opts = e4e_options(generator.size)
    ckpt = {
        "state_dict": _cpu(state),
        "latent_avg": rows.expand(encoder.num_ws, -1).clone(),
        "opts": opts,
    }
    torch.save(ckpt, Path(path))


def e4e_options(stylegan_size: int) -> dict[str, Any]:
    """The "opts" of an e4e file, as e4e's code reads them: `setup_model` picks the generator
    size from ``dataset_type`` (an "ffhq" type means 1024) and e4e's `scripts/inference.py`
    looks its transforms up by it; `pSp` reads the encoder type, the start from latent_avg
    and the size; the rest are the values of the official FFHQ encoder's training options."""
    return {
        "dataset_type": E4E_DATASET_TYPE,
        "encoder_type": "Encoder4Editing",
        "stylegan_size": stylegan_size,
        "start_from_latent_avg": True,
        "input_nc": 3,
        "label_nc": 0,
        "output_size": stylegan_size,
        "checkpoint_path": None,  # setup_model sets it to the file it loads
        "test_batch_size": 1,
        "test_workers": 1,
        "resize_outputs": False,
    }


# --------------------------------------------------------------------------------------------


def _load_dict(path: Path) -> dict[str, Any]:
    """torch.load(weights_only=True) a dict onto the CPU, memory-mapped when the file is a zip
    (only the tensors used are then read), or raise CheckpointError saying why not."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    with path.open("rb") as f:
        mmap = f.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # any unpickling / zip / IO failure means "not a usable file"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a weights-only torch checkpoint ({type(exc).__name__}: {reason})"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, found {type(obj).__name__}")
    return obj


def _tensor_dict(path: Path, ckpt: Mapping[str, Any], key: str) -> dict[str, torch.Tensor]:
    """ckpt[key] as a {name: tensor} dict, or CheckpointError."""
    value = ckpt.get(key)
    if not isinstance(value, Mapping):
        keys = sorted(str(k) for k in ckpt)[:8]
        raise CheckpointError(f"{path}: no '{key}' state dict (top-level keys: {keys})")
    bad = [k for k, v in value.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: '{key}' has non-tensor entries, e.g. {bad[:3]}")
    return dict(value)


def _build_generator(path: Path, state: Mapping[str, torch.Tensor]) -> Generator:
    """A Generator shaped like the g_ema state dict (size, style_dim, n_mlp, channels)."""
    try:
        n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
        style_dim = int(state["style.1.weight"].shape[1])
        channels = {4: int(state["input.input"].shape[1])}
        level = 0
        while f"convs.{2 * level}.conv.weight" in state:
            channels[8 * 2**level] = int(state[f"convs.{2 * level}.conv.weight"].shape[1])
            level += 1
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a StyleGAN2 g_ema layout (missing {exc})") from exc
    size = max(channels)
    return Generator(size, style_dim, n_mlp, channels=channels)


def _with_constant_buffers(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state`` plus the constant FIR kernels it lacks, taken from a fresh generator."""
    rebuilt = {
        key: value.detach().clone()
        for key, value in expected.items()
        if key not in state and CONSTANT_BUFFER.fullmatch(key)
    }
    return {**state, **rebuilt}


def _check_keys(
    path: Path,
    what: str,
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    prefix: str = "",
) -> None:
    """CheckpointError naming, as the file names them, the tensors missing from ``state``, the
    ones it has too many and those of the wrong shape (``prefix``: the file's key prefix)."""
    # BatchNorm fills in a missing step counter itself (files of torch < 0.4.1 have none)
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in expected]
    shapes = [
        f"'{prefix}{k}' is {list(state[k].shape)}, expected {list(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or extra or shapes):
        return

    def named(keys: list[str]) -> str:
        more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
        return ", ".join(f"'{prefix}{k}'" for k in keys[:SHOWN_KEYS]) + more

    parts = []
    if missing:
        parts.append(f"missing {named(missing)}")
    if extra:
        parts.append(f"unexpected {named(extra)}")
    if shapes:
        more = f" and {len(shapes) - SHOWN_KEYS} more" if len(shapes) > SHOWN_KEYS else ""
        parts.append("wrong shapes: " + "; ".join(shapes[:SHOWN_KEYS]) + more)
    raise CheckpointError(f"{path}: '{what}' does not match the layout: " + "; ".join(parts))


def _load_strict(path: Path, load: Callable[[], object], what: str) -> None:
    """Run a strict load_state_dict; turn its RuntimeError into a short CheckpointError."""
    try:
        load()
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = "; ".join(lines[1:4]) or lines[0]
        if len(detail) > 600:
            detail = detail[:600] + "..."
        raise CheckpointError(f"{path}: {what} weights do not match the layout: {detail}") from exc


def _latent_avg_rows(path: Path, value: Any, dim: int, rows: int) -> torch.Tensor:
    """latent_avg as [rows, dim] float32 (accepts [dim], [1, dim] or [rows, dim])."""
    if not isinstance(value, torch.Tensor) or value.shape[-1:] != (dim,):
        shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise CheckpointError(f"{path}: latent_avg must be [..., {dim}], found {shape}")
    flat = value.float().reshape(-1, dim)
    if flat.shape[0] not in (1, rows):
        raise CheckpointError(f"{path}: latent_avg has {flat.shape[0]} rows, expected 1 or {rows}")
    return flat.expand(rows, -1).clone()


def _seeded_mean_latent(generator: Generator, device: torch.device | str) -> torch.Tensor:
    """Mean w [dim] of MEAN_LATENT_SAMPLES z drawn from a fixed seed."""
    z = seeded_z(MEAN_LATENT_SAMPLES, generator.style_dim, 0).to(device)
    with torch.no_grad():
        return generator.mapping(z).mean(dim=0)


def _freeze(module: ModuleT) -> ModuleT:
    """eval() and no parameter gradients (inversion optimises latents, not weights)."""
    module.eval()
    module.requires_grad_(False)
    return module


def _cpu(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: _cpu_tensor(v) for k, v in state.items()}


def _cpu_tensor(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous().clone()
