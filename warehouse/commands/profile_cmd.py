"""``crmwh profile``: source profiles of file drops (list, show, infer one from a file).

Profiles map a file's columns onto sales lines. The shipped ones live in the package; your own go in
``<data dir>/profiles/<name>.toml`` (found by name, and they win over shipped ones of the same name) or
anywhere else (``crmwh ingest FILE --profile path/to/layout.toml``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from warehouse.commands.common import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile", help="source profiles of file drops: list, show, infer one from a file",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    sub = parser.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    infer = sub.add_parser(
        "infer", help="propose a profile from a file's header and values, and say why",
        description="Read FILE as ingestion would and propose a profile: delimiter, decimal separator, date "
                    "order and formats, and which column is the order, customer, product, quantity, price, "
                    "date and currency. Example: crmwh profile infer sales_eu.csv, then "
                    "crmwh ingest sales_eu.csv --profile sales_eu")
    infer.add_argument("file", type=Path, help="a file drop (CSV, XLSX, Parquet)")
    infer.add_argument("--out", type=Path, help="where to write the profile (default: <data dir>/profiles/<name>.toml)")
    infer.add_argument("--name", help="profile name (default: from the file name)")
    infer.add_argument("--force", action="store_true", help="overwrite an existing profile file")
    infer.set_defaults(handler=_infer)
    listing = sub.add_parser("list", help="the profiles available by name, and where each comes from")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="print a profile (by name or path) as TOML, after validating it")
    show.add_argument("profile", help="a profile name or a path to a .toml file")
    show.set_defaults(handler=_show)


def _infer(args: argparse.Namespace) -> int:
    from warehouse.foundation.errors import CrmwhError
    from warehouse.ingest.profile_infer import infer_profile

    settings = get_settings()
    if not args.file.is_file():
        raise CrmwhError(f"no such file: {args.file}")
    profile, guesses = infer_profile(args.file, settings, args.name)
    out = args.out or settings.profiles_dir / f"{profile.name}.toml"
    if out.exists() and not args.force:
        raise CrmwhError(f"{out} exists already (use --force to overwrite it, or --out / --name for another)")
    print(f"profile {profile.name!r} proposed for {args.file.name}:")
    width = max(len(g.key) for g in guesses)
    for guess in guesses:
        print(f"  {guess.key:<{width}}  {guess.value:<24}  {guess.why}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profile.to_toml(), encoding="utf-8")
    hint = profile.name if out.parent.resolve() == settings.profiles_dir.resolve() else str(out)
    print(f"written to {out}; check it, then: crmwh ingest {args.file} --profile {hint}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from warehouse.ingest.profiles import profile_paths

    for name, path in sorted(profile_paths(get_settings()).items()):
        print(f"{name:24} {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from warehouse.ingest.profiles import load_profile

    print(load_profile(args.profile, get_settings()).to_toml(), end="")
    return 0
