"""The studio's speed as a person meets it (docs/performance.md): time to the first interval, widget latency.

Usage: python benchmarks/studio_speed.py [--shoppers 20000] [--days 365] [--workers 2] [--replications 5]

Starts `run.py studio` with an empty run cache, opens it in the system's Chromium (Playwright), sets the
shared settings, changes the what-if's take rate and presses Run. It reports the seconds from Run to the
first 95% interval on screen (2 replications of the baseline and of the what-if), and, while the runs go
on, how long the page takes to answer a lever change (a bad value shows the schema's message, the good
value clears it; measured in the page, from the value's commit to the frame showing the answer), median and
worst of 10, then the seconds to the end and, measured in the page, from pressing Run again to the results
of the same comparison from the run cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# in the page: the first element matching a selector, looking inside the shadow DOMs Bokeh draws into
DEEP = """  const deep = (root, sel) => { const f = root.querySelector(sel); if (f) return f;
    for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) { const g = deep(el.shadowRoot, sel);
      if (g) return g; } } return null; };
"""
# in the page: commit a value to a lever's input as a person does (change event), then wait frame by frame
# until the message box shows (or hides) the text; milliseconds from the commit to the frame that shows it
ANSWER_MS = """async ([lever, box, value, text, shown]) => {
""" + DEEP + """  const words = n => (n.shadowRoot ? words(n.shadowRoot) : '') + Array.from(n.childNodes)
    .map(c => c.nodeType === 3 ? c.textContent : words(c)).join('');
  const host = deep(document, '.' + lever), input = deep(host.shadowRoot || host, 'input');
  const showing = () => { const t = deep(document, '.' + box); return !!t && t.offsetParent !== null
    && words(t).includes(text); };
  const t0 = performance.now();
  input.value = value;
  input.dispatchEvent(new Event('change', {bubbles: true}));
  while (showing() !== shown) {
    await new Promise(r => requestAnimationFrame(r));
    if (performance.now() - t0 > 10000) return -1;
  }
  return performance.now() - t0; }"""
# in the page: press Run again and wait frame by frame for the status saying the runs came from the cache
RERUN_MS = """async () => {
""" + DEEP + """  const status = deep(document, '.status'), button = deep(deep(document, '.run').shadowRoot, 'button');
  const done = () => { const f = deep(status.shadowRoot || status, '.studio-finished');
    return !!f && f.textContent.includes('from the run cache'); };
  const t0 = performance.now();
  button.click();
  while (!done()) { await new Promise(r => requestAnimationFrame(r)); if (performance.now() - t0 > 60000) return -1; }
  return performance.now() - t0; }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replications", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cache = Path(tempfile.mkdtemp(prefix="studio-bench-cache-"))
    env = {**os.environ, "ECOMSIM_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "run.py", "studio", "--port", "0", "--workers", str(args.workers)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = server.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(".run button", timeout=30_000)

            def fill(css: str, value) -> None:
                box = page.locator(f".{css} input").first
                box.fill(str(value))
                box.press("Enter")
            fill("common-shoppers", args.shoppers)
            fill("common-days", args.days)
            fill("common-replications", args.replications)
            fill("lever-1-platform-take_rate", 0.15)
            page.locator(".status").get_by_text("Ready").wait_for(timeout=10_000)
            pressed = time.perf_counter()
            page.locator(".run button").click()
            page.locator(".studio-ci").first.get_by_text("[").wait_for(timeout=300_000)
            first = time.perf_counter() - pressed
            latencies = []
            for _ in range(5):
                for value, shown in (("1.5", True), ("0.12", False)):
                    latencies.append(page.evaluate(ANSWER_MS, ["lever-0-platform-take_rate", "error-0", value,
                                                               "less than 1", shown]) / 1000)
            running = page.locator(".status").get_by_text("Running").count() > 0
            page.locator(".status .studio-finished").wait_for(timeout=900_000)
            done = time.perf_counter() - pressed
            cached = page.evaluate(RERUN_MS) / 1000
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{args.shoppers:,} shoppers x {args.days} days, {args.replications} replications, {args.workers} workers")
    print(f"first interval on screen: {first:.1f} s after Run")
    print(f"lever answer while runs go on{'' if running else ' (the runs had ended)'}: median "
          f"{1000 * statistics.median(latencies):.0f} ms, worst {1000 * max(latencies):.0f} ms (10 changes)")
    print(f"all runs: {done:.1f} s; the same comparison again, from the run cache: {cached:.2f} s")


if __name__ == "__main__":
    main()
