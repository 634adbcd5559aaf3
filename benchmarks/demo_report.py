"""The demo's wall time and the README screenshot (docs/report.png) of its report.

Runs ``qdrant-explain demo --out DIR`` (offline: packaged EfficientNet-Lite0, bundled photos), times it,
records the machine's load average before and after, then opens the report in headless Chromium
(Playwright, /usr/bin/chromium), checks each case is shown (a joint panel with pair lines and an order-1
panel per case) and writes a screenshot of the first case, a region hovered, to ``--shot``.

    OMP_NUM_THREADS=1 python benchmarks/demo_report.py --out /tmp/qe-demo --shot docs/report.png
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("/tmp/qe-demo"))
    ap.add_argument("--shot", type=pathlib.Path, default=pathlib.Path("docs/report.png"))
    ap.add_argument("--skip-run", action="store_true", help="reuse an existing OUT/report.html")
    args = ap.parse_args()
    facts: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "load_before": os.getloadavg()}
    if not args.skip_run:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qdrant_explain", "demo", "--out", str(args.out)], check=True)
        facts["seconds"] = round(time.perf_counter() - t0, 1)
    facts["load_after"] = os.getloadavg()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
        page.goto((args.out / "report.html").resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=30000)
        facts["cases"] = page.locator("section h2").all_inner_texts()
        facts["joint_panels"] = page.locator(".joint").count()
        facts["order1_panels"] = page.locator(".saliency").count()
        facts["lines_per_joint_panel"] = [int(x or 0) for x in page.eval_on_selector_all(".joint", "els => els.map(e => e.dataset.lines)")]
        card = page.locator(".card").first
        box = page.locator(".joint canvas[data-side=q]").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
        page.wait_for_timeout(200)
        args.shot.parent.mkdir(parents=True, exist_ok=True)
        card.screenshot(path=str(args.shot))
        browser.close()
    print(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
