"""Every node's function with small inputs, ComfyUI's modules stubbed the way ComfyUI's own unit tests do."""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest
import torch
from skimage import data

pytest.importorskip("mediapipe")

from renderer_helpers import WindowMeanRenderer, tiny_vqig  # noqa: E402

import nodes  # noqa: E402
from flowvq_core.bench import speech_like_audio  # noqa: E402
from flowvq_core.coefficients import CoefficientSequence  # noqa: E402
from flowvq_core.face import GeometricRenderer  # noqa: E402
from flowvq_core.face.rig import NUM_UNITS, unit_index  # noqa: E402
from flowvq_core.pipeline import load_default_generator  # noqa: E402
from flowvq_core.rendering import render_all  # noqa: E402


class Interrupted(BaseException):
    """What ComfyUI raises when the user cancels (a BaseException, as comfy.model_management's is)."""


@pytest.fixture
def comfy_env(tmp_path, monkeypatch):
    """Stand-ins for folder_paths, comfy.utils and comfy.model_management over temporary folders."""
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.models_dir = str(tmp_path / "models")
    folder_paths.folder_names_and_paths = {}
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()

    def add_model_folder_path(name, path, is_default=False):
        folder_paths.folder_names_and_paths.setdefault(name, ([], set()))[0].append(path)

    def get_filename_list(name):
        paths, suffixes = folder_paths.folder_names_and_paths[name]
        found = [f for p in paths if os.path.isdir(p) for f in os.listdir(p)]
        return sorted(f for f in found if not suffixes or os.path.splitext(f)[1] in suffixes)

    def get_full_path_or_raise(name, filename):
        for path in folder_paths.folder_names_and_paths[name][0]:
            if os.path.isfile(os.path.join(path, filename)):
                return os.path.join(path, filename)
        raise FileNotFoundError(filename)

    def get_save_image_path(prefix, output):
        subfolder, stem = os.path.split(prefix)
        folder = os.path.join(output, subfolder)
        os.makedirs(folder, exist_ok=True)
        return folder, stem, len(os.listdir(folder)) + 1, subfolder, prefix

    folder_paths.add_model_folder_path = add_model_folder_path
    folder_paths.get_filename_list = get_filename_list
    folder_paths.get_full_path_or_raise = get_full_path_or_raise
    folder_paths.get_input_directory = lambda: str(input_dir)
    folder_paths.get_output_directory = lambda: str(output_dir)
    folder_paths.get_save_image_path = get_save_image_path

    updates, interrupt = [], {"now": False}

    class ProgressBar:
        def __init__(self, total):
            self.total = total

        def update_absolute(self, value, total=None):
            updates.append((value, total))

    def throw_exception_if_processing_interrupted():
        if interrupt["now"]:
            raise Interrupted

    comfy = types.ModuleType("comfy")
    comfy.utils = types.SimpleNamespace(ProgressBar=ProgressBar)
    comfy.model_management = types.SimpleNamespace(
        get_torch_device=lambda: torch.device("cpu"),
        intermediate_device=lambda: torch.device("cpu"),
        throw_exception_if_processing_interrupted=throw_exception_if_processing_interrupted,
    )
    for name, module in (("folder_paths", folder_paths), ("comfy", comfy), ("comfy.utils", comfy.utils),
                         ("comfy.model_management", comfy.model_management)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, module)
    nodes.comfy.register_model_folder()
    return types.SimpleNamespace(
        folder_paths=folder_paths, input=input_dir, output=output_dir, updates=updates, interrupt=interrupt
    )


@pytest.fixture(scope="module")
def portrait_image():
    return torch.from_numpy(data.astronaut()).float()[None] / 255


@pytest.fixture(scope="module")
def audio():
    return {"waveform": torch.from_numpy(speech_like_audio(1.2)).reshape(1, 1, -1), "sample_rate": 16000}


@pytest.fixture(scope="module")
def generator():
    return load_default_generator()


def _node(name):
    return nodes.NODE_CLASS_MAPPINGS[name]()


