"""report.html in a real browser: Debian's chromium, driven by playwright, offline.

The bundled Adult example is audited (200 bootstrap replicates) and its report opened from a
``file://`` URL with every other request refused and recorded. The page must render with
its role sections, log no console error, request nothing from the network, and lay out for
print; screenshots and the printed PDF are kept under ``test-artifacts/`` for a reviewer.

Chromium missing is a failure, not a skip: ``bash .ci/run`` installs it, and a browser test
that quietly skips proves nothing. Playwright's own browser download is never used.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright
from test_ll144 import METADATA

from audit import AuditRequest, run_audit
from audit.core.accountability import role_infos
from audit.core.registry import Check
from audit.core.result import AuditResult
from reports import render

# End to end in headless chromium.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREEN = {"width": 1280, "height": 900}
# A4 less the print stylesheet's 14 mm side margins, in CSS pixels (96 per inch).
PRINT_WIDTH = round((210 - 2 * 14) / 25.4 * 96)


@dataclass
class Report:
    path: Path
    result: AuditResult

    @property
    def url(self) -> str:
        return self.path.as_uri()


def _audited(
    factory: pytest.TempPathFactory,
    folder: str,
    request: AuditRequest,
    checks: tuple[Check, ...] | None = None,
) -> Report:
    """The request audited from the repository (paths relative to it, as a user types them,
    so that the report shows them so) and its HTML written to a new folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        result = run_audit(request, checks)
    path = factory.mktemp(folder) / "report.html"
    path.write_text(render(result, ["html"])["report.html"], encoding="utf-8")
    return Report(path, result)


@pytest.fixture(scope="module")
def adult_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    # The demo's audit: every stage and check, as `rai-audit run` runs it.
    return _audited(tmp_path_factory, "adult-report", _demo_request({"n_boot": 200}))


