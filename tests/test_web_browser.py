"""The page in a real browser: Debian's chromium, headless, driven by Playwright (no Playwright browser
download), against the gateway and a live TorchServe. Uploads, a fake camera showing a person
(MediaPipe Holistic on the CPU in the browser), corrupt files, TorchServe stopped; every request the
page makes goes to its own origin and no answer holds a TorchServe key. Screenshots: build/screenshots/."""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from handlers.mediapipe_map import mediapipe_frame_points
from scripts.serve.torchserve_ctl import TorchServe
from scripts.wlasl_data import REPO
from tests.conftest import CLIP
from tests.landmark_fixtures import holistic_json, holistic_pose_bytes
from tests.web_support import Gateway, asl100_store, assert_no_secret, gateway, torchserve  # noqa: F401

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/setup_web.sh --browser installs it")

CHROMIUM = Path("/usr/lib/chromium/chromium")
SCREENSHOTS = REPO / "build" / "screenshots"
ANSWERED = "body[data-answer=sure], body[data-answer=unsure], body[data-answer=nothing], body[data-answer=error]"
CAMERA_SIZE = (480, 360)  # a 4:3 frame: the page must send image_width/image_height


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a real photograph of a person (Grace Hopper, matplotlib's sample data in .venv-video)
    as a y4m file for Chromium's fake camera, made with Debian's ffmpeg."""
    photos = sorted(REPO.glob(".venv-video/lib/python*/site-packages/matplotlib/mpl-data/sample_data/grace_hopper.jpg"))
    assert photos, "matplotlib's sample photo is missing from .venv-video (scripts/setup.sh installs it)"
    clip = tmp_path_factory.mktemp("camera") / "person.y4m"
    width, height = CAMERA_SIZE
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photos[0]), "-t", "2", "-r", "10", "-vf",
                    f"scale=-2:{height - 40},pad={width}:{height}:(ow-iw)/2:20:gray,setsar=1", "-pix_fmt", "yuv420p", str(clip)],
                   check=True)
    return clip


@pytest.fixture(scope="module")
def browser(camera_clip: Path) -> Iterator:
    assert CHROMIUM.is_file(), "Debian's chromium is missing (scripts/setup_web.sh --browser installs it)"
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_clip}"])
        yield instance
        instance.close()


class Visit:
    """One page of the site, recording every request the page makes and the answers to /api calls."""

    def __init__(self, browser, gateway: Gateway, width: int = 1280) -> None:  # noqa: F811
        self.gateway = gateway
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.requests: list = []
        self.answers: list = []
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("response", lambda response: self.answers.append(response) if "/api/" in response.url else None)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.gateway.url}/{query}")
        self.page.wait_for_selector("body[data-models=ready]", timeout=30_000)

    def upload(self, files: list[Path]) -> None:
        self.page.evaluate("delete document.body.dataset.answer")
        self.page.set_input_files("#upload", [str(f) for f in files])
        self.page.wait_for_selector(ANSWERED, timeout=120_000)

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)

    def check_and_close(self, keys: list[str]) -> None:
        """Every request went to the gateway's origin; no /api answer holds a key; no script error."""
        others = [r.url for r in self.requests if not r.url.startswith(f"{self.gateway.url}/")
                  and not r.url.startswith(("blob:", "data:"))]
        assert not others, f"requests to other origins: {others[:5]}"
        for answer in self.answers:
            assert_no_secret(answer.text() + json.dumps(answer.headers), keys, answer.url)
        assert not self.errors, self.errors
        self.context.close()


@pytest.fixture
def visit(browser, gateway: Gateway) -> Iterator[Visit]:  # noqa: F811
    keys = list(gateway.server.keys().values())
    page = Visit(browser, gateway)
    yield page
    page.check_and_close(keys)


def frame_files() -> list[Path]:
    return sorted(CLIP.glob("image_*_keypoints.json"))


def test_upload_openpose_frames_shows_language(visit: Visit) -> None:
    visit.open()
    visit.upload(frame_files())
    assert visit.page.get_attribute("body", "data-answer") == "sure"
    assert visit.page.inner_text("#glosses li:first-child .gloss") == "language"
    assert visit.page.inner_text("#headline") == "language"
    assert "asl100 1.0" in visit.page.inner_text("#facts")
    visit.page.wait_for_selector("#replay-box:not([hidden])")
    visit.shot("upload-openpose.png")


def test_upload_zip_of_frames(visit: Visit, tmp_path: Path) -> None:
    archive = tmp_path / "32162.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in frame_files():
            out.write(path, f"32162/{path.name}")
    visit.open()
    visit.upload([archive])
    assert visit.page.inner_text("#glosses li:first-child .gloss") == "language"


@pytest.mark.parametrize("kind", ["pose file", "mediapipe_frames json"])
def test_upload_pose_file_and_landmark_json(visit: Visit, tmp_path: Path, clip_frames: list[dict], kind: str) -> None:
    if kind == "pose file":
        path = tmp_path / "32162.pose"
        path.write_bytes(holistic_pose_bytes(clip_frames, 640, 480))
    else:
        path = tmp_path / "32162-holistic.json"
        path.write_text(json.dumps({"mediapipe_frames": holistic_json(clip_frames)}))
    visit.open()
    visit.upload([path])
    assert visit.page.inner_text("#glosses li:first-child .gloss") == "language", visit.page.inner_text("#error")


def test_upload_video_runs_holistic_in_the_browser(visit: Visit, camera_clip: Path, tmp_path: Path) -> None:
    """A video file: Holistic runs on its frames here, the request carries the landmarks and the frame size."""
    video = tmp_path / "person.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(camera_clip), "-t", "1", "-c:v", "libvpx", "-b:v", "500k",
                    str(video)], check=True)
    visit.open("?cpu=1")
    visit.page.wait_for_selector("body[data-holistic=ready]", timeout=120_000)
    with visit.page.expect_request(lambda r: "/api/predict/" in r.url, timeout=120_000) as sent:
        visit.upload([video])
    body = json.loads(sent.value.post_data)
    assert (body["image_width"], body["image_height"]) == CAMERA_SIZE
    assert len(body["mediapipe_frames"]) >= 10 and any(frame["pose"] for frame in body["mediapipe_frames"])
    # A photograph shows no hands: the server's 422 is shown as "no sign to read", not as an error.
    assert visit.page.get_attribute("body", "data-answer") in ("sure", "unsure", "nothing"), visit.page.inner_text("#error")
    assert "landmarks found in this browser" in visit.page.inner_text("#facts")