def test_every_node_is_registered_documented_and_categorised(comfy_env):
    assert set(nodes.NODE_CLASS_MAPPINGS) == set(nodes.NODE_DISPLAY_NAME_MAPPINGS)
    assert len(nodes.NODE_CLASS_MAPPINGS) == 14
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        assert name.startswith("FlowVQ") and cls.CATEGORY.startswith("FlowVQ") and cls.DESCRIPTION
        assert hasattr(cls, cls.FUNCTION)
        spec = cls.INPUT_TYPES()
        for section in spec.values():
            for input_name, (kind, *options) in section.items():
                assert options and options[0].get("tooltip"), f"{name}.{input_name} has no tooltip"
                assert isinstance(kind, str | list), (name, input_name)
        if cls.RETURN_TYPES:
            assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES)
            assert len(getattr(cls, "OUTPUT_TOOLTIPS", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES)
    assert comfy_env.folder_paths.folder_names_and_paths["flowvq"][1] == {".safetensors"}


def test_loaders_give_the_bundled_generator_or_a_file_from_models_flowvq(comfy_env, generator):
    choices = nodes.FlowVQLoadGenerator.INPUT_TYPES()["required"]["checkpoint"][0]
    assert choices == [nodes.loaders.BUNDLED], "an empty models/flowvq lists only the bundled generator"
    (bundled,) = _node("FlowVQLoadGenerator").load(nodes.loaders.BUNDLED)
    assert bundled.config == generator.config
    folder = comfy_env.folder_paths.folder_names_and_paths["flowvq"][0][0]
    os.makedirs(folder)
    generator.save(os.path.join(folder, "mine.safetensors"))
    assert "mine.safetensors" in nodes.FlowVQLoadGenerator.INPUT_TYPES()["required"]["checkpoint"][0]
    (mine,) = _node("FlowVQLoadGenerator").load("mine.safetensors")
    assert mine.sampling == generator.sampling
    (renderer,) = _node("FlowVQLoadRenderer").load(nodes.loaders.GEOMETRIC, 48, False)
    assert renderer.grid_size == 48 and renderer.mouth_interior is False


def test_a_vqig_in_models_flowvq_is_offered_as_a_renderer_and_renders(comfy_env, portrait_image, generator):
    from flowvq_core.vqig import VQIG, VQIGConfig, VQIGRenderer

    folder = comfy_env.folder_paths.folder_names_and_paths["flowvq"][0][0]
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    VQIGRenderer(VQIG(VQIGConfig.preset("tiny"))).save(os.path.join(folder, "tiny_vqig.safetensors"))
    generator.save(os.path.join(folder, "generator.safetensors"))
    renderers = nodes.FlowVQLoadRenderer.INPUT_TYPES()["required"]["renderer"][0]
    assert renderers == [nodes.loaders.GEOMETRIC, "vqig: tiny_vqig.safetensors"]
    generators = nodes.FlowVQLoadGenerator.INPUT_TYPES()["required"]["checkpoint"][0]
    assert generators == [nodes.loaders.BUNDLED, "generator.safetensors"], "each list shows only its own kind"
    (vqig,) = _node("FlowVQLoadRenderer").load("vqig: tiny_vqig.safetensors", 32, True)
    assert vqig.precision == "float32"
    assert (
        _node("FlowVQLoadRenderer").load("vqig: tiny_vqig.safetensors", 32, True, "bfloat16")[0].precision == "bfloat16"
    )
    face, coefficients = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 128, 25.0)
    moving = CoefficientSequence(coefficients.expression.expand(1, 3, -1), coefficients.pose.expand(1, 3, -1), 25.0)
    frames, masks = _node("FlowVQRender").render(vqig, face, moving, 0)
    assert frames.shape == (3, 128, 128, 3) and masks.shape == (3, 128, 128)


def test_extract_gives_a_face_and_one_frame_per_image(comfy_env, portrait_image):
    face, coefficients = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 256, 25.0)
    assert face.face.crop.output_size == 256 and face.source.image.shape == (256, 256, 3)
    assert coefficients.expression.shape == (1, 1, NUM_UNITS) and coefficients.pose.shape == (1, 1, 6)
    frames = portrait_image.expand(3, -1, -1, -1).clone()
    frames[1] = torch.roll(frames[1], 6, dims=1)
    _, tracked = _node("FlowVQExtract3DMM").extract(frames, "mediapipe", 256, 30.0)
    assert tracked.expression.shape == (1, 3, NUM_UNITS) and tracked.fps == 30.0
    coffee = torch.from_numpy(data.coffee()).float()[None] / 255
    with pytest.raises(ValueError, match="face"):
        _node("FlowVQExtract3DMM").extract(coffee, "mediapipe", 256, 25.0)