def _demo_request(policy: dict[str, Any], **options: Any) -> AuditRequest:
    """The README demo's audit of the bundled Adult example, paths as a user types them."""
    example = Path("examples") / "adult"
    return AuditRequest(
        data=example / "test.csv.gz",
        model=example / "model.pt",
        target="income",
        sensitive=("sex", "race"),
        policy_overrides=policy,
        search_config=False,
        **options,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "`bash .ci/run` does this before the tests"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@dataclass
class Visit:
    """A page with everything it tried to do recorded."""

    page: Page
    console: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every request not for a local file
    loaded: list[str] = field(default_factory=list)


def _open_offline(browser: Browser, url: str, viewport: dict[str, int]) -> Visit:
    context = browser.new_context(viewport=viewport, java_script_enabled=True)
    visit = Visit(context.new_page())

    def gate(route: Route) -> None:
        request_url = route.request.url
        if request_url.startswith("file://"):
            visit.loaded.append(request_url)
            route.continue_()
        else:
            visit.refused.append(request_url)
            route.abort()

    context.route("**/*", gate)
    visit.page.on("console", lambda message: visit.console.append(message))
    visit.page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    visit.page.goto(url, wait_until="load")
    return visit


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _announce(capsys: pytest.CaptureFixture[str], record_property, name: str, path: Path) -> None:
    """Show an artifact's path in the test output and in JUnit XML."""
    record_property(name, str(path))
    with capsys.disabled():
        print(f"\n[artifact] {name}: {path}")


def test_report_renders_offline_with_every_role_section(
    adult_report: Report, browser: Browser, capsys, record_property
) -> None:
    visit = _open_offline(browser, adult_report.url, SCREEN)
    page = visit.page
    try:
        assert page.title().startswith("Responsible-AI audit report")
        assert page.locator("h1").inner_text() == "Responsible-AI audit report"
        verdict = page.locator("#summary .verdict").first.inner_text()
        # The bundled model selects women at 0.28 times the rate of men: the gate fails.
        assert not adult_report.result.gate.passed
        assert verdict.startswith("Gate FAILED")
        for info in role_infos():
            section = page.locator(f"section#role-{info.role.value}")
            assert section.count() == 1 and section.is_visible()
            assert section.locator("h2").first.inner_text().startswith(info.name)
            accountable = sum(f.accountable is info.role for f in adult_report.result.findings)
            assert f"Accountable for ({accountable})" in section.inner_text()
        for anchor in ("summary", "findings", "measurements", "methods", "trail", "signoff"):
            assert page.locator(f"section#{anchor}").is_visible()
        assert page.locator("article.finding").count() == len(adult_report.result.findings)
        assert page.locator("#summary .top-findings > li").count() == 3
        # Every SVG chart was drawn with a size: inline, nothing left to load.
        sizes = page.locator("svg.chart").evaluate_all(
            "svgs => svgs.map(s => s.getBoundingClientRect().width)"
        )
        assert sizes and min(sizes) > 100

        errors = [f"{m.type}: {m.text}" for m in visit.console if m.type in ("error", "warning")]
        assert errors == [], errors
        assert visit.page_errors == []
        assert visit.refused == [], f"the report tried the network: {visit.refused}"
        assert visit.loaded == [adult_report.url]

        ARTIFACTS.mkdir(exist_ok=True)
        summary = ARTIFACTS / "report-summary.png"
        page.screenshot(path=str(summary))
        assert _png_size(summary) == (SCREEN["width"], SCREEN["height"])
        # One more view, of the first role's section as a reviewer scrolls to it. A full-page
        # shot would be several megabytes for little more to see.
        page.locator("#role-developer").evaluate("section => section.scrollIntoView()")
        roles = ARTIFACTS / "report-role-developer.png"
        page.screenshot(path=str(roles))
        assert _png_size(roles) == (SCREEN["width"], SCREEN["height"])
        _announce(capsys, record_property, "screenshot", summary)
        _announce(capsys, record_property, "screenshot_role", roles)
    finally:
        page.context.close()


def test_text_has_enough_contrast_and_headings_are_in_order(
    adult_report: Report, browser: Browser
) -> None:
    visit = _open_offline(browser, adult_report.url, SCREEN)
    page = visit.page
    try:
        levels = page.evaluate(
            "() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]"
            ".map(h => Number(h.tagName[1]))"
        )
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
        # WCAG contrast of every element's own text against the background it sits on.
        worst = page.evaluate(CONTRAST_SCRIPT)
        assert worst["checked"] > 500
        assert worst["ratio"] >= 4.5, worst
    finally:
        page.context.close()


CONTRAST_SCRIPT = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = {ratio: 21, text: "", checked: 0};
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg")) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    worst.checked += 1;
    if (ratio < worst.ratio) worst = {ratio, text: el.textContent.trim().slice(0, 60),
                                      checked: worst.checked};
  }
  return worst;
}"""


def test_print_layout_gives_a_clean_document(
    adult_report: Report, browser: Browser, capsys, record_property
) -> None:
    visit = _open_offline(browser, adult_report.url, {"width": PRINT_WIDTH, "height": 1100})
    page = visit.page
    try:
        page.emulate_media(media="print")
        assert page.evaluate("matchMedia('print').matches")
        # Major sections start on a new page, except the summary under the title.
        breaks = page.locator("section.major").evaluate_all(
            "sections => sections.map(s => [s.id, getComputedStyle(s).breakBefore])"
        )
        assert breaks[0] == ["summary", "auto"]
        roles = {f"role-{info.role.value}" for info in role_infos()}
        assert roles | {"findings", "methods", "trail", "signoff"} <= {
            name for name, rule in breaks if rule == "page"
        }
        # Rows, charts and sign-off blocks never split across pages; headers repeat.
        assert (
            page.evaluate("getComputedStyle(document.querySelector('tbody tr')).breakInside")
            == "avoid"
        )
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.signature')).breakInside")
            == "avoid"
        )
        assert (
            page.evaluate("getComputedStyle(document.querySelector('thead')).display")
            == "table-header-group"
        )
        # Nothing wider than the paper: no table, chart or code block is cut at the margin.
        overflow = page.evaluate(
            """() => {
              const limit = document.documentElement.clientWidth + 0.5;
              return [...document.querySelectorAll('table, figure, svg, pre, section, article')]
                .filter(e => e.getBoundingClientRect().right > limit)
                .map(e => e.tagName + (e.id ? '#' + e.id : ''));
            }"""
        )
        assert overflow == []
        assert page.evaluate("document.documentElement.scrollWidth") <= PRINT_WIDTH
        # Headings carry no link colour on paper, and the contents list is left out.
        assert page.locator("nav").evaluate("n => getComputedStyle(n).display") == "none"

        ARTIFACTS.mkdir(exist_ok=True)
        pdf = ARTIFACTS / "report.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF-")
        pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
        # Summary, three role sections, findings, measurements, methods, trail, sign-off.
        assert pages >= 9
        print_view = ARTIFACTS / "report-print.png"
        page.screenshot(path=str(print_view))
        assert _png_size(print_view)[0] == PRINT_WIDTH
        _announce(capsys, record_property, "pdf", pdf)
        assert visit.refused == []
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def text_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The bundled sentiment example: a text audit without sensitive columns."""
    example = Path("examples") / "sentiment"
    request = AuditRequest(
        data=example / "test.csv.gz",
        model=example / "model.pt",
        target="label",
        text_column="text",
        policy_overrides={"n_boot": 100},
        search_config=False,
    )
    return _audited(tmp_path_factory, "text-report", request)


