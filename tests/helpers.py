from __future__ import annotations

import base64
import time
from typing import Any, Callable, Iterator


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def basic(username: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.02, what: str = "") -> Any:
    """Poll `condition` until it is truthy (and return its value), or fail after `timeout` seconds.
    Tests wait on what they expect to see, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the stable error body and the given code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def headless_chromium(window: str = "1280,900") -> Iterator[Any]:
    """A headless Debian Chromium driven by selenium, its console log kept; quit and its profile
    removed after (a generator for fixtures)."""
    import shutil
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", f"--user-data-dir={profile}", f"--window-size={window}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# The console's pictures: browser tests write one PNG per page here, and the README shows them.
SCREENSHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def screenshot(driver: Any, name: str) -> Any:
    """Save the browser's current page as docs/screenshots/<name>.png (whole page height); returns
    the path. `name` is a plain slug such as "console-home"."""
    assert name.replace("-", "").isalnum(), name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(height, int(full) + 120), 4000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, height)
    return path
