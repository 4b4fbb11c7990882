"""The review page in a real browser: Debian's chromium driven by selenium
through chromium-driver, headless, on loopback only. Screenshots go to
tests/artifacts/ (gitignored)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.review import load
from pipeline.review.server import ReviewServer
from tests.test_review_api import pending_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).parent / "artifacts"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "no chromium/chromedriver installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage", "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_review_page_in_chromium(tmp_path: Path, browser: object) -> None:
    report, json_path = pending_report(tmp_path)
    session = load.session(report, json_path=json_path)
    server = ReviewServer(session)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    ARTIFACTS.mkdir(exist_ok=True)
    d = browser  # type: ignore[assignment]
    try:
        d.get(server.url)  # type: ignore[attr-defined]
        wait = WebDriverWait(d, 20)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#evidence tbody tr")))
        # the page escapes hostile evidence: the planted tag is text, not an element
        assert d.find_elements(By.CSS_SELECTOR, "#evidence b.planted") == []  # type: ignore[attr-defined]
        assert "<b class=planted>" in d.find_element(By.ID, "evidence").text  # type: ignore[attr-defined]
        # each evidence row shows the original file and line
        first_src = d.find_element(By.CSS_SELECTOR, "#evidence tbody tr td.src + td.src")  # type: ignore[attr-defined]
        assert ":" in first_src.text and "/" not in first_src.text
        # a citation scrolls to its evidence row and highlights it
        cite = d.find_element(By.CSS_SELECTOR, "#timeline .cite")  # type: ignore[attr-defined]
        target = cite.get_attribute("data-id")
        cite.click()
        row = d.find_element(By.ID, f"ev-{target}")  # type: ignore[attr-defined]
        wait.until(lambda _: "highlight" in (row.get_attribute("class") or ""))
        assert len(d.find_elements(By.CSS_SELECTOR, "tr.highlight")) == 1  # type: ignore[attr-defined]
        assert d.execute_script(  # type: ignore[attr-defined]
            "const r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;",
            row,
        ), "the highlighted row was not scrolled into view"
        # hypotheses are marked; the picture loaded (an image under the page's CSP)
        hypotheses = sum(w.hypothesis for w in session.report.draft.whys)
        assert len(d.find_elements(By.CSS_SELECTOR, "#whys .badge.warn")) == hypotheses  # type: ignore[attr-defined]
        wait.until(
            lambda _: d.execute_script("return document.getElementById('picture').naturalWidth") > 0
        )  # type: ignore[attr-defined]
        d.save_screenshot(str(ARTIFACTS / "review-page.png"))  # type: ignore[attr-defined]

        # approving the placeholder lesson is refused with a clear message
        assert d.find_element(By.ID, "placeholder-note").is_displayed()  # type: ignore[attr-defined]
        d.find_element(By.ID, "approver").send_keys("alice")  # type: ignore[attr-defined]
        d.find_element(By.ID, "approve").click()  # type: ignore[attr-defined]
        wait.until(lambda _: "placeholder" in d.find_element(By.ID, "message").text)  # type: ignore[attr-defined]
        assert "Approval:** pending" in report.read_text()

        lesson = {
            "context": "Checkout deploys that change the payment client.",
            "lesson": "A pool exhausted right after a deploy points at the deploy first.",
            "adjustment": "Before a deploy, compare the pool size of old and new configs.",
        }
        for field, text in lesson.items():
            box = d.find_element(By.ID, field)  # type: ignore[attr-defined]
            box.clear()
            box.send_keys(text)
        assert not d.find_element(By.ID, "placeholder-note").is_displayed()  # type: ignore[attr-defined]
        d.save_screenshot(str(ARTIFACTS / "review-page-edited.png"))  # type: ignore[attr-defined]
        d.find_element(By.ID, "approve").click()  # type: ignore[attr-defined]
        wait.until(ec.visibility_of_element_located((By.ID, "done")))
        d.save_screenshot(str(ARTIFACTS / "review-page-done.png"))  # type: ignore[attr-defined]
        assert "Approved" in d.find_element(By.ID, "done-title").text  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    text = report.read_text()
    for value in lesson.values():
        assert value in text
    assert "- **Approval:** approved by @alice on " in text
    assert not list(report.parent.glob(".*.tmp"))