def test_wired_blocks_equal_the_all_in_one_node(comfy_env, portrait_image, audio, generator):
    face, _ = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 512, 25.0)
    (latent,) = _node("FlowVQSampleSMMLatent").sample(generator, "happy", 0.7, 0.0, 5, 10, audio)
    (expressive,) = _node("FlowVQExpressionFlow").generate(generator, face, audio, latent, "model default")
    assert expressive.expression.shape == (1, 30, NUM_UNITS) and torch.equal(expressive.pose[0, 0], face.face.pose), (
        "before Pose Flow the head holds the portrait's pose"
    )
    (moving,) = _node("FlowVQPoseFlow").generate(generator, face, audio, expressive, 5, "audio-driven", 1.0)
    (renderer,) = _node("FlowVQLoadRenderer").load(nodes.loaders.GEOMETRIC, 32, True)
    crops, masks = _node("FlowVQRender").render(renderer, face, moving, 0)
    assert crops.shape == (30, 512, 512, 3) and masks.shape == (30, 512, 512) and crops.dtype == torch.float32
    (full,) = _node("FlowVQPasteBack").paste(portrait_image, crops, face, 0.1)
    assert full.shape == (30, 512, 512, 3) and float(full.min()) >= 0 and float(full.max()) <= 1
    frames, speech, fps = _node("FlowVQTalkingFace").generate(portrait_image, audio, "happy", 0.7, 5, True)
    assert fps == 25.0 and frames.shape == full.shape
    assert torch.allclose(frames, full, atol=1e-6), float((frames - full).abs().max())
    assert speech["sample_rate"] == 16000 and speech["waveform"].shape[:2] == (1, 1)
    assert abs(speech["waveform"].shape[-1] / 16000 - 30 / fps) < 0.5 / fps
    assert comfy_env.updates, "progress reached ComfyUI's bar"


def test_seeds_are_reproducible_and_differ(comfy_env, audio, generator):
    sample = _node("FlowVQSampleSMMLatent").sample
    first, again, other = (sample(generator, "sad", 1.0, 0.0, seed, 50)[0] for seed in (1, 1, 2))
    assert first.latent.frames == 50 and first.latent.label == 6
    assert torch.equal(first.latent.latent, again.latent.latent)
    assert not torch.equal(first.latent.latent, other.latent.latent)
    (from_audio,) = sample(generator, "sad", 1.0, 0.0, 1, 50, audio)
    assert from_audio.latent.frames == 30


def test_pose_modes_amplitude_and_reference(comfy_env, portrait_image, audio, generator):
    face, _ = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 256, 25.0)
    (latent,) = _node("FlowVQSampleSMMLatent").sample(generator, "neutral", 1.0, 0.0, 0, 30)
    (coefficients,) = _node("FlowVQExpressionFlow").generate(generator, face, audio, latent, "off")
    pose_flow = _node("FlowVQPoseFlow").generate
    (still,) = pose_flow(generator, face, audio, coefficients, 0, "still", 1.0)
    assert torch.equal(still.pose, coefficients.pose) and torch.equal(still.expression, coefficients.expression)
    (calm,) = pose_flow(generator, face, audio, coefficients, 0, "audio-driven", 0.0)
    assert torch.allclose(calm.pose, calm.pose[:, :1].expand_as(calm.pose))
    nod = coefficients.pose.clone()
    nod[0, :, 0] += torch.linspace(0, 0.2, 30)
    reference = CoefficientSequence(coefficients.expression, nod, 25.0)
    (copied,) = pose_flow(generator, face, audio, coefficients, 0, "from reference", 1.0, reference)
    assert torch.allclose(copied.pose[0, :, 0] - copied.pose[0, 0, 0], torch.linspace(0, 0.2, 30), atol=1e-6)
    with pytest.raises(ValueError, match="reference_coefficients"):
        pose_flow(generator, face, audio, coefficients, 0, "from reference", 1.0)
    short = {"waveform": audio["waveform"][..., :8000], "sample_rate": 16000}
    with pytest.raises(ValueError, match="same audio"):
        pose_flow(generator, face, short, coefficients, 0, "audio-driven", 1.0)


