"""The marketers' report: one offline HTML file; charts where marts exist, clear panels where not.

The browser tests open it in headless Chromium the way a person sees it and keep a screenshot in
tests/artifacts/.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from warehouse.cli import main
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.serve.publish import publish
from warehouse.serve.report import CHARTS, write_report

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
sys.path.insert(0, str(HERE))
from report_support import charts_in, chromium_binary, console_problems, render  # noqa: E402


def _sample_marts():
    spec = importlib.util.spec_from_file_location("sample_marts", HERE.parent / "sql" / "sample_marts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _publish(settings: Settings, only: tuple[str, ...] | None = None) -> None:
    with warehouse_writer(settings) as con:
        _sample_marts().create_sample_marts(con, only=only)
        publish(settings, "report-run", None, "passed", con=con)


def _panels(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-chart="([^"]+)" data-status="([^"]+)"', html))


def test_report_with_every_mart_is_one_offline_file(settings: Settings) -> None:
    _publish(settings)
    path = write_report(settings)
    assert path == settings.reports_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    assert _panels(html) == {key: "chart" for key, *_ in CHARTS}
    assert len(CHARTS) == 10
    # self-contained: plotly.js inlined once, nothing fetched from anywhere
    assert not re.search(r"<script[^>]+src=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href=", html, re.IGNORECASE)
    assert not re.search(r"<(img|iframe)[^>]+src=\"?https?:", html, re.IGNORECASE)
    assert html.count("Plotly.newPlot(") == len(CHARTS)
    assert len(html) > 1_000_000  # the library itself is in the file
    assert "report-run" in html and "validation: passed" in html
    top = html[html.index("<th>customers who buy</th>"):]
    top = top[: top.index("</table>")]
    assert top.count("<tr>") == 10  # the ten strongest overall rules, in words
    assert "Product " in top
    assert "Data dictionary" in html and "cohort_month" in html


def test_report_before_anything_is_published(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    out = settings.data_dir / "elsewhere" / "r.html"
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    html = out.read_text(encoding="utf-8")
    assert set(_panels(html).values()) == {"no-data"}
    assert "Nothing is published yet" in html
    assert html.count("No data yet") == len(CHARTS)


def test_report_with_some_marts_says_what_is_missing(settings: Settings) -> None:
    _publish(settings, only=("cohort_retention", "cross_sell_rules"))
    with warehouse_writer(settings) as con:  # a mart without the columns a chart needs
        con.execute("create table marts.customer_retention as select 'C000001' as customer_id, 0.5 as p")
        con.execute("create table marts.cross_sell_recommendations as select 'C1' as customer_id, 'P1' as product_id "
                    "where false")
        publish(settings, "partial-run", None, "passed", con=con)
    html = write_report(settings).read_text(encoding="utf-8")
    panels = _panels(html)
    assert panels.pop("cohort_retention") == "chart" and panels.pop("cross_sell_rules") == "chart"
    assert set(panels.values()) == {"no-data"}
    assert "marts.churn_by_segment is not published yet" in html
    assert "marts.customer_retention has no column for rfm_segment" in html
    assert "marts.cross_sell_recommendations has no rows in this published version" in html


needs_chromium = pytest.mark.skipif(
    chromium_binary() is None,
    reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run installs it)")


@pytest.mark.browser
@needs_chromium
def test_report_renders_every_chart_in_chromium(settings: Settings) -> None:
    _publish(settings)
    path = write_report(settings)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    rendered = render(path, screenshot=screenshot)
    found = charts_in(rendered.dom)
    assert found.panels == {key: "chart" for key, *_ in CHARTS}
    assert len(found.plots) == len(CHARTS)
    assert all(n >= 1 for n in found.svg_in_plot.values()), found.svg_in_plot
    assert console_problems(rendered) == []
    assert screenshot.is_file() and screenshot.stat().st_size > 50_000


@pytest.mark.browser
@needs_chromium
def test_report_with_missing_marts_renders_cleanly_in_chromium(settings: Settings) -> None:
    _publish(settings, only=("cohort_retention",))
    rendered = render(write_report(settings), screenshot=ARTIFACTS / "report_partial.png")
    found = charts_in(rendered.dom)
    assert len(found.plots) == 1 and list(found.svg_in_plot.values())[0] >= 1
    assert sum(1 for s in found.panels.values() if s == "no-data") == len(CHARTS) - 1
    assert console_problems(rendered) == []


@pytest.mark.browser
@needs_chromium
def test_the_browser_is_offline_so_a_cdn_page_fails(tmp_path: Path) -> None:
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head><body>'
        '<div id="p"></div><script>Plotly.newPlot("p", [{"y": [1, 2]}]);</script></body></html>', encoding="utf-8")
    rendered = render(page)
    assert charts_in(rendered.dom).plots == []
    assert any("Plotly is not defined" in p for p in console_problems(rendered))


@pytest.mark.browser
@needs_chromium
def test_the_browser_check_catches_a_broken_chart(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><section data-chart="x" data-status="chart"><div id="p"></div></section>'
        '<script>Plotly.newPlot("p", [{"y": [1, 2]}]);</script></body></html>', encoding="utf-8")
    rendered = render(page)
    found = charts_in(rendered.dom)
    assert found.plots == []  # no plotly.js: nothing rendered
    assert any("Plotly is not defined" in p for p in console_problems(rendered))


def test_report_to_an_unwritable_place_is_one_clear_line(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    blocker = settings.data_dir / "not_a_folder"
    blocker.write_text("x")
    assert main(["report", "--out", str(blocker / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report" in err[0]