def test_text_report_shows_its_groups_and_fits_the_screen(
    browser: Browser, text_report: Report
) -> None:
    visit = _open_offline(browser, text_report.url, SCREEN)
    page = visit.page
    assert not visit.refused and not visit.page_errors
    # No horizontal scrolling at 1280 px: a wide table scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
    lead = page.locator("#summary p.lead").inner_text()
    assert "formed by :" not in lead and "0 group(s) were measured" not in lead
    identity = text_report.result.text
    assert identity is not None
    mentioned = sum(group.rows > 0 for group in identity.identity.groups)
    assert (
        f"{mentioned} of {len(identity.identity.groups)} are mentioned, in "
        f"{identity.identity.rows_with_terms:,} of {identity.rows:,} texts"
    ) in lead
    # The measurements section points to the text section instead of standing empty.
    measurements = page.locator("#measurements").inner_text()
    assert "identity groups its texts mention" in measurements
    # The AUC table holds the measured groups; the others are one line, not rows of
    # "undefined".
    auc = text_report.result.text.subgroup_auc
    measured = [g for g in auc.groups if g.status == "ok"]
    rows = page.locator("table.text-auc tbody tr")
    assert rows.count() == len(measured)
    assert page.locator("table.text-auc").inner_text().count("undefined") <= len(measured)
    small = page.locator("p.auc-small").inner_text()
    assert small.startswith(f"{len(auc.groups) - len(measured)} group(s) mentioned in fewer")
    # No evidence table of group names with "–" for their sizes.
    for table in page.locator("table.evidence-table").all():
        sizes = table.locator("tbody td:nth-child(2)").all_inner_texts()
        assert "–" not in sizes, table.inner_text()


PHONE = {"width": 420, "height": 900}
# Rendered size of every chart text, in CSS pixels: its font size times the chart's scale.
CHART_TEXT_PX = """() => [...document.querySelectorAll('svg.chart text')].map(t => {
  const svg = t.ownerSVGElement, drawn = svg.viewBox.baseVal.width || svg.width.baseVal.value;
  return parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / drawn;
})"""


