"""Wall and CPU seconds of the recommender step alone, on a loaded and mined warehouse.

The step is what the analytics run's mining task spends on the recommender: the offers
(`write_recommendations`, marts.cross_sell_recommendations, with the overall scope's rules already in
marts.cross_sell_rules) and, unless --offers-only, the backtest card (`refresh_card`,
marts.recommender_card, the last holdout_days held out). The warehouse file is copied first: the data
directory is only read. When the code has `RecommenderCache`, the card reuses the offers' history and
shared cut as the analytics run does; older code runs the two computations apart. Run it once per code
version on the same data directory to compare (each run prints one line of figures, then the card):

  CRMWH_DATA_DIR=/tmp/d .venv/bin/python -m warehouse.cli demo generate --scale small --seed 11
  CRMWH_DATA_DIR=/tmp/d .venv/bin/python -m warehouse.cli run
  CRMWH_DATA_DIR=/tmp/d .venv/bin/python -m warehouse.cli mine
  CRMWH_DATA_DIR=/tmp/d .venv/bin/python benchmarks/bench_recommender_cost.py [--as-of YYYY-MM-DD] [--offers-only]

--as-of defaults to the day of the latest sale (as `crmwh mine` does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as-of", help="offers as of this day (default: the latest sale's day)")
    parser.add_argument("--offers-only", action="store_true", help="the offers only, not the backtest card")
    args = parser.parse_args()

    import duckdb

    from warehouse.analytics import recommender as wr
    from warehouse.foundation.settings import get_settings

    settings = get_settings()
    source = Path(settings.warehouse_path)
    print(f"machine: {describe_machine('scikit-learn', 'scipy', 'numpy')}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_recommender_cost_") as tmp:
        path = Path(tmp) / "crm.duckdb"
        shutil.copy(source, path)
        con = duckdb.connect(str(path))
        try:
            if args.as_of:
                as_of = dt.date.fromisoformat(args.as_of)
            else:
                as_of = con.execute("select max(order_ts) from core.fct_sales_line").fetchall()[0][0].date()
            as_of_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
            rules = con.execute("select * from marts.cross_sell_rules where segment_dimension = 'all' "
                                "and window_name = 'all' and item_level = 'product'").df()
            cache = wr.RecommenderCache() if hasattr(wr, "RecommenderCache") else None
            extra = {"cache": cache} if cache is not None else {}
            wall, cpu = time.perf_counter(), time.process_time()
            offers, _ = wr.write_recommendations(con, settings, as_of_end, rules, **extra)
            offers_wall, offers_cpu = time.perf_counter() - wall, time.process_time() - cpu
            line = f"offers {offers} rows: {offers_wall:.1f} s wall, {offers_cpu:.1f} s CPU"
            if not args.offers_only:
                wall, cpu = time.perf_counter(), time.process_time()
                wr.refresh_card(con, settings, as_of, **extra)
                card_wall, card_cpu = time.perf_counter() - wall, time.process_time() - cpu
                line += (f"; card {card_wall:.1f} s wall, {card_cpu:.1f} s CPU; step {offers_wall + card_wall:.1f} s "
                         f"wall, {offers_cpu + card_cpu:.1f} s CPU")
                card = con.execute("select recommender, customers_evaluated, hit_rate, hit_rate_vs_popularity, "
                                   "customer_coverage, top3_offer_share from marts.recommender_card "
                                   "order by is_published desc, recommender").fetchall()
            print(f"as of {as_of} ({os.environ.get('CRMWH_DATA_DIR', '')}): {line}", flush=True)
            if not args.offers_only:
                for row in card:
                    print("  {}: {} evaluated, hit rate {:.3f}, {:.2f}x popularity, covered {:.1%}, "
                          "top-3 share {:.1%}".format(*row))
        finally:
            con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
