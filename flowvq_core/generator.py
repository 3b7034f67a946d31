"""The flow-based coefficient generator (paper §3.2): ExpFlow + PoseFlow + the manifold-projection bank.

One object that turns audio features, the source face's coefficients and an emotion (or a reference latent) into
expression and pose sequences, and that saves to and loads from one safetensors checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .audio import AudioFeatures
from .checkpoint import CheckpointError, load_module_state, read_checkpoint, save_checkpoint
from .coefficients import CoefficientSequence
from .config import GeneratorConfig
from .emotions import MAX_STRENGTH, NEUTRAL_ID, emotion_id
from .errors import InvalidOptionError
from .flows import ExpFlow, ManifoldProjection, PoseFlow
from .flows.coefficient_flow import ProgressCallback, extend_latent

GENERATOR_KIND = "flowvq-coefficient-generator"
_PROJECTION_KEY = "flowvq.projection"
_SAMPLING_KEY = "flowvq.sampling"


@dataclass(frozen=True)
class SamplingDefaults:
    """How a trained generator samples best when the caller does not say (stored in its checkpoint)."""

    temperature: float = 1.0
    use_projection: bool = True
    warmup_frames: int = 0
    """Frames generated over silence before the speech and dropped: the history then holds the model's own rest
    state instead of the photo's coefficients repeated, which otherwise sets off a burst of motion at the start."""


POSE_SEED_OFFSET = 1_000_003
"""The pose flow draws from seed + this, so expression settings never shift the head motion of a seed."""


@dataclass
class ExpressionLatent:
    """ExpFlow's latent codes z for a clip: sampled for an emotion, or encoded from a reference (paper §3.2)."""

    latent: Tensor
    """[B, W + T, D]: W warm-up frames (generated over silence and dropped), then one code per speech frame."""
    label: int
    """The emotion id the codes belong to."""
    warmup_frames: int = 0
    sampled: bool = True
    """Drawn from the latent distribution (manifold projection applies), not encoded from a reference."""

    @property
    def frames(self) -> int:
        """Speech frames the codes cover (a clip of another length loops or cuts them)."""
        return self.latent.shape[1] - self.warmup_frames


def check_strength(strength: float) -> None:
    """A clear error for an emotion strength outside 0..MAX_STRENGTH."""
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= MAX_STRENGTH:
        raise InvalidOptionError(
            f"strength must be a number from 0 (neutral talking) to {MAX_STRENGTH:g} (exaggerated), got {strength!r}"
        )