def test_emotion_reference_from_coefficients(comfy_env, portrait_image, audio, generator):
    smile = [unit_index("mouthSmileLeft"), unit_index("mouthSmileRight")]
    face, _ = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 512, 25.0)
    encode = _node("FlowVQEncodeEmotionReference").encode
    smiles = []
    for level in (0.8, 0.0):
        expression = torch.zeros(1, 40, NUM_UNITS)
        expression[..., smile] = level
        reference = CoefficientSequence(expression, torch.zeros(1, 40, 6), 25.0)
        (codes,) = encode(generator, 1.0, 0, reference_coefficients=reference, reference_audio=audio)
        assert codes.strength == 1.0 and codes.latent.frames == 40 and not codes.latent.sampled
        (made,) = _node("FlowVQExpressionFlow").generate(generator, face, audio, codes, "model default")
        smiles.append(float(made.expression[0][:, smile].mean()))
    assert smiles[0] > 0.5 > 0.1 > smiles[1], f"a smiling reference smiles, a calm one does not: {smiles}"
    with pytest.raises(ValueError, match="exactly one reference"):
        encode(generator, 1.0, 0)


def test_edit_preview_save_and_load(comfy_env):
    expression = torch.rand(1, 50, NUM_UNITS, generator=torch.Generator().manual_seed(0))
    pose = 0.05 * torch.randn(1, 50, 6, generator=torch.Generator().manual_seed(1))
    from flowvq_core.face.rig import UNIT_NAMES

    coefficients = CoefficientSequence(expression, pose, 25.0, UNIT_NAMES)
    (edited,) = _node("FlowVQEditCoefficients").edit(coefficients, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    assert float(edited.expression[..., unit_index("eyeBlinkLeft")].abs().max()) == 0
    assert torch.equal(edited.expression[..., unit_index("jawOpen")], expression[..., unit_index("jawOpen")])
    assert torch.allclose(edited.pose, pose[:, :1].expand_as(pose))
    result = _node("FlowVQPreviewCoefficients").preview(coefficients, 512, 256)
    (plot,) = result["result"]
    assert plot.shape == (1, 256, 512, 3) and plot.dtype == torch.float32 and float(plot.std()) > 0.01
    curves = result["ui"]["flowvq_curves"][0]
    assert len(curves["jawOpen"]) == 50 and curves["fps"] == [25.0]
    for file_format, suffix in (("safetensors", ".safetensors"), ("json", ".json")):
        saved = _node("FlowVQSaveCoefficients").save(coefficients, "takes/a", file_format)
        entry = saved["ui"]["flowvq_files"][0]
        assert entry["subfolder"] == "takes" and entry["filename"].endswith(suffix)
        path = comfy_env.output / "takes" / entry["filename"]
        os.replace(path, comfy_env.input / entry["filename"])
        assert entry["filename"] in nodes.FlowVQLoadCoefficients.INPUT_TYPES()["required"]["file"][0]
        (loaded,) = _node("FlowVQLoadCoefficients").load(entry["filename"])
        assert torch.allclose(loaded.expression, coefficients.expression, atol=1e-5)
    saved = _node("FlowVQSaveCoefficients").save(coefficients, "takes/a", "arkit csv (Live Link Face)")
    assert (comfy_env.output / "takes" / saved["ui"]["flowvq_files"][0]["filename"]).read_text().startswith("Timecode")
    with pytest.raises(ValueError, match="outside"):
        _node("FlowVQLoadCoefficients").load("../output/takes/x.json")
    assert nodes.FlowVQLoadCoefficients.VALIDATE_INPUTS("notes.txt") != True  # noqa: E712


def test_cancelling_stops_rendering(comfy_env, portrait_image):
    face, coefficients = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 256, 25.0)
    long = CoefficientSequence(coefficients.expression.expand(1, 40, -1), coefficients.pose.expand(1, 40, -1), 25.0)
    comfy_env.interrupt["now"] = True
    (renderer,) = _node("FlowVQLoadRenderer").load(nodes.loaders.GEOMETRIC, 32, True)
    with pytest.raises(Interrupted):
        _node("FlowVQRender").render(renderer, face, long, 0)


