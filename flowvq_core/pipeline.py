"""The one path from portrait + speech to a talking-head video, shared by the command line and the ComfyUI nodes.

image → ``extract`` (neutral mesh, β₀, ρ₀, crop) → ``CoefficientGenerator`` (ExpFlow + PoseFlow over the audio)
→ a :class:`~flowvq_core.rendering.Renderer` (the ``GeometricRenderer`` unless given another; frames, chunk by chunk)
→ optional paste-back into the full photo → frames + audio + fps. Rendering streams in chunks, so a long speech
needs no more memory than a short one beyond the frames it returns (and none at all when
:meth:`TalkingFacePipeline.stream` feeds an encoder).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .audio import AudioFeatures, AudioSource, audio_features, log_mel, mel_windows, prepare_waveform
from .coefficients import CoefficientSequence
from .emotions import emotion_id
from .errors import InputNotFoundError
from .face import FittedFace, GeometricRenderer, extract, extract_video
from .face.crop import paste_back
from .face.images import load_image, to_rgb_uint8
from .generator import CoefficientGenerator, ExpressionLatent, check_strength
from .rendering import Renderer, render_chunks

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
DEFAULT_GENERATOR = PRETRAINED_DIR / "flowvq_small_synthetic.safetensors"
"""The bundled generator (ExpFlow + PoseFlow trained on the synthetic corpus; model card beside it)."""
RENDER_CHUNK = 16
"""Frames the default (geometric) renderer draws at once."""

Progress = Callable[[int, int], None]
"""progress(done, total) over generation (two flows) and rendering."""


@dataclass
class Portrait:
    """A photo made ready to animate: the photo for paste-back, the fitted face and its crop, and renderers' sources.

    :attr:`source` is what the portrait's own renderer prepared; :meth:`source_for` gives any renderer's, prepared
    from the same crop and face on first use and kept while that renderer lives, so a portrait renders through any
    renderer without knowing its kind.
    """

    image: Tensor
    """[H, W, 3] float 0..1, the full photo."""
    face: FittedFace
    face_crop: Tensor
    """[S, S, 3] float 0..1, the face crop that renderers prepare their sources from."""
    renderer: Renderer
    """The renderer the portrait was prepared for."""
    _sources: dict[int, tuple[weakref.ref[Renderer], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def source(self) -> Any:
        """The source of the portrait's own renderer."""
        return self.source_for(self.renderer)

    def source_for(self, renderer: Renderer) -> Any:
        """``renderer``'s source for this portrait: prepared once, then reused (dropped when the renderer goes)."""
        key = id(renderer)
        cached = self._sources.get(key)
        if cached is not None and cached[0]() is renderer:
            return cached[1]
        source = renderer.prepare(self.face_crop, self.face.neutral, self.face.expression, self.face.pose)
        sources = self._sources
        self._sources[key] = (weakref.ref(renderer, lambda _: sources.pop(key, None)), source)
        return source


@dataclass
class TalkingFace:
    """What the pipeline returns: frames, the driving audio and the coefficients that made the frames."""

    frames: Tensor
    """[T, H, W, 3] float32 0..1 (the face crop, or the full photo with ``full_frame``)."""
    waveform: Tensor
    """[S] float32 mono at ``sample_rate``; exactly as long as the T frames at ``fps`` (to half a frame)."""
    sample_rate: int
    fps: float
    coefficients: CoefficientSequence


@dataclass
class VideoSummary:
    """What :meth:`TalkingFacePipeline.write_video` wrote."""

    path: Path
    frames: int
    fps: float
    duration: float
    """Seconds of speech (the video lasts frames / fps, within half a frame of it)."""
    coefficients: CoefficientSequence


def prepare_portrait(
    image: Any,
    renderer: Renderer,
    *,
    device: str | torch.device = "cpu",
    crop_size: int = 512,
    landmark_backend: str = "mediapipe",
) -> Portrait:
    """Fit the face model to a portrait (its largest face) and make ``renderer``'s source from the face crop.

    ``image``: an image file path, or numpy HxWx3 (uint8 or float 0..1), grayscale/RGBA, or a torch IMAGE.
    """
    rgb = load_image(image) if isinstance(image, str | os.PathLike) else to_rgb_uint8(image, name="image")
    face = extract(rgb, backend=landmark_backend, crop_size=crop_size, name="image")
    photo = torch.tensor(rgb, device=device, dtype=torch.float32) / 255
    portrait = Portrait(image=photo, face=face, face_crop=face.crop_image(rgb).to(device), renderer=renderer)
    portrait.source_for(renderer)  # prepared now, so that a crop the renderer cannot take fails before any work
    return portrait


