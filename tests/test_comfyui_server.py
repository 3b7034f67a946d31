"""The pack inside a real ComfyUI server, driven over its HTTP API as a user's frontend drives it.

Runs where ``COMFYUI_DIR`` points at a ComfyUI checkout (and ``COMFYUI_PYTHON`` at the Python that runs it, default
``python3``); skipped elsewhere, saying why. A temporary base directory holds the server's models, input and output,
with this checkout linked into its ``custom_nodes``; the example inputs of ``workflows/inputs`` are copied in.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
PACK = "ComfyUI-FlowVQ-Talker"
WORKFLOWS = sorted((ROOT / "workflows" / "api").glob("*.json"))

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.skipif(not COMFYUI_DIR, reason="set COMFYUI_DIR (and COMFYUI_PYTHON) to test against a real ComfyUI"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, base: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        command = [
            os.environ.get("COMFYUI_PYTHON", "python3"), "main.py", "--cpu", "--listen", "127.0.0.1",
            "--port", str(self.port), "--base-directory", str(base),
            "--database-url", f"sqlite:///{base / 'comfyui.db'}",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=COMFYUI_DIR, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited at start-up:\n{self.log()[-3000:]}")
            try:
                self.object_info = self.get("/object_info")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        raise TimeoutError(f"ComfyUI did not answer in 180 s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if answer.headers.get_content_type() == "application/json" else body

    def submit(self, prompt: dict) -> str:
        data = json.dumps({"prompt": prompt, "client_id": uuid.uuid4().hex}).encode()
        request = urllib.request.Request(self.url + "/prompt", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                reply = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"/prompt refused the workflow: {error.read().decode()[:2000]}") from error
        assert reply["node_errors"] == {}, reply["node_errors"]
        return reply["prompt_id"]

    def finish(self, prompt_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry and entry.get("status", {}).get("status_str") in ("success", "error"):
                return entry
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from skimage import data
    from skimage.io import imsave

    base = tmp_path_factory.mktemp("comfyui")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / PACK).symlink_to(ROOT, target_is_directory=True)
    (base / "input").mkdir()
    for example in (ROOT / "workflows" / "inputs").iterdir():
        shutil.copy(example, base / "input" / example.name)
    imsave(base / "input" / "no_face.png", data.coffee())
    running = Server(base)
    yield running
    running.stop()


def test_the_pack_loads_with_every_node(server):
    failed = [line for line in server.log().splitlines() if PACK in line and "IMPORT FAILED" in line]
    assert not failed, server.log()[-3000:]
    from nodes import NODE_CLASS_MAPPINGS

    missing = set(NODE_CLASS_MAPPINGS) - set(server.object_info)
    assert not missing, f"not in /object_info: {missing}"
    assert server.object_info["FlowVQTalkingFace"]["input"]["required"]["emotion"][1]["tooltip"]


def test_the_workflows_are_listed_as_templates(server):
    templates = server.get("/api/workflow_templates")
    assert sorted(templates[PACK]) == sorted(path.stem for path in WORKFLOWS)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.stem)
def test_each_workflow_runs_and_its_video_is_as_long_as_the_speech(server, workflow):
    import av
    import soundfile

    prompt = json.loads(workflow.read_text())
    entry = server.finish(server.submit(prompt))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    videos = [item for output in entry["outputs"].values() for item in output.get("images", [])
              if item["filename"].endswith(".mp4")]  # fmt: skip
    assert len(videos) == 1, entry["outputs"]
    video = videos[0]
    body = server.get(f"/view?filename={video['filename']}&subfolder={video['subfolder']}&type={video['type']}")
    path = Path(server.log_path).parent / "fetched.mp4"
    path.write_bytes(body)
    speech = soundfile.info(ROOT / "workflows" / "inputs" / "flowvq_speech.wav")
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        fps = float(container.streams.video[0].average_rate)
        assert [stream.type for stream in container.streams].count("audio") == 1
    assert frames == round(speech.frames / speech.samplerate * fps), (frames, speech.duration, fps)


def test_a_faceless_image_gives_a_readable_error_and_the_server_goes_on(server):
    blocks = json.loads((ROOT / "workflows" / "api" / "flowvq_blocks.json").read_text())
    faceless = copy.deepcopy(blocks)
    loader = next(node for node in faceless.values() if node["class_type"] == "LoadImage")
    loader["inputs"]["image"] = "no_face.png"
    entry = server.finish(server.submit(faceless))
    assert entry["status"]["status_str"] == "error"
    messages = json.dumps(entry["status"]["messages"])
    assert "face" in messages.lower(), messages[:2000]
    one_node = json.loads((ROOT / "workflows" / "api" / "flowvq_one_node.json").read_text())
    node = next(node for node in one_node.values() if node["class_type"] == "FlowVQTalkingFace")
    node["inputs"]["seed"] = int(np.random.default_rng().integers(1, 2**31))  # not a cached result
    assert server.finish(server.submit(one_node))["status"]["status_str"] == "success"
