"""Time the dashboard over loopback: the page's first paint, the plan API against plan() in process,
and a simulation job of 10^7 journeys followed by its progress.

Run: .venv/bin/python benchmarks/serve.py [--quick]

The server is ``nkescape serve`` as a user starts it, on a free port of 127.0.0.1, from an empty
folder; every request goes to it and nowhere else (the HTTP client ignores proxy settings, and the
browser aborts any request off the server and fails the run). The page is loaded in Debian's
Chromium through Playwright, each load in a fresh context (an empty cache, as on a first visit);
"usable" is the moment the page sets ``body[data-ready=true]`` (the map drawn), read from the
page's own clock. The plan queries are the planner benchmark's (every profile's start in four
months) sent to ``POST /api/plan`` one at a time on one kept-alive connection, then the same
queries through ``plan()`` in this process, alone and with the JSON and GeoJSON the API returns;
the overhead is the difference of the medians. The simulation job polls ``GET /api/jobs/{id}`` and
checks that progress only grows and ends at the total. Every figure is checked for sense (plans
found, the same number of itineraries both ways, a P(safety) between 0 and 1), so that the run
cannot get fast by answering nothing. Targets (issue 15): the page usable in under 1 s; the API's
overhead under 20 ms per plan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from nkescape.atlas import bundled_atlas
from nkescape.routing import PlanError, plan
from nkescape.simulate import simulate

EXE = Path(sys.executable).with_name("nkescape")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
LAPTOP = {"width": 1366, "height": 768}
_SERVING = re.compile(r"^nkescape: serving the dashboard at (http://\S+/)")
# Bounds on every wait, so that a broken server ends the run instead of hanging it (seconds).
START_S = 120
JOB_S = 900
# How often the job's progress is asked for: often enough to see it move on a 10 s job.
POLL_S = 0.25
PAGE_TARGET_MS = 1000
# performance.mark()s the page sets on its way to ready (static/js/app.js), and what each means.
STAGES = {"nk-data": "data loaded", "nk-map": "map drawn", "nk-ready": "network coloured"}
OVERHEAD_TARGET_MS = 20
SIM_RUNS = 10_000_000
QUICK_SIM_RUNS = 200_000


@contextmanager
def server() -> Iterator[str]:
    """``nkescape serve --port 0`` from an empty folder, until the block ends; yields its URL."""
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.Popen(
            [str(EXE), "serve", "--port", "0"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env={k: v for k, v in os.environ.items() if k != "NKESCAPE_OVERLAY"},
        )
        lines: queue.Queue[str] = queue.Queue()
        # A thread drains stderr for the server's whole life, so that it never blocks on a pipe.
        threading.Thread(
            target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True
        ).start()
        try:
            deadline = time.monotonic() + START_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    line = lines.get(timeout=left)
                except queue.Empty:
                    break
                if match := _SERVING.match(line):
                    yield match.group(1)
                    return
            raise SystemExit(f"serve did not start within {START_S} s: exit {proc.poll()}")
        finally:
            proc.terminate()
            proc.wait(timeout=START_S)


def quantiles(ms: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile of ``ms``."""
    cuts = statistics.quantiles(ms, n=20, method="inclusive")
    return statistics.median(ms), cuts[18]


