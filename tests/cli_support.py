"""Run ``crmwh`` as a real subprocess (exit code and stderr are the behaviour), and the OS tricks the
error-path tests need: a read-only data directory and a full disk, without root where possible."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CRMWH = Path(sys.executable).with_name("crmwh")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def crmwh_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMWH_") or k == "CRMWH_TEST_PG_URL"}
    env.update({"CRMWH_DATA_DIR": str(data_dir), "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "false"})
    env.update(extra)
    return env


def run_crmwh(args: list[str], data_dir: Path, *, timeout: float = 120, cwd: Path | None = None,
              wrap: list[str] | None = None, **env: str) -> Ran:
    """``crmwh ARGS`` in a subprocess; ``wrap`` prefixes the command (e.g. an unshare shell)."""
    command = [*(wrap or []), str(CRMWH), *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,  # noqa: S603 - our CLI
                          env=crmwh_env(data_dir, **env), cwd=cwd or data_dir.parent, check=False)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(ran: Ran, *needles: str) -> str:
    """Exit 2, no traceback, exactly one ``crmwh: error:`` line containing every needle."""
    assert ran.code == 2, (ran.code, ran.out, ran.err)
    assert "Traceback" not in ran.err, ran.err
    lines = [line for line in ran.error_lines if line.startswith("crmwh: error:")]
    assert len(lines) == 1, ran.err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


@cache
def mount_namespace_prefix() -> tuple[str, ...] | None:
    """A command prefix that runs a shell in a private mount namespace (as root: ``unshare -m``;
    otherwise a user namespace, ``unshare -rm``), or None when the kernel or container forbids it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    for flags in (("-m",), ("-r", "-m")) if os.geteuid() == 0 else (("-r", "-m"),):
        probe = tempfile.mkdtemp(prefix="crmwh-ns-probe-")
        try:
            ok = subprocess.run([unshare, *flags, "sh", "-c", f"mount -t tmpfs -o size=64k none {probe}"],  # noqa: S603
                                capture_output=True, timeout=10, check=False).returncode == 0
        finally:
            os.rmdir(probe)
        if ok:
            return (unshare, *flags, "sh", "-c")
    return None


def read_only_wrap(directory: Path) -> list[str] | None:
    """Runs the command with ``directory`` remounted read-only (bind mount in a private namespace)."""
    prefix = mount_namespace_prefix()
    if prefix is None:
        return None
    d = shlex.quote(str(directory))
    return [*prefix, f'mount --bind {d} {d} && mount -o remount,bind,ro {d} {d} && exec "$0" "$@"']


def tmpfs_wrap(directory: Path, size: str, seed_from: Path | None = None) -> list[str] | None:
    """Runs the command with a tmpfs of ``size`` mounted on ``directory`` (seeded with a copy of
    ``seed_from``): a disk that fills up, with a real ENOSPC."""
    prefix = mount_namespace_prefix()
    if prefix is None:
        return None
    d = shlex.quote(str(directory))
    seed = f" && cp -a {shlex.quote(str(seed_from))}/. {d}/" if seed_from else ""
    return [*prefix, f'mount -t tmpfs -o size={size} none {d}{seed} && exec "$0" "$@"']
