"""The demo generator's planted bundles come back out of the warehouse as top cross-sell rules."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from warehouse.foundation.settings import Settings, load_settings


@pytest.fixture
def demo_settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings(mining={"min_support": 0.004, "min_confidence": 0.1})
    settings.ensure_dirs()
    return settings


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_planted_bundles_recovered_from_the_small_demo(demo_settings: Settings) -> None:
    generator = pytest.importorskip("warehouse.demo.generator", reason="the demo generator is not built yet")
    from warehouse.analytics.mining import run_mining
    from warehouse.foundation.db import warehouse_writer
    from warehouse.ops import pipeline

    opts = generator.GenerateOptions(scale="small", seed=42)
    generator.generate(demo_settings.source_url, demo_settings.ground_truth_path, opts)
    truth = json.loads(demo_settings.ground_truth_path.read_text(encoding="utf-8"))
    bundles = [tuple(c.strip() for c in b["product_codes"]) for b in truth["bundles"]]
    assert bundles, "the ground truth lists no bundles"
    pipeline.run(demo_settings, pipeline.Interval.parse(None, opts.end_date), include_files=False)
    with warehouse_writer(demo_settings) as con:
        counts = run_mining(con, demo_settings, opts.end_date)
        rules = con.execute("""
            select antecedent, consequent, lift, is_significant from analytics.association_rules
            where segment_dimension = 'all' and window_name = 'all' and not is_redundant
            order by lift desc, rule_id""").fetchall()
    assert counts["baskets"] > 0 and rules
    pairs = {frozenset(p) for b in bundles for p in itertools.combinations(b, 2)}
    items = [set(a) | set(c) for a, c, _, _ in rules]
    related = [any(frozenset(p) in pairs for p in itertools.combinations(sorted(i), 2)) for i in items]
    first_unrelated = related.index(False) if False in related else len(rules)
    missed = []
    for bundle in bundles:
        inside = [k for k, i in enumerate(items) if i <= set(bundle)]
        if not inside or inside[0] >= first_unrelated:
            missed.append(bundle)
            continue
        assert all(rules[k][2] > 1 and rules[k][3] for k in inside), bundle
    assert not missed, f"bundles not among the top rules: {missed}"
    assert dt.date.fromisoformat(truth["end_date"]) == opts.end_date