@pytest.mark.parametrize("which", ["adult_report", "text_report"])
def test_phone_width_scrolls_inside_boxes_and_keeps_chart_text_readable(
    browser: Browser, request: pytest.FixtureRequest, which: str
) -> None:
    report: Report = request.getfixturevalue(which)
    visit = _open_offline(browser, report.url, PHONE)
    page = visit.page
    # The page never scrolls sideways; a wide table or chart scrolls in its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    overflowing = page.evaluate(
        """() => {
          const limit = document.documentElement.clientWidth + 0.5;
          return [...document.querySelectorAll('table, figure')]
            .filter(e => e.getBoundingClientRect().right > limit)
            .map(e => e.tagName + '.' + e.className);
        }"""
    )
    assert overflowing == []
    sizes = page.evaluate(CHART_TEXT_PX)
    assert sizes and min(sizes) >= 11 - 1e-6, min(sizes)


# A reviewer reads the report in one sitting: at most this many screens of SCREEN's height.
MAX_SCREENS = 15


def test_the_demo_report_reads_in_fifteen_screens(browser: Browser, adult_report: Report) -> None:
    visit = _open_offline(browser, adult_report.url, SCREEN)
    page = visit.page
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= MAX_SCREENS * SCREEN["height"], f"{height / SCREEN['height']:.1f} screens"
    # Folded, not dropped: every finding's evidence is in the page and opens where it is.
    articles = page.locator("article.finding")
    assert articles.count() == len(adult_report.result.findings)
    first = articles.first.locator("details.finding-details")
    assert first.locator("table.facts").is_hidden()
    first.locator("summary").click()
    assert first.locator("table.facts").is_visible()
    # Why each finding has its severity is read without opening anything; a cause's other
    # measurements are a table in its evidence, hidden until opened.
    merged = [f for f in adult_report.result.findings if f.related_evidence]
    assert merged
    for finding in merged:
        article = page.locator(f'article[data-finding="{finding.id}"]')
        reason = article.locator("p.severity-reason")
        assert reason.is_visible() and reason.inner_text() == finding.severity_reason
        related = article.locator("table.related-table tbody tr")
        assert related.count() == len(finding.related_evidence)
    opened = page.locator(f'article[data-finding="{merged[0].id}"] details.finding-details')
    if not opened.locator("table.related-table").is_visible():
        opened.locator("summary").click()
    assert opened.locator("table.related-table").is_visible()
    # Jargon is explained where it appears: the proxies' measure (Cramér's V, eta) too.
    measures = page.locator("table.explain-proxies td .term[title]")
    assert measures.count() > 0 and "Cramér" in (measures.first.get_attribute("title") or "")
    # The role sections are to-do lists whose items link to the findings.
    todo = page.locator("#role-developer ol.todo li a.ref")
    assert todo.count() > 0
    target = (todo.first.get_attribute("href") or "#missing")[1:]
    assert page.locator(f'[id="{target}"]').count() == 1  # ids hold dots: no CSS #id


@dataclass
class RegulatorPack:
    """The Adult demo audited with --what-if and --format html,ll144: both pages on disk."""

    report: Report
    ll144: Path
    document: dict[str, Any]  # ll144.json


# The pack's metadata, as test_ll144's command line gives it.
LL144_METADATA = {
    flag.removeprefix("--").replace("-", "_"): value
    for flag, value in zip(METADATA[::2], METADATA[1::2], strict=True)
}


@pytest.fixture(scope="module")
def regulator_pack(tmp_path_factory: pytest.TempPathFactory) -> RegulatorPack:
    request = _demo_request(
        {"n_boot": 100, "ll144": LL144_METADATA}, explain=False, what_if=True, ll144=True
    )
    report = _audited(tmp_path_factory, "regulator-pack", request)
    files = render(report.result, ["ll144"])
    ll144 = report.path.with_name("ll144.html")
    ll144.write_text(files["ll144.html"], encoding="utf-8")
    return RegulatorPack(report, ll144, json.loads(files["ll144.json"]))