def test_not_sure_below_the_threshold(visit: Visit) -> None:
    visit.open("?threshold=0.9999")
    visit.upload(frame_files())
    assert visit.page.get_attribute("body", "data-answer") == "unsure"
    assert visit.page.inner_text("#headline").startswith("Not sure")


def test_fake_camera_person_landmarks_request_and_answer(visit: Visit) -> None:
    """Holistic finds the person in the browser (CPU inference), Space records, the page sends the
    landmarks unmirrored with the frame size, and shows an answer (or 'no hands seen')."""
    visit.open("?cpu=1")
    visit.page.wait_for_selector("body[data-holistic=ready]", timeout=120_000)
    visit.page.click("#camera-button")
    visit.page.wait_for_function("Number(document.body.dataset.landmarkFrames || 0) >= 2", timeout=120_000)
    assert "mirrored" in visit.page.get_attribute("#stage", "class")  # the preview is mirrored for the signer
    with visit.page.expect_request(lambda r: "/api/predict/" in r.url, timeout=120_000) as sent:
        visit.page.keyboard.press("Space")
        visit.page.wait_for_function("Number(document.getElementById('frame-count').textContent) >= 3",
                                     timeout=120_000)
        visit.page.keyboard.press("Space")
    visit.page.wait_for_selector(ANSWERED, timeout=60_000)
    body = json.loads(sent.value.post_data)
    assert (body["image_width"], body["image_height"]) == CAMERA_SIZE
    poses = [frame["pose"] for frame in body["mediapipe_frames"] if frame["pose"]]
    assert poses, "Holistic found no person in the fake camera's photograph"
    # Not mirrored: the person's left shoulder (pose 11) is on the image's right, as the camera saw it.
    assert all(pose[11]["x"] > pose[12]["x"] for pose in poses)
    state = visit.page.get_attribute("body", "data-answer")
    hand_frames = sum(bool(frame["left_hand"] or frame["right_hand"]) for frame in body["mediapipe_frames"])
    # The server refuses a clip with a hand in fewer than 10 frames (422); the page says so, it is no error.
    expected = ("sure", "unsure") if hand_frames >= 10 else ("nothing",)
    assert state in expected, visit.page.inner_text("#error")
    assert visit.page.is_visible("#notice") == (hand_frames == 0 or state == "nothing")
    if state == "nothing":
        assert "shows a hand in" in visit.page.inner_text("#notice") and not visit.page.is_visible("#error")
    print(f"\nHolistic in headless chromium (CPU): {visit.page.inner_text('#landmark-ms')}; "
          f"{visit.page.inner_text('#facts')!r}")
    visit.shot("camera.png")


