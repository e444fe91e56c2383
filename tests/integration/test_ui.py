"""The MLflow UI in a real browser: Debian's chromium, headless, driven by Playwright.
The experiment and the run a test logged through the real client show up in the UI,
and the run's page shows its metric and its artifact; with basic-auth the browser gets
the challenge, and with the admin's login the UI renders. Screenshots are kept with the
test output (.molecule-logs/screenshots/)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Deployment
from mlflow.tracking import MlflowClient
from packaging.version import Version
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"  # Debian's package (the default scenario's prepare)
SHOTS = ROOT / ".molecule-logs" / "screenshots"
WAIT_MS = 90_000  # the UI's bundle on a busy 2-core host


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"]
        )
        yield browser
        browser.close()


def _shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.default_scenario
def test_the_ui_shows_a_logged_run_with_its_metric_and_artifact(
    deployment: Deployment, browser: Browser, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=deployment.url)
    name = f"ui-{uuid.uuid4().hex[:8]}"
    experiment = client.create_experiment(name)
    run_id = client.create_run(experiment, run_name=f"{name}-run").info.run_id
    client.log_metric(run_id, "ui_accuracy", 0.93)
    (tmp_path / "ui-notes.txt").write_text("seen in a browser")
    client.log_artifact(run_id, str(tmp_path / "ui-notes.txt"))
    client.set_terminated(run_id)

    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    answers: list[int] = []
    page.on("response", lambda response: answers.append(response.status))

    page.goto(f"{deployment.url}/#/experiments")
    page.get_by_text(name, exact=True).first.wait_for(timeout=WAIT_MS)
    _shot(page, "experiments")

    page.goto(f"{deployment.url}/#/experiments/{experiment}/runs/{run_id}")
    metric = page.get_by_text("ui_accuracy").first
    metric.wait_for(timeout=WAIT_MS)
    page.get_by_text("0.93").first.wait_for(timeout=WAIT_MS)
    metric.scroll_into_view_if_needed()  # the screenshot shows the metric
    assert _shot(page, "run").stat().st_size > 10_000

    page.goto(f"{deployment.url}/#/experiments/{experiment}/runs/{run_id}/artifacts")
    page.get_by_text("ui-notes.txt").first.wait_for(timeout=WAIT_MS)
    _shot(page, "artifacts")
    assert not [status for status in answers if status >= 500], answers
    page.close()


@pytest.mark.auth
def test_the_ui_asks_for_a_login_and_renders_with_one(
    deployment: Deployment, browser: Browser
) -> None:
    """The scenario's private CA is not in the browser's store: TLS verification is the
    TLS tests' (test_tls.py); here the browser accepts the certificate."""
    anonymous = browser.new_context(ignore_https_errors=True)
    page = anonymous.new_page()
    challenges: list[tuple[int, str]] = []
    page.on(
        "response", lambda r: challenges.append((r.status, r.headers.get("www-authenticate", "")))
    )
    # Headless chromium has no one to ask for the login: it gives up on the challenge.
    with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        page.goto(f"{deployment.url}/")
    assert challenges and challenges[0][0] == 401 and challenges[0][1].startswith("Basic"), (
        challenges
    )
    anonymous.close()

    login = {"username": deployment.auth_username, "password": deployment.auth_password}
    context = browser.new_context(
        http_credentials=login, ignore_https_errors=True, viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    seen: list[tuple[int, str]] = []
    page.on("response", lambda response: seen.append((response.status, response.url)))
    # The experiments list: the UI's home page in 2.x, its own page in 3.x. Either asks the
    # server for the experiments as soon as it runs. With sync gunicorn workers, the
    # 2.13.0 server left loads without that call for 90 s (the browser's idle connections
    # held every worker; the role now runs gthread workers, test_tls.py): one more load,
    # and what the browser got is in the failure.
    listing = "/#/" if Version(deployment.version).major < 3 else "/#/experiments"
    for attempt in (1, 2):
        try:
            with page.expect_response(
                lambda r: "/experiments/search" in r.url, timeout=WAIT_MS
            ) as found:
                page.goto(f"{deployment.url}{listing}", timeout=WAIT_MS)
            break
        except PlaywrightError as error:
            if attempt == 2:
                raise AssertionError(f"no experiments/search in two loads; got: {seen}") from error
            page.goto("about:blank")
    assert found.value.status == 200 and '"Default"' in found.value.text()
    page.wait_for_timeout(3000)  # the list drawn (3.x keeps polling: no network idle)
    _shot(page, f"experiments-with-login-{deployment.version}")
    answers = [status for status, _ in seen]
    assert 401 not in answers and not [s for s in answers if s >= 500], seen
    context.close()
