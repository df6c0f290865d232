"""Speed of the model side: config-f synthesis (random weights), preview, test-pack paths.

Each row is the median wall time of `repeats` runs after one warm-up run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from facesmith import memory
from facesmith_server.latent.invert import encode
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.generator import Generator, SynthesisNetwork
from facesmith_server.model.pack import load_pack
from facesmith_server.model.testpack import make_test_pack

PREVIEW_RESOLUTION = 256


@dataclass(frozen=True)
class BenchRow:
    """One measurement: name, median seconds, free-text note (speed-up, settings)."""

    name: str
    median_s: float
    note: str = ""


def median_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of fn() over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_models(device: torch.device | str, repeats: int = 3, size: int = 1024) -> list[BenchRow]:
    """Synthesis at `size` and preview at 256: reference (eager) vs. fast paths; test pack.

    On CPU it first calls memory.retain_freed_memory() (part of the fast CPU setup).
    """
    device = torch.device(device)
    synthesis, ws = _random_config_f(device, size)
    rows: list[BenchRow] = []
    if device.type == "cpu" and not memory.freed_memory_retained():
        rows += _synthesis_rows(synthesis, ws, repeats, (None,), "default malloc")
        memory.retain_freed_memory()
    rows += _synthesis_rows(synthesis, ws, repeats, (None, min(PREVIEW_RESOLUTION, size)))
    rows += _overall_speedup(rows, size)
    rows += _encoder_rows(device, repeats)
    rows += _test_pack_rows(device, repeats)
    note = f"threads: {torch.get_num_threads()}"
    return [BenchRow(r.name, r.median_s, f"{r.note}; {note}" if r.note else note) for r in rows]


def _overall_speedup(rows: list[BenchRow], size: int) -> list[BenchRow]:
    """The float32 fast path (tuned allocator) against the untuned reference, when both ran."""
    by_name = {r.name: r.median_s for r in rows}
    reference = by_name.get(f"config-f synthesis {size} eager default malloc")
    fast = by_name.get(f"config-f synthesis {size} fast")
    if reference is None or fast is None:
        return []
    name = f"config-f synthesis {size} fastest float32"
    return [BenchRow(name, fast, f"{reference / fast:.1f}x vs eager with the default allocator")]


def _random_config_f(device: torch.device, size: int) -> tuple[SynthesisNetwork, torch.Tensor]:
    """Config-f synthesis network with seeded random weights and one W+ [1, num_ws, 512]."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = Generator(size).to(device).eval().requires_grad_(False)
        z = torch.randn(generator.num_ws, generator.style_dim, device=device)
        ws = generator.mapping(z)[None]
    return generator.synthesis, ws


def _synthesis_rows(
    synthesis: SynthesisNetwork,
    ws: torch.Tensor,
    repeats: int,
    stops: tuple[int | None, ...],
    suffix: str = "",
) -> list[BenchRow]:
    """eager (reference forward), fast and fast bf16 rows for each stop resolution."""
    size = synthesis.size
    rows: list[BenchRow] = []
    for stop in stops:
        label = f"config-f synthesis {size}" if stop is None else f"config-f preview {stop}"
        variants: dict[str, Callable[[], object]] = {
            "eager": partial(synthesis, ws, stop_resolution=stop),
            "fast": partial(synthesis.forward_fast, ws, stop_resolution=stop),
            "fast bf16": partial(
                synthesis.forward_fast, ws, stop_resolution=stop, dtype=torch.bfloat16
            ),
        }
        eager_s = 0.0
        for variant, fn in variants.items():
            with torch.inference_mode():
                seconds = median_time(fn, repeats, ws.device)
            eager_s = eager_s or seconds
            note = "" if variant == "eager" else f"{eager_s / seconds:.1f}x vs eager"
            rows.append(BenchRow(f"{label} {variant} {suffix}".strip(), seconds, note))
    return rows


def _encoder_rows(device: torch.device, repeats: int) -> list[BenchRow]:
    """The official e4e encoder's size (IR-SE-50, 256 px in, 18 x 512 out), random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = Encoder4Editing().to(device).eval()
    images = torch.rand(1, 3, encoder.input_size, encoder.input_size, device=device) * 2 - 1
    with torch.inference_mode():
        seconds = median_time(lambda: encoder(images), repeats, device)
    return [BenchRow(f"e4e encode {encoder.input_size} (official size)", seconds)]


def _test_pack_rows(device: torch.device, repeats: int) -> list[BenchRow]:
    with tempfile.TemporaryDirectory() as tmp:
        pack = load_pack(make_test_pack(Path(tmp) / "pack"), device)
    size = pack.generator.size
    images = torch.rand(1, 3, size, size, device=device) * 2 - 1
    ws = encode(pack.encoder, pack.encoder_latent_avg, images)
    with torch.inference_mode():
        encode_s = median_time(
            lambda: encode(pack.encoder, pack.encoder_latent_avg, images), repeats, device
        )
        render_s = median_time(lambda: pack.generator.synthesis(ws, fast=True), repeats, device)
    return [
        BenchRow(f"test pack encode {size}", encode_s),
        BenchRow(f"test pack render {size} fast", render_s),
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
