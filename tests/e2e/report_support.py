"""Open an HTML file in headless Chromium (Debian's ``chromium``): rendered DOM, console messages, screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=10000",
    # offline: every host name fails to resolve, so a page that needs a CDN shows it (no chart, errors)
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
CONSOLE_LINE = re.compile(r":(INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[^\]]*\] \"(?P<message>.*)\", source: (?P<source>.*)$")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Rendered:
    dom: str
    console: list[str]  # every console message the page logged
    stderr: str


def render(html_path: Path, *, screenshot: Path | None = None, timeout_s: float = 90.0) -> Rendered:
    """Load the page with JavaScript; return the DOM after scripts ran and what the console said."""
    binary = chromium_binary()
    assert binary, "chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="crmwh-chromium-") as profile:
        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                "--dump-dom"]
        if screenshot is not None:  # one browser run: the DOM, the console and the picture
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            args += [f"--screenshot={screenshot}", "--window-size=1400,3000"]
        dumped = subprocess.run(  # noqa: S603 - fixed flags, our own file
            [*args, html_path.resolve().as_uri()], capture_output=True, text=True, timeout=timeout_s, check=False)
    console = [m.group("message") for m in map(CONSOLE_LINE.search, dumped.stderr.splitlines()) if m]
    return Rendered(dom=dumped.stdout, console=console, stderr=dumped.stderr)


def console_problems(rendered: Rendered) -> list[str]:
    """Console output that means something went wrong: uncaught errors, console.error, plotly warnings."""
    problems = [m for m in rendered.console if re.search(r"uncaught|error|warn", m, re.IGNORECASE)]
    problems += [line for line in rendered.stderr.splitlines() if "Uncaught" in line and line not in problems]
    return problems


class _Charts(HTMLParser):
    """Counts panels by status and plotly plots with their rendered SVG roots."""

    def __init__(self) -> None:
        super().__init__()
        self.panels: dict[str, str] = {}
        self.plots: list[str] = []  # id of each .js-plotly-plot
        self.svg_in_plot: dict[str, int] = {}
        self._stack: list[tuple[str, str | None]] = []  # (tag, plot id if this element is a plot)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and a.get("data-chart"):
            self.panels[a["data-chart"] or ""] = a.get("data-status") or ""
        plot_id = None
        if "js-plotly-plot" in classes:
            plot_id = a.get("id") or f"plot-{len(self.plots)}"
            self.plots.append(plot_id)
            self.svg_in_plot[plot_id] = 0
        if tag == "svg" and "main-svg" in classes:
            owner = next((p for _, p in reversed(self._stack) if p), None)
            if owner is not None:
                self.svg_in_plot[owner] += 1
        if tag not in ("meta", "link", "br", "img", "input", "hr", "path", "rect", "line", "circle", "use",
                       "image", "stop"):
            self._stack.append((tag, plot_id))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break


def charts_in(dom: str) -> _Charts:
    parser = _Charts()
    parser.feed(dom)
    return parser
