"""docs/churn.md, where marketers read the churn definitions, covers every feature, segment and stage."""

from __future__ import annotations

from pathlib import Path

from transforms.segments import LIFECYCLE_STAGES, PYRAMID_TIERS, parse_rfm_rules
from warehouse.analytics.churn_features import FEATURE_DESCRIPTIONS
from warehouse.foundation.settings import ChurnSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "churn.md").read_text(encoding="utf-8")


def test_every_feature_is_documented_with_its_description() -> None:
    for name, text in FEATURE_DESCRIPTIONS.items():
        assert f"| `{name}` | {text} |" in DOC, name


def test_segments_tiers_and_stages_are_documented() -> None:
    settings = ChurnSettings()
    for rule in parse_rfm_rules(settings.rfm_segment_rules):
        assert f"| {rule.name} |" in DOC, rule.name
    for tier, action in PYRAMID_TIERS.values():
        assert f"| {tier} |" in DOC and action in DOC
    for stage in LIFECYCLE_STAGES:
        assert f"**{stage}**" in DOC


def test_label_definition_uses_the_settings() -> None:
    settings = ChurnSettings()
    for name in ("horizon_gap_quantile", "horizon_round_days", "horizon_min_days", "horizon_max_days",
                 "lookback_days", "backtest_origins", "train_snapshots", "bootstrap_samples", "selection_auc_margin",
                 "value_days", "decline_p_value", "offer_fallback_products", "offer_popularity_days"):
        value = getattr(settings, name)
        assert f"`{name}` = {value:,}" in DOC or f"`{name}` = {value}" in DOC, name
    high, medium = settings.risk_band_shares
    assert f"`risk_band_shares[0]` = {high:.0%}" in DOC and f"down\nto {medium:.0%}" in DOC