def page_load(url: str, loads: int) -> None:
    """First paint and time to usable of ``loads`` cold loads of the page."""
    from playwright.sync_api import sync_playwright

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    outside: list[str] = []
    # Set on the page's clock the moment it says it is ready (before any page script runs, this
    # watches for the attribute), so that Playwright's polling adds nothing to the figure.
    ready_clock = (
        "new MutationObserver((_, obs) => { if (document.body?.dataset.ready === 'true') "
        "{ window.__readyAt = performance.now(); obs.disconnect(); } })"
        ".observe(document, {attributes: true, subtree: true, "
        "attributeFilter: ['data-ready']});"
    )
    paints, readies = [], []
    stages: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for _ in range(loads):
            context = browser.new_context(viewport=LAPTOP)
            context.add_init_script(ready_clock)

            def route(r: Any) -> None:
                if r.request.url.startswith(origin + "/"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort("blockedbyclient")

            context.route("**/*", route)
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("() => window.__readyAt !== undefined", timeout=START_S * 1000)
            paint = page.evaluate(
                "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime"
            )
            paints.append(float(paint))
            readies.append(float(page.evaluate("() => window.__readyAt")))
            # The page's own marks, where it sets them: its data loaded, its map drawn.
            for name in STAGES:
                at = page.evaluate(
                    "n => performance.getEntriesByName(n, 'mark')[0]?.startTime ?? null", name
                )
                if at is not None:
                    stages.setdefault(name, []).append(float(at))
            context.close()
        browser.close()
    if outside:
        raise SystemExit(f"the page asked for something off the server: {outside}")
    p50, p95 = quantiles(readies) if loads >= 2 else (readies[0], readies[0])
    print(
        f"page, {loads} cold loads at 1366x768: first contentful paint median "
        f"{statistics.median(paints):.0f} ms; usable (map drawn) median {p50:.0f} ms, "
        f"p95 {p95:.0f} ms, worst {max(readies):.0f} ms (target < {PAGE_TARGET_MS} ms)"
    )
    if stages:
        print(
            "  on the way (the page's marks, median): "
            + ", ".join(f"{STAGES[k]} {statistics.median(v):.0f} ms" for k, v in stages.items())
        )


def queries() -> list[tuple[str, int]]:
    """The planner benchmark's queries: every profile's start, in four months of 2017."""
    atlas = bundled_atlas()
    starts = sorted({s for p in atlas.profiles.values() for s in p.starts} - {"seoul"})
    return [(s, m) for s in starts for m in (1, 4, 8, 11)]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, 1e3 * (time.perf_counter() - start)


def plans(url: str, rounds: int) -> None:
    """p50 and p95 of POST /api/plan against plan() in process, on the same queries."""
    atlas = bundled_atlas()
    todo = queries()
    body = [{"from": s, "to": "seoul", "date": f"2017-{m:02d}-01"} for s, m in todo]

    def local(origin: str, month: int, views: bool) -> int:
        try:
            result = plan(atlas, origin, date=dt.date(2017, month, 1))
        except PlanError:
            return -1
        if views:
            json.dumps({**result.to_json(), "geojson": result.to_geojson(atlas)})
        return len(result.itineraries)

    local(*todo[0], views=True)  # warm the compiled atlas, as the server has
    api_ms: list[float] = []
    plan_ms: list[float] = []
    full_ms: list[float] = []
    with httpx.Client(trust_env=False, timeout=60) as http:
        http.post(url + "api/plan", json=body[0])  # warm the connection and the server
        for _ in range(rounds):
            for (origin, month), request in zip(todo, body, strict=True):
                response, ms = timed(
                    lambda request=request: http.post(url + "api/plan", json=request)
                )
                api_ms.append(ms)
                count, plan_t = timed(lambda o=origin, m=month: local(o, m, views=False))
                plan_ms.append(plan_t)
                _, full_t = timed(lambda o=origin, m=month: local(o, m, views=True))
                full_ms.append(full_t)
                found = len(response.json()["itineraries"]) if response.status_code == 200 else -1
                assert found == count, (origin, month, response.status_code, found, count)
    a50, a95 = quantiles(api_ms)
    p50, p95 = quantiles(plan_ms)
    f50, f95 = quantiles(full_ms)
    n = len(api_ms)
    print(
        f"POST /api/plan, {n} requests ({len(todo)} queries x {rounds}): p50 {a50:.1f} ms, "
        f"p95 {a95:.1f} ms"
    )
    print(f"plan() in process, the same queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(
        f"plan() + to_json() + to_geojson() + json.dumps in process: p50 {f50:.1f} ms, "
        f"p95 {f95:.1f} ms"
    )
    print(
        f"API overhead per plan (p50 - p50 of plan()): {a50 - p50:.1f} ms, ratio "
        f"{a50 / p50:.2f}x; beyond the JSON it must build: {a50 - f50:.1f} ms "
        f"(target < {OVERHEAD_TARGET_MS} ms)"
    )


def simulation(url: str, runs: int) -> None:
    """A simulation job of ``runs`` journeys, its progress polled to the end."""
    request = {"from": "hyesan", "to": "seoul", "date": "2017-09-01", "runs": runs, "seed": 1}
    with httpx.Client(trust_env=False, timeout=60) as http:
        limit = http.get(url + "api/meta").json()["max_runs"]
        if runs > limit:
            raise SystemExit(f"the server's max_runs is {limit:,}, below {runs:,}")
        start = time.perf_counter()
        job = http.post(url + "api/simulate", json=request)
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        seen: list[int] = []
        first_progress = None
        deadline = time.monotonic() + JOB_S
        while time.monotonic() < deadline:
            state = http.get(url + f"api/jobs/{job_id}").json()
            done = state["progress"]["done"]
            if done and first_progress is None:
                first_progress = time.perf_counter() - start
            if not seen or seen[-1] != done:
                seen.append(done)
            if state["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - start
    assert state["state"] == "done", state
    assert seen == sorted(seen) and seen[-1] == state["progress"]["total"] == runs, seen
    p = state["result"]["summary"]["p_reach_safety"]["value"]
    assert 0 < p < 1, p
    print(
        f"simulation job, {runs:,} journeys (Hyesan, September 2017, itinerary 1): {elapsed:.1f} s "
        f"to done, {runs / elapsed:.3g} journeys/s; first progress after "
        f"{first_progress or 0:.2f} s, {len(seen)} distinct progress values polled every "
        f"{POLL_S} s; P(safety) {p:.4f}"
    )
    # The same run in this process, with the server idle: what the job's thread, polling and
    # result views cost on top of the simulation itself.
    atlas = bundled_atlas()
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    local, ms = timed(lambda: simulate(atlas, result, 1, runs=runs, seed=1))
    mine = local.to_json()["p_reach_safety"]["value"]
    same = "the same" if mine == p else f"{mine:.4f}"
    print(
        f"simulate() in process, the same run: {ms / 1e3:.1f} s; the job took "
        f"{elapsed / (ms / 1e3):.2f}x as long; P(safety) {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    with server() as url:
        print(f"server: {url}")
        page_load(url, loads=2 if args.quick else 10)
        plans(url, rounds=1 if args.quick else 5)
        simulation(url, QUICK_SIM_RUNS if args.quick else SIM_RUNS)


if __name__ == "__main__":
    main()