class CoefficientGenerator(nn.Module):
    def __init__(
        self,
        config: GeneratorConfig | None = None,
        *,
        face_model_id: str,
        projection: ManifoldProjection | None = None,
        sampling: SamplingDefaults | None = None,
    ):
        super().__init__()
        self.sampling = sampling or SamplingDefaults()
        self.config = config or GeneratorConfig()
        self.face_model_id = face_model_id
        self.expression = ExpFlow(self.config.expression, self.config.audio)
        self.pose = PoseFlow(self.config.pose, self.config.audio)
        self.projection = projection

    @property
    def device(self) -> torch.device:
        return self.expression.context_encoder.positions.device

    def sample_latent(
        self,
        frames: int,
        emotion: str | int = "neutral",
        *,
        seed: int = 0,
        temperature: float | None = None,
        num_samples: int = 1,
    ) -> ExpressionLatent:
        """ExpFlow latents for ``frames`` speech frames (and the warm-up before them) drawn from the emotion's
        Student-t mixture component (paper §3.2); ``temperature`` defaults to the checkpoint's
        :class:`SamplingDefaults`. Manifold projection happens in :meth:`generate_expression`."""
        temperature = self.sampling.temperature if temperature is None else temperature
        label = emotion_id(emotion)
        latent = self.expression.sample_latent(
            self.sampling.warmup_frames + frames,
            label,
            num_samples=num_samples,
            temperature=temperature,
            generator=torch.Generator().manual_seed(seed),
        )
        return ExpressionLatent(latent, label, self.sampling.warmup_frames)

    def reference_latent(
        self,
        expression: Tensor,
        windows: Tensor | None = None,
        *,
        frames: int | None = None,
        seed: int = 0,
        labels: str | int | None = None,
    ) -> ExpressionLatent:
        """Emotion transfer: encode a reference's expression [1, T, D] under its own context (its audio windows, or
        silence), looped to ``frames`` when given; the warm-up before it is sampled from the reference's emotion.
        Without ``labels`` the reference's most likely emotion is used."""
        label = None if labels is None else emotion_id(labels)
        encoded, found = self.expression.encode_reference(expression.to(self.device), windows, label)
        label = int(found[0])
        if frames is not None:
            encoded = extend_latent(encoded, frames)
        warmup = self.sampling.warmup_frames
        if warmup:
            rest = self.expression.sample_latent(
                warmup,
                label,
                num_samples=encoded.shape[0],
                temperature=self.sampling.temperature,
                generator=torch.Generator().manual_seed(seed),
            )
            encoded = torch.cat([rest.to(encoded), encoded], 1)
        return ExpressionLatent(encoded, label, warmup, sampled=False)

    @torch.inference_mode()
    def generate_expression(
        self,
        audio: AudioFeatures,
        source_expression: Tensor,
        latent: ExpressionLatent,
        *,
        strength: float = 1.0,
        use_projection: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> Tensor:
        """β̂ [B, T, D] for every video frame of ``audio`` from ``latent`` (looped or cut to the audio's length).

        Sampled codes are first projected onto the training manifold when ``use_projection`` (default: the
        checkpoint's); codes encoded from a reference are used as they are. ``strength`` (0..2) scales the
        emotion: the same latent noise is decoded once under its emotion and once moved to the neutral class, and
        the expressions are mixed as neutral + strength · (emotional − neutral); 0 is neutral talking, 1 the emotion
        as learnt, above 1 exaggerated.
        """
        check_strength(strength)
        warmup = latent.warmup_frames
        windows = self._windows(audio, warmup)
        speech = latent.latent[:, warmup:]
        if speech.shape[1] != audio.num_frames:
            speech = extend_latent(speech, audio.num_frames)
        codes = torch.cat([latent.latent[:, :warmup], speech], 1).to(self.device)
        batch, label = codes.shape[0], latent.label
        labels = torch.full((batch,), label, dtype=torch.long, device=self.device)
        projection = self._projection(use_projection)
        if projection is not None and latent.sampled:
            codes = projection.project(codes, torch.full(codes.shape[:2], label)).to(codes)
        if strength != 1.0 and label != NEUTRAL_ID:
            neutral = self._to_class(codes, label, NEUTRAL_ID)
            if projection is not None:
                neutral = projection.project(neutral, torch.full(neutral.shape[:2], NEUTRAL_ID))
            codes = torch.cat([neutral.to(codes), codes])
            labels = torch.cat([torch.full_like(labels, NEUTRAL_ID), labels])
        expression = self.expression.generate(windows, source_expression, labels, latent=codes, progress=progress)
        if expression.shape[0] > batch:
            calm, emotional = expression.split(batch)
            expression = calm + strength * (emotional - calm)
        return expression[:, warmup:].clamp(0, 1).clone()  # the rig's units are defined on 0..1

    @torch.inference_mode()
    def generate_pose(
        self,
        audio: AudioFeatures,
        source_pose: Tensor,
        *,
        seed: int = 0,
        temperature: float = 1.0,
        num_samples: int = 1,
        progress: ProgressCallback | None = None,
    ) -> Tensor:
        """ρ̂ [B, T, 6] for every video frame of ``audio`` from PoseFlow (paper §3.2), after the same warm-up."""
        warmup = self.sampling.warmup_frames
        pose = self.pose.generate(
            self._windows(audio, warmup),
            source_pose,
            num_samples=num_samples,
            temperature=temperature,
            generator=torch.Generator().manual_seed(seed + POSE_SEED_OFFSET),
            progress=progress,
        )
        return pose[:, warmup:].clone()

    def generate(
        self,
        audio: AudioFeatures,
        source_expression: Tensor,
        source_pose: Tensor,
        emotion: str | int = "neutral",
        *,
        num_samples: int = 1,
        seed: int = 0,
        temperature: float | None = None,
        pose_temperature: float = 1.0,
        expression_latent: ExpressionLatent | None = None,
        strength: float = 1.0,
        use_projection: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> CoefficientSequence:
        """β̂ and ρ̂ for every video frame of ``audio``: ``sample_latent`` (or ``expression_latent``, e.g. from
        ``reference_latent``), then ``generate_expression`` and ``generate_pose``, each block as its own call does
        it, so the ComfyUI blocks wired one by one give exactly these sequences."""
        check_strength(strength)
        if expression_latent is None:
            expression_latent = self.sample_latent(
                audio.num_frames, emotion, seed=seed, temperature=temperature, num_samples=num_samples
            )
        frames = self.sampling.warmup_frames + audio.num_frames

        def expression_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(done, 2 * frames)

        def pose_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(frames + done, 2 * frames)

        expression = self.generate_expression(
            audio, source_expression, expression_latent, strength=strength, use_projection=use_projection,
            progress=expression_progress,
        )  # fmt: skip
        pose = self.generate_pose(
            audio, source_pose, seed=seed, temperature=pose_temperature, num_samples=expression.shape[0],
            progress=pose_progress,
        )  # fmt: skip
        return CoefficientSequence(expression=expression, pose=pose, fps=audio.fps)

    def _windows(self, audio: AudioFeatures, warmup: int) -> Tensor:
        """The audio's mel windows on this device, after ``warmup`` windows of silence."""
        windows = audio.windows.to(self.device)
        if warmup:
            windows = torch.cat([self.expression.context_encoder.silence(warmup).to(windows), windows])
        return windows

    def _projection(self, use_projection: bool | None) -> ManifoldProjection | None:
        use = self.sampling.use_projection if use_projection is None else use_projection
        return self.projection if use else None

    def _to_class(self, latent: Tensor, source: int, target: int) -> Tensor:
        """The same latent noise around another class's mean (StandardGaussian latents have no means: unchanged)."""
        means = getattr(self.expression.latent, "means", None)
        if means is None:
            return latent
        return latent - means[source].to(latent) + means[target].to(latent)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, config, face-model id and the projection bank to one safetensors file."""
        extra = {_SAMPLING_KEY: json.dumps(dataclasses.asdict(self.sampling))}
        if self.projection is not None:
            extra[_PROJECTION_KEY] = json.dumps(
                {"neighbours": self.projection.neighbours, "ridge": self.projection.ridge}
            )
        save_checkpoint(
            path,
            self.state_dict(),
            kind=GENERATOR_KIND,
            config_json=self.config.to_json(),
            face_model_id=self.face_model_id,
            extra_metadata=extra,
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        face_model_id: str | None = None,
        device: str | torch.device = "cpu",
    ) -> CoefficientGenerator:
        """Load a generator; with ``face_model_id`` a checkpoint made for another face model is a clear error."""
        checkpoint = read_checkpoint(path, kind=GENERATOR_KIND, face_model_id=face_model_id)
        projection = None
        if _PROJECTION_KEY in checkpoint.metadata:
            settings = json.loads(checkpoint.metadata[_PROJECTION_KEY])
            bank = checkpoint.tensors.get("projection.bank")
            labels = checkpoint.tensors.get("projection.bank_labels")
            if bank is not None and labels is not None and labels.shape == bank.shape[:1]:
                projection = ManifoldProjection(bank, labels, settings["neighbours"], settings["ridge"])
        try:
            config = GeneratorConfig.from_json(checkpoint.config_json)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: its config cannot be read ({error}); save the generator again") from error
        sampling = None
        if _SAMPLING_KEY in checkpoint.metadata:
            try:
                sampling = SamplingDefaults(**json.loads(checkpoint.metadata[_SAMPLING_KEY]))
            except (TypeError, ValueError) as error:
                raise CheckpointError(f"{path}: its sampling settings cannot be read ({error})") from error
        generator = cls(
            config,
            face_model_id=checkpoint.face_model_id,
            projection=projection,
            sampling=sampling,
        )
        load_module_state(generator, checkpoint.tensors, source=str(path))
        return generator.to(device).eval()
