"""The web page in a real browser: Debian's chromium, headless, driven by Playwright through
its executable path, against `veil serve`'s app on a loopback port over the session's
world (loaded, control derived, alerts swept) in the session's Neo4j.

An inspector's day: open the page, give the key, search a company, see its control drawn
with the actual controller marked, open the alert inbox, dismiss an alert with a reason,
and the dismissal is in the alert's history. A screenshot of each step is saved in the
test's temp directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import neo4j
import pytest

from alerts.store import AlertFilter, list_alerts
from config.graph import load_graph_config
from graph.answers import Company, Controller
from graph.queries import controls
from service import keys
from service.api.page import missing_libraries
from service.keys import Role

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")


def _controlled_company(driver: neo4j.Driver) -> tuple[Company, Controller]:
    """A company of the world whose actual controller sits behind a holding company."""
    records, _, _ = driver.execute_query(
        "MATCH (c:Company)<-[:HOLDS_SHARES_IN]-(:Company)<-[:HOLDS_SHARES_IN]-(:Person) "
        "RETURN DISTINCT c.entity_id AS id ORDER BY id LIMIT 50"
    )
    settings = load_graph_config().control
    for record in records:
        answer = controls(driver, record["id"], settings)
        if isinstance(answer.actual_controller, Controller):
            return answer.company, answer.actual_controller
    pytest.fail("the world has no company with an identified controller behind a holding company")


def test_the_libraries_are_installed_from_the_lockfile() -> None:
    assert missing_libraries() == [], "run `make web`"


def test_an_inspector_finds_the_controller_and_dismisses_an_alert(
    served_api: str, swept_world: neo4j.Driver, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM is not None, "Debian's chromium is missing: run `make browser`"
    company, controller = _controlled_company(swept_world)
    alert = list_alerts(swept_world, AlertFilter(status="new"))[0]
    _, key = keys.create(Role.REGULATOR, "browser test")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(served_api)
            expect(page.locator("h1")).to_contain_text("企业控制关系")
            page.fill("#key", key)
            page.click("#key-form button")
            expect(page.locator("#key-state")).to_have_text("已设置密钥")

            page.fill("#search-q", company.name)
            page.click("#search-form button")
            hit = page.locator(f"#search-results a[data-company='{company.entity_id}']")
            expect(hit).to_be_visible()
            hit.click()
            expect(page.locator("#company-title")).to_have_text(company.name)
            expect(page.locator("#controller-line")).to_contain_text(str(controller.name))
            marked = page.evaluate("() => window.veilGraph.nodes('.controller').map((n) => n.id())")
            assert marked == [controller.entity_id]
            page.screenshot(path=str(tmp_path / "control.png"), full_page=True)

            page.click("nav button[data-tab='alerts']")
            row = page.locator(f"#alert-list tr[data-alert='{alert.id}']")
            expect(row).to_be_visible()
            row.click()
            expect(page.locator("#alert-title")).to_contain_text(alert.id)
            page.click("#review-form button[data-action='dismiss']")
            expect(page.locator("#message")).to_contain_text("理由")
            page.fill("#review-reason", "同名不同人，经核实非本人")
            page.click("#review-form button[data-action='dismiss']")
            expect(page.locator("#alert-title")).to_contain_text("已驳回")
            expect(page.locator("#alert-history")).to_contain_text("同名不同人")
            page.screenshot(path=str(tmp_path / "alert.png"), full_page=True)

            page.click("nav button[data-tab='screen']")
            page.fill("#screen-company", company.name)
            page.fill(".screen-person .name", str(controller.name))
            page.click("#screen-form button[type='submit']")
            expect(page.locator("#screen-result")).to_contain_text("登记企业")
            expect(page.locator("#screen-result")).to_contain_text(str(controller.name))
            page.screenshot(path=str(tmp_path / "screen.png"), full_page=True)
            assert problems == []
        finally:
            browser.close()

    dismissed = list_alerts(swept_world, AlertFilter(status="dismissed"))
    assert [(a.id, a.reason) for a in dismissed] == [(alert.id, "同名不同人，经核实非本人")]
    assert (tmp_path / "control.png").stat().st_size > 10_000


def test_the_documented_libraries_are_the_locked_ones() -> None:
    """docs/SERVICE.md records each library's version and licence: the lockfile's."""
    import json
    import re

    root = Path(__file__).resolve().parents[1]
    lock = json.loads((root / "service/web/package-lock.json").read_text(encoding="utf-8"))
    locked = {
        name.removeprefix("node_modules/"): (entry["version"], entry["license"])
        for name, entry in lock["packages"].items()
        if name
    }
    doc = (root / "docs/SERVICE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([\w-]+) \| ([\d.]+) \| (\w+) \|", doc, re.MULTILINE)
    assert {name: (version, licence) for name, version, licence in rows} == locked