RENDERERS = {
    "geometric": lambda: GeometricRenderer(chunk=3),
    "vqig": lambda: tiny_vqig(chunk=2),
    "unknown": WindowMeanRenderer,
}


@pytest.mark.parametrize("kind", list(RENDERERS))
def test_render_takes_any_renderer_and_the_face_gives_it_its_source(comfy_env, portrait_image, kind):
    """No renderer is special to the Render node: one it has never heard of renders like the built-in ones."""
    renderer = RENDERERS[kind]()
    face, coefficients = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 128, 25.0)
    expression = coefficients.expression.expand(1, 5, -1).clone()
    expression[0, :, unit_index("jawOpen")] = torch.linspace(0, 0.6, 5)
    moving = CoefficientSequence(expression, coefficients.pose.expand(1, 5, -1), 25.0)
    frames, masks = _node("FlowVQRender").render(renderer, face, moving, 0)
    expected = render_all(renderer, face.source_for(renderer), expression[0], moving.pose[0])
    assert torch.equal(frames, expected[0]) and torch.equal(masks, expected[1])
    assert comfy_env.updates[-1] == (5, 5)
    (full,) = _node("FlowVQPasteBack").paste(portrait_image, frames, face, 0.1, masks)
    assert full.shape == (5, *portrait_image.shape[1:])


def test_the_all_in_one_node_takes_a_renderer_it_has_never_heard_of(comfy_env, portrait_image, audio, generator):
    renderer = WindowMeanRenderer()
    frames, _, fps = _node("FlowVQTalkingFace").generate(portrait_image, audio, "happy", 1.0, 0, False, generator,
                                                         renderer)  # fmt: skip
    assert frames.shape == (30, 512, 512, 3) and renderer.prepared == 1


def test_paste_back_refuses_another_image(comfy_env, portrait_image):
    face, coefficients = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 256, 25.0)
    crops = torch.zeros(2, 256, 256, 3)
    with pytest.raises(ValueError, match="same image"):
        _node("FlowVQPasteBack").paste(torch.zeros(1, 300, 400, 3), crops, face, 0.1)
    assert np.isfinite(_node("FlowVQPasteBack").paste(portrait_image, crops, face, 0.0)[0].numpy()).all()


def test_the_flow_blocks_decode_one_audio_once(comfy_env, portrait_image, audio, generator, monkeypatch):
    """Sample SMM Latent, Expression Flow and Pose Flow given the same AUDIO compute its features once; another
    AUDIO, or the same tensor changed in place, is decoded again."""
    calls = []
    real = nodes.speech.audio_features

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(nodes.speech, "audio_features", counted)
    monkeypatch.setattr(nodes.speech, "_cache", [])
    face, _ = _node("FlowVQExtract3DMM").extract(portrait_image, "mediapipe", 512, 25.0)
    (latent,) = _node("FlowVQSampleSMMLatent").sample(generator, "happy", 0.7, 0.0, 5, 10, audio)
    (expressive,) = _node("FlowVQExpressionFlow").generate(generator, face, audio, latent, "model default")
    _node("FlowVQPoseFlow").generate(generator, face, audio, expressive, 5, "audio-driven", 1.0)
    assert len(calls) == 1
    other = {"waveform": audio["waveform"].clone(), "sample_rate": audio["sample_rate"]}
    _node("FlowVQSampleSMMLatent").sample(generator, "happy", 0.7, 0.0, 5, 10, other)
    assert len(calls) == 2, "another AUDIO object is decoded"
    other["waveform"].mul_(0.5)
    (latent,) = _node("FlowVQSampleSMMLatent").sample(generator, "happy", 0.7, 0.0, 5, 10, other)
    assert len(calls) == 3, "a waveform changed in place is decoded again"