def _clean(visit: Visit) -> None:
    """Nothing logged, thrown or fetched: the page is whole offline."""
    errors = [f"{m.type}: {m.text}" for m in visit.console if m.type in ("error", "warning")]
    assert errors == [] and visit.page_errors == [], (errors, visit.page_errors)
    assert visit.refused == [], f"the page tried the network: {visit.refused}"


def test_the_what_if_section_shows_each_trade_off_and_its_charts(
    browser: Browser, regulator_pack: RegulatorPack
) -> None:
    what_if = regulator_pack.report.result.what_if
    assert what_if is not None and what_if.status == "ok"
    visit = _open_offline(browser, regulator_pack.report.url, SCREEN)
    page = visit.page
    try:
        _clean(visit)
        section = page.locator("section#what-if")
        assert section.is_visible()
        assert section.locator("p.notice").inner_text().startswith("Evidence, not advice.")
        trade_offs = section.locator("table.what-if-trade-off")
        assert trade_offs.count() == len(what_if.slices)
        for table, found in zip(trade_offs.all(), what_if.slices, strict=True):
            rows = table.locator("tbody tr")
            assert rows.count() == len(found.methods)
            # The model's own decisions come first, with their demographic parity difference
            # as the audit measured it.
            before = found.methods[0]
            cells = rows.first.locator("td").all_inner_texts()
            value = before.metrics["demographic_parity_difference"]
            assert value is not None and cells[1].startswith(f"{value:.3f}")
        widths = section.locator("svg.chart").evaluate_all(
            "svgs => svgs.map(s => s.getBoundingClientRect().width)"
        )
        assert widths and min(widths) > 100
    finally:
        page.context.close()


def test_the_ll144_page_reads_offline_on_screen_phone_and_paper(
    browser: Browser, regulator_pack: RegulatorPack, capsys, record_property
) -> None:
    url = regulator_pack.ll144.as_uri()
    visit = _open_offline(browser, url, SCREEN)
    page = visit.page
    try:
        _clean(visit)
        assert visit.loaded == [url]
        assert page.title() == "Bias audit summary (NYC Local Law 144): Resume Screen 3.1"
        assert page.locator(".callout").inner_text().startswith("Not an independent audit.")
        for table in regulator_pack.document["ll144"]["tables"]:
            section = page.locator(f'section[id="{table["dimension"]}"]')
            assert section.is_visible()
            rows = section.locator("tbody tr")
            # Each category, then the unknown-category row.
            assert rows.count() == len(table["categories"]) + 1
            for row, expected in zip(rows.all(), table["categories"], strict=False):
                assert row.locator("th").inner_text() == " × ".join(expected["category"])
                ratio = row.locator("td").nth(3).inner_text()
                wanted = expected["impact_ratio"]
                assert ratio == ("excluded" if wanted is None else f"{wanted:.4f}")
        levels = page.evaluate(
            "() => [...document.querySelectorAll('h1,h2,h3')].map(h => Number(h.tagName[1]))"
        )
        assert levels[0] == 1 and all(b <= a + 1 for a, b in itertools.pairwise(levels))
        worst = page.evaluate(CONTRAST_SCRIPT)
        assert worst["ratio"] >= 4.5, worst
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "ll144-summary.png"
        page.screenshot(path=str(shot))
        _announce(capsys, record_property, "screenshot_ll144", shot)
    finally:
        page.context.close()
    phone = _open_offline(browser, url, PHONE)
    try:
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        phone.page.context.close()
    printed = _open_offline(browser, url, {"width": PRINT_WIDTH, "height": 1100})
    try:
        printed.page.emulate_media(media="print")
        pdf = ARTIFACTS / "ll144.pdf"
        printed.page.pdf(path=str(pdf), format="A4")
        assert pdf.read_bytes()[:5] == b"%PDF-"
        _clean(printed)
    finally:
        printed.page.context.close()
