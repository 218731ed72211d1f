"""End to end in a real headless Chromium: the page grades an upload, takes a drawn box, compares two studies.

The service runs in a subprocess (uvicorn, the shipped tendon model, the CPU) on a free loopback port. The
browser is the system's Chromium (Debian packages ``chromium`` and ``chromium-driver``), driven by Playwright;
no browser is downloaded. Screenshots go to ``$NEOVASC_SCREENSHOTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: apt-get install chromium chromium-driver"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with {server.returncode}: {server.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the service did not answer {url}/healthz within {seconds} s")


def _serve(env_extra: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEOVASC_")}
    env.update(NEOVASC_DEVICE="cpu", NEOVASC_HOST="127.0.0.1", **env_extra)
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """The service as ``make run`` starts it: no keys file, loopback only, the shipped model."""
    yield from _serve({})


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NEOVASC_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def _drag_box(page, box: tuple[int, int, int, int], size: tuple[int, int]) -> None:
    """Drag on the drawing canvas from image pixel (x0, y0) to (x1, y1); ``size`` is the image's (W, H)."""
    area = page.locator("#draw").bounding_box()
    assert area is not None
    scale_x, scale_y = area["width"] / size[0], area["height"] / size[1]
    x0, y0, x1, y1 = box
    page.mouse.move(area["x"] + x0 * scale_x, area["y"] + y0 * scale_y)
    page.mouse.down()
    page.mouse.move(area["x"] + (x0 + x1) / 2 * scale_x, area["y"] + (y0 + y1) / 2 * scale_y, steps=4)
    page.mouse.move(area["x"] + x1 * scale_x, area["y"] + y1 * scale_y, steps=4)
    page.mouse.up()


def test_grade_draw_regrade_compare(service: str, page, doppler_png, shots: Path) -> None:
    expect = sync_api.expect
    path, truth = doppler_png
    page.goto(service)
    expect(page.get_by_role("heading", name="Grade a study")).to_be_visible()
    page.set_input_files("#file", str(path))
    expect(page.locator("#status-text")).to_have_text("Graded.")
    expect(page.locator("#headline")).not_to_be_empty()
    assert page.locator("#overlay").evaluate("img => img.naturalWidth") == 160
    page.screenshot(path=str(shots / "01-graded.png"), full_page=True)

    _drag_box(page, truth["roi"], (160, 120))
    assert [page.locator(f"#{name}").input_value() for name in ("x0", "y0", "x1", "y1")] == [
        str(v) for v in truth["roi"]
    ]
    page.get_by_role("button", name="Regrade").click()
    summary = page.locator("#summary")
    expect(summary).to_contain_text("drawn (rectangle)")
    expect(summary).to_contain_text("1.0 %")  # 60 of 6,000 pixels
    assert page.locator("#summary dt:text-is('Vessel count') + dd").inner_text() == str(truth["vessels"])
    page.screenshot(path=str(shots / "02-regraded-with-box.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Result as CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("input,ok,error_code,colour_fraction,")
    assert ",True,,0.01,60,6000,3," in lines[1]

    page.set_input_files("#before", str(path))
    page.set_input_files("#after", str(path))
    page.fill("#roi-before", ",".join(map(str, truth["roi"])))
    page.fill("#roi-after", ",".join(map(str, truth["roi"])))
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("#compare-out")).to_contain_text("within the minimal detectable difference")
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    page.screenshot(path=str(shots / "03-compare-tablet.png"), full_page=True)


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The service with a keys file: every API call needs the key the test holds."""
    from app.api.keys import key_hash, new_key, write_keys

    key, keys = new_key(), tmp_path_factory.mktemp("keys") / "keys"
    write_keys(keys, {"browser": key_hash(key)})
    for url in _serve({"NEOVASC_API_KEYS_FILE": str(keys)}):
        yield url, key


def test_clip_as_a_job_after_asking_for_the_key(keyed_service, page, rng, tmp_path: Path, shots: Path) -> None:
    from tests.conftest import mp4_bytes

    expect = sync_api.expect
    url, key = keyed_service
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4_bytes(rng, frames=6))
    page.goto(url)  # the page itself needs no key
    page.set_input_files("#file", str(clip))
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("send an API key")  # the 401's detail
    dialog.get_by_role("textbox", name="API key").fill(key)
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#status-text")).to_have_text("Graded.")
    expect(page.locator("#curve-figure")).to_be_visible()
    # the clip is speckle with a red patch and no tendon: how many of its frames the model outlines is the
    # model's call (frames it judges to hold no tendon have no colour fraction); the curve is drawn either way
    expect(page.locator("#curve")).to_have_attribute("aria-label", re.compile(r"Colour fraction of [1-6] frames"))
    assert page.evaluate("sessionStorage.getItem('neovasc.apiKey')") == key
    expect(page.get_by_role("link", name="Colour-fraction curve (PNG)")).to_be_visible()
    page.screenshot(path=str(shots / "04-clip-job-with-key.png"), full_page=True)


def test_api_reference_page(service: str, keyed_service, page, shots: Path) -> None:
    """``/docs`` draws the service's OpenAPI document with no asset from elsewhere; with keys it asks for one."""
    expect = sync_api.expect
    page.goto(f"{service}/docs")
    expect(page.locator("#summary")).to_contain_text("operations.")
    expect(page.get_by_role("heading", name="POST /v1/grade")).to_be_visible()
    expect(page.locator("#routes")).to_contain_text("roi")  # a form field of /v1/grade, from the schema
    page.screenshot(path=str(shots / "05-api-reference.png"), full_page=True)
    url, key = keyed_service
    page.goto(f"{url}/docs")
    expect(page.locator("#key-form")).to_be_visible()
    page.locator("#key").fill(key)
    page.get_by_role("button", name="Show the reference").click()
    expect(page.get_by_role("heading", name="POST /v1/grade")).to_be_visible()
