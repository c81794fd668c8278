"""Data Docs: rendered by crmwh from the validation results, readable with no network, covering staging,
core and marts, and saying the same status as ``crmwh status`` and the publish manifest."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from warehouse.cli import main
from warehouse.foundation.db import warehouse_reader, warehouse_writer
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ops.analytics_pipeline import publish_marts
from warehouse.ops.pipeline import ingest_file
from warehouse.quality.validation_status import validation_status_from_audit
from warehouse.serve.publish import read_manifest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report_support import chromium_binary, render  # noqa: E402

DROP = """order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id,country
A-1,1,P1,Mug,2,3.50,2024-03-01 10:00:00,77,UK
A-1,2,P2,Plate,1,12.00,2024-03-01 10:00:00,77,UK
A-2,1,P1,Mug,0,3.50,2024-03-02 11:30:00,78,UK
"""


COHORTS = """
create or replace table marts.cohort_retention as
select date '2024-01-01' + to_months(c) as cohort_month, m as months_since_first_purchase, 100 as cohort_size,
       100 - 10 * m as customers_active, (100 - 10 * m) / 100.0 as retention_rate, 1000.0 as revenue,
       1000.0 - 50 * m as revenue_retained
from range(3) a(c), range(4) b(m)
"""


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A file drop with one quarantined line, the core checks of its load, and a mart checked and
    published; then `crmwh docs` renders the pages (Great Expectations' own run is left out to keep this
    fast: tests/sql/test_validation.py covers it)."""
    data_dir = tmp_path_factory.mktemp("docs") / "data"
    settings = load_settings({"CRMWH_DATA_DIR": str(data_dir), "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "false"})
    settings.ensure_dirs()
    drop = data_dir.parent / "drop.csv"
    drop.write_text(DROP, encoding="utf-8")
    result = ingest_file(settings, drop, "canonical")
    assert (result.status, result.rows_quarantined) == ("succeeded", 1)
    with warehouse_writer(settings) as con:
        con.execute(COHORTS)
        con.execute("comment on table marts.cohort_retention is 'grain: one row per cohort month and month offset'")
    publish_marts(settings, "docs-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRMWH_DATA_DIR", str(data_dir))
        from warehouse.foundation.settings import get_settings

        get_settings.cache_clear()
        try:
            assert main(["docs"]) == 0
        finally:
            get_settings.cache_clear()
    return settings


def _html_pages(settings: Settings) -> list[Path]:
    return sorted(settings.data_docs_dir.rglob("*.html"))


def test_every_layer_is_in_the_docs(validated: Settings) -> None:
    index = (validated.data_docs_dir / "index.html").read_text(encoding="utf-8")
    for table in ("stg_files__sales_lines", "fct_sales_line", "cohort_retention"):
        assert f'href="suites/{table}.html"' in index, table
        assert re.search(rf'href="runs/{table}/[^"]+\.html"', index), table
    for title in ("Staging batches", "Core star schema", "Published marts"):
        assert title in index
    assert all((validated.data_docs_dir / "suites" / f"{p.stem}.html").is_file()
               for p in (HERE.parents[1] / "expectations").glob("*.json"))


def test_one_status_vocabulary_in_docs_status_and_manifest(validated: Settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CRMWH_DATA_DIR", str(validated.data_dir))
    from warehouse.foundation.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["status", "--json"]) == 0
    finally:
        get_settings.cache_clear()
    (batch,) = json.loads(capsys.readouterr().out)
    assert (batch["status"], batch["validation"]) == ("succeeded", "warning")  # loaded, one line quarantined
    page = validated.data_docs_dir / "runs" / "stg_files__sales_lines" / f"{batch['batch_id']}.html"
    text = page.read_text(encoding="utf-8")
    assert 'class="status status-warning">warning<' in text.split("<main>", 1)[1].split("</p>", 1)[0]  # headline
    assert "quantity_not_zero" in text
    index = (validated.data_docs_dir / "index.html").read_text(encoding="utf-8")
    row = next(line for line in index.split("<tr>") if batch["batch_id"] in line)
    assert "status-warning" in row and "status-failed" not in row
    manifest = read_manifest(validated)
    with warehouse_reader(validated) as con:
        assert manifest.validation_status == validation_status_from_audit(con)
    assert manifest.validation_status == "warning"
    overall = index.split("<p id=overall>", 1)[1].split("</p>", 1)[0]
    assert f'class="status status-{manifest.validation_status}"' in overall


def test_pages_reference_nothing_outside_the_folder(validated: Settings) -> None:
    for page in _html_pages(validated):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), page
        assert "<script" not in text and "<link" not in text, page
        for target in re.findall(r'href="([^"#]+)"', text):
            assert (page.parent / target).resolve().is_file(), (page, target)


needs_chromium = pytest.mark.skipif(chromium_binary() is None, reason="headless Chromium not installed "
                                    "(Debian: apt-get install chromium; .ci/run installs it)")
PROBE = ("<script>const s = getComputedStyle(document.querySelector('.status-warning'));"
         "document.body.setAttribute('data-probe', s.backgroundColor + '|' + getComputedStyle(document.body)"
         ".fontFamily);</script></body>")


@pytest.mark.browser
@needs_chromium
def test_styles_apply_in_an_offline_browser(validated: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(validated.data_docs_dir, copy)
    index = copy / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    rendered = render(index)  # every host name fails to resolve in this browser
    probe = re.search(r'data-probe="([^"]*)"', rendered.dom)
    assert probe, rendered.stderr[-2000:]
    color, font = probe.group(1).split("|", 1)
    assert color == "rgb(183, 121, 31)" and "system-ui" in font
