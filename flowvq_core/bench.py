"""Speed and memory benchmarks (``python -m flowvq_core bench ...``); targets live here, never in tests."""

from __future__ import annotations

import json
import os
import platform
import resource
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .audio import audio_features
from .config import GeneratorConfig
from .generator import CoefficientGenerator


@dataclass
class FlowBenchResult:
    preset: str
    device: str
    threads: int
    batch: int
    frames: int
    seconds: float
    frames_per_second: float
    """Video frames of one sequence per second of compute (T / time)."""
    sample_frames_per_second: float
    """Frames of all B samples per second (B · T / time)."""
    peak_memory_mb: float
    """Peak device memory on CUDA; the process's peak resident memory on the CPU."""
    added_memory_mb: float
    """How far the peak rose above the memory in use just before the run."""


def speech_like_audio(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise shaped by a syllable-rate envelope: exercises the audio path like speech without any data files."""
    generator = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t) + 0.3 * generator.standard_normal(t.shape).cumsum() / 400, 0, 1)
    return (0.3 * envelope * generator.standard_normal(t.shape)).astype(np.float32)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine() or 'cpu'} cpu, {os.cpu_count()} cores"


def _resident_mb() -> float:
    """Current resident memory of this process (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryPeak:
    """Tracks the peak memory of a block: CUDA's allocator statistics, or resident memory polled every 2 ms."""

    def __init__(self, device: torch.device):
        self.device = device
        self.before = self.peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _resident_mb())

    def __enter__(self) -> MemoryPeak:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self.before = self.peak = _resident_mb()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.peak = max(self.peak, _resident_mb())


def bench_flows(
    preset: str = "paper",
    frames: int = 250,
    batches: tuple[int, ...] = (1, 8),
    device: str = "cpu",
    fps: float = 25.0,
) -> list[FlowBenchResult]:
    """Time generating ``frames`` frames of expression and pose (audio encoding included) for each batch size."""
    target = torch.device(device)
    config = GeneratorConfig.preset(preset)
    generator = CoefficientGenerator(config, face_model_id="bench").to(target).eval()
    audio = audio_features((speech_like_audio(frames / fps), 16000), fps, name="benchmark audio")
    source_expression = torch.zeros(config.expression.dim)
    source_pose = torch.zeros(config.pose.dim)
    short = audio_features((speech_like_audio(0.4), 16000), fps, name="warm-up audio")
    generator.generate(short, source_expression, source_pose, num_samples=max(batches))
    results = []
    for batch in batches:
        with MemoryPeak(target) as memory:
            start = time.perf_counter()
            generator.generate(audio, source_expression, source_pose, "happy", num_samples=batch, seed=batch)
            if target.type == "cuda":
                torch.cuda.synchronize(target)
            seconds = time.perf_counter() - start
        results.append(
            FlowBenchResult(
                preset=preset,
                device=device_name(target),
                threads=torch.get_num_threads(),
                batch=batch,
                frames=audio.num_frames,
                seconds=seconds,
                frames_per_second=audio.num_frames / seconds,
                sample_frames_per_second=batch * audio.num_frames / seconds,
                peak_memory_mb=memory.peak,
                added_memory_mb=memory.peak - memory.before,
            )
        )
    return results


def format_flow_results(results: list[FlowBenchResult]) -> str:
    header = (
        f"{'preset':<7} {'device':<24} {'thr':>3} {'batch':>5} {'frames':>6} {'seconds':>8} {'frames/s':>9} "
        f"{'sample-frames/s':>15} {'peak MB':>8} {'+MB':>6}"
    )
    rows = [
        f"{r.preset:<7} {r.device[:24]:<24} {r.threads:>3} {r.batch:>5} {r.frames:>6} {r.seconds:>8.2f} "
        f"{r.frames_per_second:>9.1f} {r.sample_frames_per_second:>15.1f} "
        f"{r.peak_memory_mb:>8.0f} {r.added_memory_mb:>6.0f}"
        for r in results
    ]
    return "\n".join([header, *rows])


def results_json(results: list[FlowBenchResult]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)


@dataclass
class FaceBenchResult:
    stage: str
    size: int
    items: int
    seconds: float
    per_second: float


def bench_face(size: int = 512, frames: int = 64, device: str = "cpu") -> list[FaceBenchResult]:
    """Extraction images/s (photos and a tracked video against an identity, with and without its eye appearance),
    building an eye appearance, and geometric-renderer frames/s at ``size`` px."""
    from skimage import data

    from .face import GeometricRenderer, extract, extract_video
    from .face.rig import NUM_UNITS

    portrait = data.astronaut()
    face = extract(portrait, crop_size=size)
    results = []

    def timed(stage: str, count: int, run) -> None:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        results.append(FaceBenchResult(stage, size, count, seconds, count / seconds))

    shifted = [np.roll(portrait, shift, axis=1) for shift in range(frames)]
    timed("extract photos", 16, lambda: [extract(image, identity=face, crop_size=size) for image in shifted[:16]])
    timed("extract video", frames, lambda: extract_video(shifted, identity=face, crop_size=size))
    identities: list = []
    timed("eye appearance", 1, lambda: identities.append(extract(portrait, crop_size=size, eye_appearance=True)))
    eyes = identities[0]
    timed("photos + eyes", 16, lambda: [extract(image, identity=eyes, crop_size=size) for image in shifted[:16]])
    timed("video + eyes", frames, lambda: extract_video(shifted, identity=eyes, crop_size=size))
    renderer = GeometricRenderer()
    crop = face.crop_image(portrait).to(device)
    source = renderer.prepare(crop, face.neutral, face.expression, face.pose)
    generator = torch.Generator().manual_seed(0)
    expression = (face.expression + 0.3 * torch.rand(frames, NUM_UNITS, generator=generator)).clamp(0, 1)
    pose = face.pose + 0.05 * torch.randn(frames, 6, generator=generator) * torch.tensor([1, 1, 1, 0.1, 0.1, 0.1])
    renderer.render(source, expression[:2], pose[:2])
    timed("render", frames, lambda: renderer.render(source, expression, pose))
    return results


def format_face_results(results: list[FaceBenchResult]) -> str:
    rows = [f"{'stage':<16} {'size':>5} {'items':>6} {'seconds':>8} {'per second':>11}"]
    rows += [f"{r.stage:<16} {r.size:>5} {r.items:>6} {r.seconds:>8.2f} {r.per_second:>11.1f}" for r in results]
    return "\n".join(rows)


@dataclass
class DemoBenchResult:
    """End to end on one portrait and one speech clip: seconds of compute per stage."""

    device: str
    speech_seconds: float
    frames: int
    stages: dict[str, float]
    peak_memory_mb: float

    @property
    def total(self) -> float:
        return sum(self.stages.values())

    @property
    def seconds_per_speech_second(self) -> float:
        return self.total / self.speech_seconds


def bench_demo(speech: tuple[np.ndarray, int], output: str, device: str = "cpu") -> DemoBenchResult:
    """Extraction, generation, rendering at 512 px and MP4 encoding of the astronaut saying ``speech``.

    Rendering and encoding interleave chunk by chunk (as in ``generate``); the time spent producing each chunk is
    rendering, the rest of the writing is encoding.
    """
    from skimage import data

    from .pipeline import TalkingFacePipeline
    from .video import write_mp4

    torch_device = torch.device(device)
    pipeline = TalkingFacePipeline(device=torch_device)
    portrait_image = data.astronaut()
    stages: dict[str, float] = {}
    with MemoryPeak(torch_device) as memory:
        start = time.perf_counter()
        portrait = pipeline.prepare(portrait_image)
        stages["extract + prepare"] = time.perf_counter() - start
        start = time.perf_counter()
        features = pipeline.audio(speech)
        stages["audio features"] = time.perf_counter() - start
        start = time.perf_counter()
        coefficients = pipeline.coefficients(portrait, features, emotion="happy", seed=0)
        stages["generate (flows)"] = time.perf_counter() - start
        chunks = pipeline.render(portrait, coefficients)
        rendering = 0.0

        def timed_chunks():
            nonlocal rendering
            while True:
                begin = time.perf_counter()
                chunk = next(chunks, None)
                if chunk is None:
                    return
                if torch_device.type == "cuda":
                    torch.cuda.synchronize(torch_device)
                rendering += time.perf_counter() - begin
                yield chunk

        start = time.perf_counter()
        frames = write_mp4(output, timed_chunks(), features.fps, features.waveform, features.sample_rate)
        stages["render 512 px"] = rendering
        stages["encode MP4"] = time.perf_counter() - start - rendering
    return DemoBenchResult(device_name(torch_device), features.duration, frames, stages, memory.peak)


def format_demo_result(result: DemoBenchResult) -> str:
    rows = [f"{result.device}: {result.speech_seconds:.2f} s of speech, {result.frames} frames at 512 px"]
    rows += [f"  {stage:<18} {seconds:>7.2f} s" for stage, seconds in result.stages.items()]
    per_second = result.seconds_per_speech_second
    rows.append(f"  {'total':<18} {result.total:>7.2f} s = {per_second:.2f} s per second of speech")
    rows.append(f"  peak memory {result.peak_memory_mb:.0f} MB")
    return "\n".join(rows)


def demo_results_json(results: list[DemoBenchResult]) -> str:
    rows = [{**vars(r), "seconds_per_speech_second": r.seconds_per_speech_second} for r in results]
    return json.dumps(rows, indent=1)


@dataclass
class VQIGBenchResult:
    preset: str
    device: str
    size: int
    frames: int
    seconds: float
    frames_per_second: float
    peak_memory_mb: float


CODEFORMER_PARAMETERS = {
    "E_h (encoder)": 29.42e6,
    "C (codebook)": 0.26e6,
    "D_h (decoder)": 34.06e6,
    "T (transformer layers)": 18.93e6,
}
"""CodeFormer's counts in the same setting (the paper's §3.3 follows it; the paper gives none itself): its
VQAutoEncoder with options/VQGAN_512_ds32_nearest_stage1.yml and the 9 TransformerSALayers of CodeFormer_stage2.yml,
counted by instantiating sczhou/CodeFormer's classes (2026-11-26)."""


def vqig_parameter_counts(preset: str = "paper") -> dict[str, int]:
    """Parameters of each part of the VQIG (the codebook stage's E_h, C, D_h included)."""
    from .vqig import VQIG, VQIGConfig

    model = VQIG(VQIGConfig.preset(preset))
    parts = {
        "E_h (encoder)": model.codebook.encoder,
        "C (codebook)": model.codebook.quantizer,
        "D_h (decoder)": model.codebook.decoder,
        "E_w (warped encoder)": model.warped_encoder,
        "psi (mapping)": model.mapping,
        "W (warping)": model.warping,
        "phi + MHCA + AdaIN + T": model.predictor,
        "T (transformer layers)": model.predictor.transformer,
    }
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    counts["total"] = sum(count for name, count in counts.items() if name != "T (transformer layers)")
    return counts


def format_vqig_parameters(counts: dict[str, int], preset: str) -> str:
    """The counts in millions, CodeFormer's beside them where it has the part (its counts are for the paper preset)."""
    rows = [f"VQIG parameters ({preset} preset; CodeFormer's in the same setting where it has the part):"]
    for name, count in counts.items():
        reference = CODEFORMER_PARAMETERS.get(name)
        beside = f"   CodeFormer {reference / 1e6:6.2f} M" if reference and preset == "paper" else ""
        rows.append(f"  {name:<24} {count / 1e6:8.2f} M{beside}")
    return "\n".join(rows)


def bench_vqig(
    preset: str = "paper",
    frames: int = 8,
    batch: int = 4,
    device: str = "cpu",
    precision: str = "float32",
    compile: bool = False,
) -> VQIGBenchResult:
    """Frames/s of the VQIG renderer drawing ``frames`` frames in batches of ``batch`` (random weights: speed does
    not depend on them), in ``precision`` (float32, or bfloat16 autocast), optionally through ``torch.compile``
    (compiled during the warm-up chunk, which is not timed)."""
    from .face.rig import NUM_UNITS
    from .vqig import VQIG, VQIGConfig, VQIGRenderer

    config = VQIGConfig.preset(preset)
    target = torch.device(device)
    renderer = VQIGRenderer(VQIG(config).to(target), chunk=batch, precision=precision, compile=compile)
    size = config.codebook.image_size
    generator = torch.Generator().manual_seed(0)
    crop = torch.rand(size, size, 3, generator=generator)
    expression = torch.rand(frames, NUM_UNITS, generator=generator).to(target)
    pose = 0.05 * torch.randn(frames, 6, generator=generator).to(target)
    with torch.inference_mode():
        source = renderer.prepare(crop, torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
        renderer.render_frames(source, expression[:batch], pose[:batch])  # warm-up (and compilation)
        with MemoryPeak(target) as memory:
            start = time.perf_counter()
            renderer.render_frames(source, expression, pose)
            if target.type == "cuda":
                torch.cuda.synchronize(target)
            seconds = time.perf_counter() - start
    label = f"{target} {precision}" + (" compiled" if compile else "")
    return VQIGBenchResult(preset, label, size, frames, seconds, frames / seconds, memory.peak)


def format_vqig_result(result: VQIGBenchResult) -> str:
    return (
        f"{result.device}: {result.frames} frames at {result.size} px in {result.seconds:.1f} s = "
        f"{result.frames_per_second:.2f} frames/s, peak memory {result.peak_memory_mb:.0f} MB"
    )


@dataclass
class TrainingBenchResult:
    stage: str
    device: str
    batch: int
    steps: int
    seconds: float
    peak_memory_mb: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


def bench_training(
    preset: str = "paper", *, batch: int = 8, steps: int = 10, device: str = "cpu", amp: bool = False
) -> list[TrainingBenchResult]:
    """Steps/s and peak memory of the image stages' training steps on random images (speed does not depend on the
    data): the codebook with its PatchGAN active, the VQIG's code level and image level; a VGG19 of random weights
    stands in for the perceptual loss (the same cost). ``amp``: bfloat16 autocast on CUDA."""
    from .face.rig import NUM_UNITS
    from .vq import CodebookModel, CodebookTrainer, PatchDiscriminator, PerceptualLoss
    from .vq.perceptual import vgg19_features
    from .vqig import VQIG, VQIGConfig, VQIGTrainer

    target = torch.device(device)
    torch.manual_seed(0)
    config = VQIGConfig.preset(preset)
    size = config.codebook.image_size
    perceptual = PerceptualLoss(vgg19_features()).to(target)
    images = torch.rand(batch, 3, size, size, device=target) * 2 - 1
    windows = torch.rand(batch, NUM_UNITS + 6, config.window, device=target)
    codebook = CodebookTrainer(CodebookModel(config.codebook).to(target), perceptual=perceptual, adversarial_start=0,
                               restart_every=0, discriminator=PatchDiscriminator().to(target), amp=amp,
                               max_grad_norm=1.0, say=lambda _: None)  # fmt: skip
    vqig = VQIGTrainer(VQIG(config).to(target), perceptual=perceptual, discriminator=PatchDiscriminator().to(target),
                       amp=amp, max_grad_norm=1.0)  # fmt: skip
    runs = {
        "codebook (with PatchGAN)": lambda: codebook.step(images),
        "vqig code level": lambda: vqig.code_step(images, images.roll(1, 0), windows),
        "vqig image level": lambda: vqig.image_step(images, images.roll(1, 0), windows),
    }
    label = device_name(target) + (" bf16" if amp and target.type == "cuda" else "")
    results = []
    for stage, run in runs.items():
        run()  # warm-up
        with MemoryPeak(target) as memory:
            start = time.perf_counter()
            for _ in range(steps):
                run()
            if target.type == "cuda":
                torch.cuda.synchronize(target)
            seconds = time.perf_counter() - start
        results.append(TrainingBenchResult(stage, label, batch, steps, seconds, memory.peak))
    return results


def format_training_results(results: list[TrainingBenchResult]) -> str:
    return "\n".join(
        f"{r.device}: {r.stage:<25} batch {r.batch}: {r.steps_per_second:6.2f} steps/s, "
        f"peak memory {r.peak_memory_mb:.0f} MB"
        for r in results
    )
