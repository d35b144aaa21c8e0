"""End-to-end: `python -m ans.app` on 127.0.0.1, driven by Debian's headless Chromium.

Chromium is spoken to with the Chrome DevTools Protocol over --remote-debugging-pipe (fds 3
and 4, NUL-separated JSON), so the test needs no extra Python package and opens no debug port.
Skipped with a reason when /usr/bin/chromium is missing (install: apt-get install chromium).
Leaves a screenshot of the finished page at reports/app_screenshot.png.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ans.enhance import output_length

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ANS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = REPO / "reports" / "app_screenshot.png"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
    reason=f"headless Chromium not found at {CHROMIUM} (Debian: apt-get install -y chromium)")


class CDP:
    """A minimal Chrome DevTools Protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path, log: Path):
        to_chrome_r, self.w = os.pipe()
        self.r, from_chrome_w = os.pipe()

        def child_fds():  # Chromium reads commands on fd 3 and writes replies on fd 4
            a, b = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--mute-audio", "--remote-debugging-pipe",
             "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",  # a beeping fake mic
             f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            preexec_fn=child_fds, close_fds=False)  # keep the fds 3 and 4 made in the child
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf, self.next_id, self.session = b"", 0, None

    def send(self, method: str, timeout: float = 30.0, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError(f"no reply to {method} within {timeout} s")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
            self.buf += chunk

    def js(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"page never satisfied {expression!r}")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        x, y = self.js(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
                       " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def set_files(self, selector: str, *paths: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ans.checkpoint import build_model, save_model
    from ans.features import Normalizer

    tmp_path = tmp_path_factory.mktemp("server")
    model = save_model(tmp_path / "student" / "model.pt", build_model("ans.models.student.DFSMN"), "student",
                       Normalizer())
    port, log = free_port(), tmp_path / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "ans.app", "--host", "127.0.0.1", "--port", str(port),
                             "--models-dir", str(tmp_path / "none"), "--model", str(model)],
                            cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(log.read_text())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("chromium")
    cdp = CDP(tmp_path / "chromium-profile", tmp_path / "chromium.log")
    try:
        target = cdp.send("Target.createTarget", url="about:blank")["targetId"]
        cdp.session = cdp.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "DOM"):
            cdp.send(f"{domain}.enable")
        cdp.send("Emulation.setDeviceMetricsOverride", width=1180, height=900, deviceScaleFactor=1, mobile=False)
        yield cdp
    finally:
        cdp.close()


def test_upload_enhance_download_in_chromium(server, browser, tmp_path):
    sr, seconds = 16000, 3.0
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * t))
    x += 0.05 * np.random.default_rng(0).standard_normal(t.size)
    noisy = tmp_path / "noisy speech.wav"
    sf.write(noisy, x.astype(np.float32), sr, subtype="PCM_16")
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")

    browser.send("Page.navigate", url=server + "/")
    browser.wait_for("document.body && document.body.dataset.state === 'idle'", timeout=30)
    assert "student" in browser.js("document.querySelector('#model').selectedOptions[0].textContent")

    # a bad upload: the one-line error appears in the page
    browser.set_files("#file", bad)
    browser.wait_for("!document.querySelector('#enhance').disabled")
    browser.click("#enhance")
    browser.wait_for("document.body.dataset.state === 'error'")
    error = browser.js("document.querySelector('#error').textContent")
    assert error.startswith("notes.txt: not a readable audio file") and "Traceback" not in error

    # a good upload: result with audio, spectrograms and timing
    browser.set_files("#file", noisy)
    browser.click("#enhance")
    browser.wait_for("document.body.dataset.state === 'done'", timeout=120)
    assert browser.js("document.querySelector('#error').offsetParent") is None  # error box hidden again
    assert browser.js("document.querySelector('#spectrogram').naturalWidth") > 500
    assert "processing time" in browser.js("document.querySelector('#stats').textContent")
    href = browser.js("document.querySelector('#download').href")
    assert browser.js("document.querySelector('#download').download") == "noisy speech_enhanced.wav"
    assert browser.wait_for("document.querySelector('#enhanced').readyState >= 1 && "
                            "document.querySelector('#enhanced').duration") == pytest.approx(seconds, abs=0.01)

    with urllib.request.urlopen(href, timeout=30) as r:
        y, out_sr = sf.read(io.BytesIO(r.read()))
    assert out_sr == 48000 and y.shape == (output_length(x.size, sr),) and np.isfinite(y).all()
    assert y.size / out_sr == pytest.approx(seconds, abs=1e-4)

    height = browser.js("Math.ceil(document.body.scrollHeight)")
    browser.send("Emulation.setDeviceMetricsOverride", width=1180, height=height, deviceScaleFactor=1, mobile=False)
    png = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    tmp = SCREENSHOT.with_suffix(".png.tmp")
    tmp.write_bytes(png)
    os.replace(tmp, SCREENSHOT)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(SCREENSHOT, tmp_path / SCREENSHOT.name)


def test_attenuation_limit_and_keep_rate_from_the_form(server, browser, tmp_path):
    """The page's fields send the CLI's --atten-lim-db / --keep-rate (and the page runs under its CSP)."""
    sr = 22050
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, (0.1 * np.random.default_rng(1).standard_normal(sr)).astype(np.float32), sr, subtype="PCM_16")
    browser.send("Page.navigate", url=server + "/")
    browser.wait_for("document.body && document.body.dataset.state === 'idle'", timeout=30)
    browser.set_files("#file", noisy)
    browser.js("document.querySelector('#atten').value = '6'")
    browser.click("#keeprate")
    assert browser.js("document.querySelector('#keeprate').checked") is True
    browser.wait_for("!document.querySelector('#enhance').disabled")
    browser.click("#enhance")
    browser.wait_for("['done', 'error'].includes(document.body.dataset.state)", timeout=120)
    assert browser.js("document.body.dataset.state") == "done", browser.js("document.querySelector('#error').textContent")
    assert "22.05 kHz → 22.05 kHz" in browser.js("document.querySelector('#stats').textContent")
    with urllib.request.urlopen(browser.js("document.querySelector('#download').href"), timeout=30) as r:
        y, out_sr = sf.read(io.BytesIO(r.read()))
    assert out_sr == sr and y.size == sr


def test_record_with_fake_microphone_then_enhance(server, browser):
    """MediaRecorder output (ogg/opus or webm/opus) goes through the same upload path."""
    browser.send("Emulation.setDeviceMetricsOverride", width=1180, height=900, deviceScaleFactor=1, mobile=False)
    browser.send("Page.navigate", url=server + "/")
    browser.wait_for("document.body && document.body.dataset.state === 'idle'", timeout=30)
    browser.click("#record")
    browser.wait_for("document.querySelector('#record').classList.contains('on')", timeout=10)
    time.sleep(2.0)
    browser.click("#record")
    name = browser.wait_for("!document.querySelector('#enhance').disabled && "
                            "document.querySelector('#source').textContent", timeout=10)
    assert name.startswith("recording.")
    browser.click("#enhance")
    browser.wait_for("['done', 'error'].includes(document.body.dataset.state)", timeout=120)
    assert browser.js("document.body.dataset.state") == "done", browser.js("document.querySelector('#error').textContent")
    stats = browser.js("document.querySelector('#stats').textContent")
    duration = float(stats.split(" s")[0])
    assert 1.0 < duration < 4.0, stats