@pytest.mark.parametrize("name, content, message", [
    ("broken.zip", b"PK\x03\x04 not really a zip", "is not a zip file"),
    ("image_0001_keypoints.json", b'{"people": [', "is not valid JSON"),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp42 not a video", "cannot decode the video"),
    ("notes.txt", b"hello", "expected a video, .json, .zip or .pose file"),
    ("clip.pose", b"\x00\x01\x02 not a pose file", "(HTTP 400)"),
    ("frames.json", b'{"mediapipe_frames": [{"pose": [1, 2]}]}', "mediapipe_frames[0].pose"),
])
def test_corrupt_upload_shows_its_error(visit: Visit, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    visit.open()
    visit.page.wait_for_selector("body[data-holistic=ready]", timeout=120_000)
    visit.upload([path])
    assert visit.page.get_attribute("body", "data-answer") == "error"
    assert visit.page.is_visible("#error") and message in visit.page.inner_text("#error")
    assert visit.page.is_visible("h1")


def test_overlay_applies_the_handlers_mapping(visit: Visit, clip_frames: list[dict]) -> None:
    """The page's 55 points (from GET /api/layout) are the handler's, point for point."""
    frames = holistic_json(clip_frames)
    visit.open()
    drawn = visit.page.evaluate("""async (frames) => {
        const { toPoints } = await import('/js/skeleton.js');
        const layout = await (await fetch('/api/layout')).json();
        return frames.map((frame) => toPoints(layout, frame));
    }""", frames)
    compared = 0
    for index, (frame, points) in enumerate(zip(frames, drawn)):
        expected = mediapipe_frame_points(frame, index)
        if expected is None:
            assert all(point is None for point in points)
            continue
        got = np.array([[0.0, 0.0] if point is None else point for point in points]) * 256
        assert np.allclose(got, expected, atol=1e-3), index
        compared += 1
    assert compared >= 10


RECORDER_RUN = """async () => {
    const { Recorder, RULES } = await import('/js/recorder.js');
    let t = 0;
    const log = [];
    const recorder = new Recorder({ now: () => t, onStart: (manual) => log.push(['start', manual, t]),
                                    onStop: (frames, reason) => log.push(['stop', reason, frames.length, t]) });
    const hand = (x) => Array.from({ length: 21 }, () => ({ x, y: 0.5, z: 0 }));
    const none = { pose: null, left_hand: null, right_hand: null };
    const run = (count, frame) => { for (let i = 0; i < count; i++) { recorder.push(frame(i)); t += 100; } };
    run(5, () => none);                                                        // nobody signs: nothing
    run(10, (i) => ({ ...none, left_hand: hand(0.2 + 0.05 * i) }));            // a hand rises and moves
    run(10, () => none);                                                       // both hands drop
    run(25, () => ({ ...none, right_hand: hand(0.6) }));                       // a hand rises, holds still
    run(5, () => ({ ...none, right_hand: hand(0.6) }));                        // still up: no new start
    recorder.toggle(); run(3, () => none); recorder.toggle();                  // by hand (Space, button)
    return { log, rules: RULES };
}"""


def test_recording_starts_and_stops_by_hands(visit: Visit) -> None:
    visit.open()
    result = visit.page.evaluate(RECORDER_RUN)
    log, rules = result["log"], result["rules"]
    starts = [entry for entry in log if entry[0] == "start"]
    stops = [entry for entry in log if entry[0] == "stop"]
    assert [entry[1] for entry in starts] == [False, False, True]
    assert starts[0][2] == 500  # the first frame with a hand
    assert stops[0][1] == "hands out of view" and stops[0][2] == 10  # frames after the hands dropped are cut
    assert stops[0][3] - 1400 == pytest.approx(rules["dropMs"], abs=100)
    assert stops[1][1] == "pause" and stops[1][3] - starts[1][2] == pytest.approx(rules["pauseMs"], abs=100)
    assert stops[2][1] == "stopped by hand" and len(log) == 6


def test_readable_at_360_px_and_labelled(browser, gateway: Gateway) -> None:  # noqa: F811
    page = Visit(browser, gateway, width=360)
    page.open()
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    unlabelled = page.page.evaluate("""[...document.querySelectorAll('button, input, select')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
        .map(el => el.id)""")
    assert unlabelled == []
    page.page.keyboard.press("Tab")
    page.page.keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.id") == "threshold"  # model picker, then the threshold
    page.shot("narrow-360.png")
    page.check_and_close(list(gateway.server.keys().values()))


def test_torchserve_stopped_shows_503(visit: Visit, torchserve: TorchServe) -> None:  # noqa: F811
    """Last: it stops this module's TorchServe."""
    visit.open()
    keys = list(torchserve.keys().values())
    assert torchserve.stop()
    visit.upload(frame_files())
    error = visit.page.inner_text("#error")
    assert "TorchServe is not running" in error and "(HTTP 503)" in error
    visit.shot("torchserve-down.png")
    assert_no_secret(visit.page.content(), keys, "the page")
