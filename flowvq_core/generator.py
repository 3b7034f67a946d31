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
from .emotions import NEUTRAL_ID, emotion_id
from .flows import ExpFlow, ManifoldProjection, PoseFlow
from .flows.coefficient_flow import ProgressCallback

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


MAX_STRENGTH = 2.0


def check_strength(strength: float) -> None:
    """A clear error for an emotion strength outside 0..MAX_STRENGTH."""
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= MAX_STRENGTH:
        raise ValueError(
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
        expression_latent: Tensor | None = None,
        strength: float = 1.0,
        use_projection: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> CoefficientSequence:
        """β̂ and ρ̂ for every video frame of ``audio``, ``num_samples`` different sequences per call.

        ``expression_latent`` [B, T, D] (from ``ExpFlow.encode_reference``) replaces sampling for emotion transfer.
        Manifold projection applies to sampled latents when a bank is present and ``use_projection``.
        ``temperature`` and ``use_projection`` default to the checkpoint's :class:`SamplingDefaults`.
        ``strength`` (0..2) scales the emotion: the same latent noise is decoded once under ``emotion`` and once
        moved to the neutral class, and the expressions are mixed as neutral + strength · (emotional − neutral);
        0 is neutral talking, 1 the emotion as learnt, above 1 exaggerated.
        """
        label = emotion_id(emotion)
        check_strength(strength)
        # Inference mode halves the per-frame overhead of the autoregressive loop; the results are cloned outside
        # it so callers may edit them in place.
        with torch.inference_mode():
            expression, pose = self._generate(
                audio, source_expression, source_pose, label, num_samples, seed, temperature, pose_temperature,
                expression_latent, strength, use_projection, progress,
            )  # fmt: skip
        return CoefficientSequence(expression=expression.clone(), pose=pose.clone(), fps=audio.fps)

    def _generate(
        self,
        audio: AudioFeatures,
        source_expression: Tensor,
        source_pose: Tensor,
        label: int,
        num_samples: int,
        seed: int,
        temperature: float | None,
        pose_temperature: float,
        expression_latent: Tensor | None,
        strength: float,
        use_projection: bool | None,
        progress: ProgressCallback | None,
    ) -> tuple[Tensor, Tensor]:
        warmup = self.sampling.warmup_frames
        windows = audio.windows.to(self.device)
        if warmup:
            windows = torch.cat([self.expression.context_encoder.silence(warmup).to(windows), windows])
        frames = windows.shape[0]
        total = 2 * frames

        def expression_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(done, total)

        def pose_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(frames + done, total)

        temperature = self.sampling.temperature if temperature is None else temperature
        use_projection = self.sampling.use_projection if use_projection is None else use_projection
        projection = self.projection if use_projection else None
        if expression_latent is None:
            expression_latent = self.expression.sample_latent(
                frames,
                label,
                num_samples=num_samples,
                temperature=temperature,
                generator=torch.Generator().manual_seed(seed),
                projection=projection,
            )
        elif warmup:
            rest = self.expression.sample_latent(
                warmup,
                label,
                num_samples=expression_latent.shape[0],
                temperature=temperature,
                generator=torch.Generator().manual_seed(seed),
            )
            expression_latent = torch.cat([rest.to(expression_latent), expression_latent], 1)
        latent = expression_latent.to(self.device)
        batch = latent.shape[0]
        labels = torch.full((batch,), label, dtype=torch.long, device=self.device)
        if strength != 1.0 and label != NEUTRAL_ID:
            neutral = self._to_class(latent, label, NEUTRAL_ID)
            if projection is not None:
                neutral = projection.project(neutral, torch.full(neutral.shape[:2], NEUTRAL_ID))
            latent = torch.cat([neutral.to(latent), latent])
            labels = torch.cat([torch.full_like(labels, NEUTRAL_ID), labels])
        expression = self.expression.generate(
            windows, source_expression, labels, latent=latent, progress=expression_progress
        )
        if expression.shape[0] > batch:
            calm, emotional = expression.split(batch)
            expression = calm + strength * (emotional - calm)
        expression = expression.clamp(0, 1)  # the rig's units are defined on 0..1
        pose = self.pose.generate(
            windows,
            source_pose,
            num_samples=expression.shape[0],
            temperature=pose_temperature,
            generator=torch.Generator().manual_seed(seed + POSE_SEED_OFFSET),
            progress=pose_progress,
        )
        return expression[:, warmup:], pose[:, warmup:]

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