def load_default_generator(device: str | torch.device = "cpu") -> CoefficientGenerator:
    """The bundled generator, with a clear message if the file is missing from this checkout."""
    if not DEFAULT_GENERATOR.is_file():
        raise InputNotFoundError(
            f"the bundled generator {DEFAULT_GENERATOR} is missing; reinstall the package or rebuild it with "
            "`python scripts/build_default_model.py` (see flowvq_core/pretrained/README.md)"
        )
    return CoefficientGenerator.load(DEFAULT_GENERATOR, device=device)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """ "auto"/None → CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TalkingFacePipeline:
    """Portrait + speech + emotion (or an emotion reference) + seed → talking-head frames.

    ``generator`` defaults to the bundled one; ``renderer`` to the geometric renderer. ``crop_size`` is the face
    crop's side in pixels; ``landmark_backend`` the face tracker (``"mediapipe"`` or ``"face_alignment"``).
    """

    def __init__(
        self,
        generator: CoefficientGenerator | None = None,
        renderer: Renderer | None = None,
        *,
        device: str | torch.device | None = "cpu",
        crop_size: int = 512,
        landmark_backend: str = "mediapipe",
    ):
        self.device = resolve_device(device)
        self.generator = (generator or load_default_generator()).to(self.device).eval()
        self.renderer = renderer or GeometricRenderer(chunk=RENDER_CHUNK)
        self.crop_size = crop_size
        self.landmark_backend = landmark_backend

    @property
    def fps(self) -> float:
        return self.generator.config.fps

    def prepare(self, image: Any) -> Portrait:
        """Fit the face model to the portrait (the largest face) and make the renderer's source from its crop.

        ``image``: an image file path, or numpy HxWx3 (uint8 or float 0..1), grayscale/RGBA, or a torch IMAGE.
        """
        return prepare_portrait(
            image, self.renderer, device=self.device, crop_size=self.crop_size, landmark_backend=self.landmark_backend
        )

    def audio(self, audio: AudioSource | AudioFeatures, fps: float = 25.0) -> AudioFeatures:
        """Speech as mel windows at ``fps`` (a path, ComfyUI AUDIO, ``(waveform, rate)``, or features as they are)."""
        if isinstance(audio, AudioFeatures):
            return audio
        if isinstance(audio, str | os.PathLike) and not Path(audio).is_file():
            raise InputNotFoundError(f"audio {audio}: no such file")
        return audio_features(audio, fps, name="audio" if not isinstance(audio, str | os.PathLike) else None)

    def reference_latent(self, reference: Any, frames: int, seed: int = 0) -> ExpressionLatent:
        """Emotion transfer: encode a reference clip (video path, frames [T, H, W, 3], or a coefficient sequence)
        with ExpFlow under its own context, its latents looped to ``frames`` (the warm-up's drawn from ``seed``)."""
        expression, windows = self._reference_coefficients(reference)
        return self.generator.reference_latent(expression, windows, frames=frames, seed=seed)

    def _reference_coefficients(self, reference: Any) -> tuple[Tensor, Tensor | None]:
        """[1, T, D] expression of the reference and its audio windows (None: silent)."""
        if isinstance(reference, CoefficientSequence):
            return reference.expression[:1].float(), None
        if isinstance(reference, str | os.PathLike):
            from .video import read_video

            clip = read_video(reference)
            frames, fps, waveform, rate = clip.frames, clip.fps, clip.waveform, clip.sample_rate
        else:
            frames, fps, waveform, rate = reference, self.fps, None, None
        fitted = extract_video(frames, backend=self.landmark_backend, crop_size=self.crop_size)
        expression = fitted.expression.unsqueeze(0)
        windows = None
        if waveform is not None and np.abs(waveform).max() > 1e-4:
            mel = log_mel(prepare_waveform(waveform, rate, name="reference audio"))
            windows = mel_windows(mel, expression.shape[1], fps).to(self.device)
        return expression, windows

    def coefficients(
        self,
        portrait: Portrait,
        speech: AudioFeatures,
        *,
        emotion: str = "neutral",
        strength: float = 1.0,
        reference: Any = None,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> CoefficientSequence:
        """β̂, ρ̂ for every frame of ``speech``: sampled for ``emotion``, or taken from ``reference``'s latents."""
        label = emotion_id(emotion)
        check_strength(strength)
        latent = None if reference is None else self.reference_latent(reference, speech.num_frames, seed)
        return self.generator.generate(
            speech,
            portrait.face.expression.to(self.device),
            portrait.face.pose.to(self.device),
            label,
            seed=seed,
            expression_latent=latent,
            strength=strength,
            progress=progress,
        )

    def render(
        self,
        portrait: Portrait,
        coefficients: CoefficientSequence,
        *,
        full_frame: bool = False,
        sample: int = 0,
        progress: Progress | None = None,
    ) -> Iterator[Tensor]:
        """Frames [N, H, W, 3] float 0..1, chunk by chunk (the crop, or pasted back into the full photo)."""
        expression = coefficients.expression[sample].to(self.device)
        pose = coefficients.pose[sample].to(self.device)
        source = portrait.source_for(self.renderer)
        for frames, _ in render_chunks(self.renderer, source, expression, pose, progress=progress):
            yield paste_back(portrait.image, frames, portrait.face.crop) if full_frame else frames

    def stream(
        self,
        image: Any,
        audio: AudioSource | AudioFeatures,
        *,
        emotion: str = "neutral",
        strength: float = 1.0,
        reference: Any = None,
        seed: int = 0,
        fps: float = 25.0,
        full_frame: bool = False,
        progress: Progress | None = None,
    ) -> tuple[AudioFeatures, CoefficientSequence, Iterator[Tensor]]:
        """Check every input, generate the coefficients, and return (speech, coefficients, frame chunks).

        Inputs are validated before any work starts, so a bad emotion or a missing file fails at once.
        """
        emotion_id(emotion)
        check_strength(strength)
        if reference is not None and isinstance(reference, str | os.PathLike) and not Path(reference).is_file():
            raise InputNotFoundError(f"reference {reference}: no such file")
        speech = self.audio(audio, fps)
        portrait = self.prepare(image)
        total = 3 * speech.num_frames

        def generation(done: int, _: int) -> None:
            if progress is not None:
                progress(done, total)

        def rendering(done: int, _: int) -> None:
            if progress is not None:
                progress(2 * speech.num_frames + done, total)

        coefficients = self.coefficients(
            portrait, speech, emotion=emotion, strength=strength, reference=reference, seed=seed, progress=generation
        )
        return speech, coefficients, self.render(portrait, coefficients, full_frame=full_frame, progress=rendering)

    def write_video(
        self, path: str | os.PathLike[str], image: Any, audio: AudioSource | AudioFeatures, **options: Any
    ) -> VideoSummary:
        """Render straight into an H.264 + AAC MP4 at ``path`` (:meth:`stream`'s options); memory stays flat."""
        from .video import write_mp4

        speech, coefficients, chunks = self.stream(image, audio, **options)
        frames = write_mp4(path, chunks, speech.fps, speech.waveform, speech.sample_rate)
        return VideoSummary(path=Path(path), frames=frames, fps=speech.fps, duration=speech.duration,
                            coefficients=coefficients)  # fmt: skip

    def __call__(self, image: Any, audio: AudioSource | AudioFeatures, **options: Any) -> TalkingFace:
        """Everything at once: :meth:`stream`'s options, all frames in one tensor."""
        speech, coefficients, chunks = self.stream(image, audio, **options)
        frames = torch.cat([chunk.cpu() for chunk in chunks])
        return TalkingFace(
            frames=frames,
            waveform=speech.waveform,
            sample_rate=speech.sample_rate,
            fps=speech.fps,
            coefficients=coefficients,
        )
