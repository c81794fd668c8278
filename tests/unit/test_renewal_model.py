"""The renewal model and its evaluation helpers on small synthetic frames; the rules files' loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from transforms import renewal_model
from transforms.evaluation import _auc_rows, bootstrap, paired_difference, roc_auc
from warehouse.core.rules import RulesError, load_care_rules, load_service_processes


def _contracts(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    late = rng.poisson(0.8, n)
    complaints = rng.poisson(0.2, n)
    price = np.where(rng.random(n) < 0.3, rng.uniform(0.05, 0.2, n), 0.0)
    auto = rng.random(n) < 0.6
    logit = -2.0 + 0.9 * late + 1.0 * complaints + 1.5 * price / 0.1 - 1.0 * auto
    not_renewed = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({
        "late_filings": late, "complaints": complaints, "price_change_pct": price, "auto_renew": auto,
        "days_late_last_filing": np.where(late > 0, rng.integers(0, 4, n), 0), "chain_position": rng.integers(1, 4, n),
        "log_annual_value": np.log1p(rng.uniform(2000, 20000, n)), "payment_days_late": rng.exponential(2, n),
        "ticket_sla_breaches": rng.poisson(0.05, n), "not_renewed": not_renewed})


def test_the_vectorized_bootstrap_auc_is_scikit_learns_auc_on_every_resample() -> None:
    rng = np.random.default_rng(3)
    y = rng.random((40, 60)) < 0.3
    score = np.round(rng.random((40, 60)) * 4)  # many ties
    expected = [roc_auc_score(y[i], score[i]) for i in range(40)]
    assert np.allclose(_auc_rows(y, score), expected)
    one_class = np.zeros((1, 5), dtype=bool)
    assert np.isnan(_auc_rows(one_class, np.arange(5.0)[None, :])[0])
    estimate = bootstrap(roc_auc, y[0], score[0], samples=300)
    assert estimate.ci_low < estimate.value < estimate.ci_high and estimate.samples == 300
    same = paired_difference(roc_auc, y[0], score[0], score[0], samples=100)
    assert (same.value, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)


def test_the_model_finds_the_planted_drivers_and_beats_the_baseline_out_of_time() -> None:
    train, test = _contracts(3000, seed=1), _contracts(1500, seed=2)
    ev = renewal_model.evaluate_out_of_time(train, test, samples=200)
    assert ev.status == "trained" and [m["role"] for m in ev.metrics] == ["model", "baseline"]
    coef = dict(zip(renewal_model.FEATURES, ev.model.coefficients, strict=True))
    assert coef["late_filings"] > 0.3 and coef["complaints"] > 0.1 and coef["price_change_pct"] > 0.3
    assert coef["auto_renew"] < -0.2
    model, baseline = ev.metrics
    assert model["roc_auc"] > 0.75 and model["roc_auc"] > baseline["roc_auc"] + 0.05
    assert model["roc_auc_ci_low"] < model["roc_auc"] < model["roc_auc_ci_high"]
    assert model["vs_baseline_ci_low"] > 0  # better on the same rows, not by luck
    assert 0 <= model["brier"] < 0.25


def test_drivers_name_what_raises_the_risk_in_plain_words() -> None:
    ev = renewal_model.evaluate_out_of_time(_contracts(3000, 1), _contracts(500, 2), samples=0)
    frame = pl.DataFrame({"late_filings": [3, 0], "complaints": [0, 0], "price_change_pct": [0.0, 0.0],
                          "auto_renew": [False, True], "days_late_last_filing": [0, 0], "chain_position": [3, 3],
                          "log_annual_value": [9.0, 9.0], "payment_days_late": [0.0, 0.0],
                          "ticket_sla_breaches": [0, 0]})
    words = renewal_model.drivers(ev.model, frame)
    assert words[0][:2] == ["3 late filings in the last 6 months", "no auto-renewal"]
    assert words[1] == []  # nothing raises this one's risk: no reason is invented
    risk = ev.model.predict(frame)
    assert risk[0] > 0.5 > risk[1]


def test_too_little_history_gives_no_model_and_says_why() -> None:
    ev = renewal_model.evaluate_out_of_time(_contracts(20, 5), _contracts(20, 6), min_rows=40)
    assert ev.status == "insufficient_data" and ev.model is None and "need at least 40" in ev.note


def test_rules_files_are_checked_with_clear_errors(tmp_path: Path) -> None:
    rules = load_care_rules()
    assert all(r.days_after is not None or r.days_before >= 0 for r in rules)
    processes = load_service_processes()
    assert processes["monthly_tax_filing"].steps[0].due_day_of_next_month == 15
    assert processes["company_registration"].steps[0].sla_days == 3
    bad = {
        "unknown kind": '[[rule]]\ncode = "x"\nkind = "birthday"\naction = "a"\nowner = "account_rep"\ndays_before = 1\n',
        "exactly one lead time": '[[rule]]\ncode = "x"\nkind = "renewal_due"\naction = "a"\nowner = "account_rep"\n'
                                 'days_before = 1\ndays_after = 2\n',
        "declared twice": ('[[rule]]\ncode = "x"\nkind = "renewal_due"\naction = "a"\nowner = "account_rep"\n'
                           'days_before = 1\n') * 2,
        "unknown owner": '[[rule]]\ncode = "x"\nkind = "renewal_due"\naction = "a"\nowner = "boss"\ndays_before = 1\n',
    }
    for message, body in bad.items():
        path = tmp_path / "rules.toml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(RulesError, match=message):
            load_care_rules(path)
    sla = tmp_path / "sla.toml"
    sla.write_text('[processes.p]\ncategories = ["c"]\nsteps = [{ code = "s", due_day_of_next_month = 31 }]\n')
    with pytest.raises(RulesError, match="1-28"):
        load_service_processes(sla)
