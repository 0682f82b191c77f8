"""Plots (PNG) and a Markdown report of the flow model: fit, women, stock in China, scenarios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nkescape.flows.analysis import FitReport, ScenarioReport, StockRow

__all__ = [
    "plot_fit",
    "plot_routes",
    "plot_scenario",
    "plot_seasons",
    "plot_stock",
    "plot_women",
    "write_fit_report",
    "write_scenario_report",
]


def plot_fit(report: FitReport, path: Path, title: str = "Arrivals in South Korea") -> Path:
    """Observed yearly arrivals against the model's median and 90% predictive band."""
    rows = [r for r in report.rows if r.year >= 1996]
    years = [r.year for r in rows]
    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    ax.fill_between(
        years,
        [r.low for r in rows],
        [r.high for r in rows],
        color="#a5d8ff",
        label="model, 90% interval",
    )
    ax.plot(years, [r.median for r in rows], color="#1971c2", label="model, median")
    fitted = [(r.year, r.observed) for r in rows if r.observed is not None and r.fitted]
    held = [(r.year, r.observed) for r in rows if r.observed is not None and not r.fitted]
    if fitted:
        ax.plot(*zip(*fitted, strict=True), "o", color="#212529", ms=4, label="observed (fitted)")
    if held:
        ax.plot(
            *zip(*held, strict=True),
            "o",
            mfc="white",
            color="#c92a2a",
            ms=5,
            label="observed (not fitted)",
        )
    ax.set_title(
        f"{title}: MAPE {report.score_years[0]}-{report.score_years[1]} {report.mape:.1f}%"
    )
    ax.set_ylabel("people per year")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_women(report: FitReport, path: Path) -> Path:
    """Women's share of arrivals by year: observed and model median."""
    rows = [r for r in report.rows if r.year >= 1999]
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.plot(
        [r.year for r in rows],
        [100 * r.women_model for r in rows],
        color="#9c36b5",
        label="model, median",
    )
    obs = [(r.year, 100 * r.women_observed) for r in rows if r.women_observed is not None]
    ax.plot(*zip(*obs, strict=True), "o", color="#212529", ms=4, label="observed")
    ax.set_ylabel("women, % of arrivals")
    ax.set_ylim(0, 100)
    ax.set_title("Women's share of arrivals in South Korea")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_stock(report: FitReport, path: Path) -> Path:
    """North Koreans in China at the end of each year (model, settled among them) against the
    published estimates."""
    rows = [r for r in report.stock_by_year if r.year >= 1996]
    years = [r.year for r in rows]
    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    ax.fill_between(
        years, [r.low for r in rows], [r.high for r in rows], color="#b2f2bb", label="model, 90%"
    )
    ax.plot(years, [r.median for r in rows], color="#2b8a3e", label="model, median")
    ax.plot(
        years, [r.settled for r in rows], "--", color="#2b8a3e", label="of them settled, median"
    )
    published = [s.estimate for s in report.stock if s.estimate.measure == "people"]
    for i, est in enumerate(published):
        ax.plot(
            [est.year, est.year],
            [est.low, est.high],
            color="#212529",
            lw=2,
            label="published estimates" if i == 0 else None,
        )
    ax.set_yscale("log")
    ax.set_ylabel("people (log scale)")
    ax.set_title("North Koreans in China at the end of the year")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_routes(report: FitReport, path: Path, first_year: int = 1998) -> Path:
    """Each year's share of arrivals by where they first reached safety: medians and 90%
    bands, one line per route."""
    data = report.route_shares
    years = [row for row in data["years"] if row["year"] >= first_year]
    xs = [row["year"] for row in years]
    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    colours = ["#1971c2", "#e8590c", "#2b8a3e", "#9c36b5", "#c92a2a", "#f08c00", "#0c8599"]
    colours += ["#5f3dc4", "#868e96", "#212529", "#d6336c", "#66a80f"]
    for i, route in enumerate(data["routes"]):
        rid = route["id"]
        mid = [100 * row["shares"][rid]["median"] for row in years]
        if max(mid, default=0) < 1:
            continue  # under 1% in every year: not drawn, still in fit.json
        colour = colours[i % len(colours)]
        lo = [100 * row["shares"][rid]["low"] for row in years]
        hi = [100 * row["shares"][rid]["high"] for row in years]
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.15)
        style = "-" if route["through_china"] else "--"
        ax.plot(xs, mid, style, color=colour, label=route["name"])
    ax.set_ylabel("share of the year's arrivals, %")
    ax.set_ylim(0, 100)
    ax.set_title("Where arrivals first reached safety (model, median and 90% interval)")
    ax.legend(frameon=False, fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_seasons(report: FitReport, path: Path) -> Path:
    """The average year: each calendar month's share of the year's arrivals, median and 90%
    band, against an even spread."""
    data = report.monthly_arrivals
    rows = data["months"]
    months = [r["month"] for r in rows]
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    ax.fill_between(
        months,
        [100 * r["share"]["low"] for r in rows],
        [100 * r["share"]["high"] for r in rows],
        color="#ffd8a8",
        label="model, 90% interval",
    )
    ax.plot(
        months,
        [100 * r["share"]["median"] for r in rows],
        "o-",
        color="#e8590c",
        label="model, median",
    )
    ax.axhline(100 / 12, color="#868e96", ls=":", label="an even year")
    ax.set_xticks(months, ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
    ax.set_ylabel("share of the year's arrivals, %")
    lo, hi = data["span"]
    ax.set_title(f"Arrivals in South Korea by calendar month, average year {lo}-{hi}")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_scenario(report: ScenarioReport, path: Path) -> Path:
    """Baseline against scenario, 90% bands, for arrivals, repatriations and people hiding."""
    fig = Figure(figsize=(12, 3.8))
    axes = fig.subplots(1, 3)
    years = np.array(report.years)
    labels = {
        "arrivals": "arrivals in South Korea",
        "repatriated": "sent back",
        "hiding": "in China, settled or hiding (December)",
    }
    for ax, (what, arms) in zip(axes, report.table.items(), strict=True):
        for arm, colour in (("baseline", "#868e96"), ("scenario", "#e8590c")):
            lo, mid, hi = arms[arm]
            ax.fill_between(years, lo, hi, color=colour, alpha=0.25)
            ax.plot(years, mid, color=colour, label=arm)
        ax.set_title(labels[what], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    what = ", ".join(f"{k}={v:g}" for k, v in report.values.items())
    fig.suptitle(f"Scenario {what} from {report.start.isoformat()[:7]} (90% intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def stock_line(row: StockRow) -> str:
    """One line: the model's stock in China in a year against the published range."""
    est = row.estimate
    if est.measure == "women_share":
        what = f"{est.year}, women's share: {100 * row.median:.0f}% "
        what += f"({100 * row.low:.0f}-{100 * row.high:.0f}%)"
        published = f"{100 * est.low:.0f}-{100 * est.high:.0f}%"
    else:
        what = f"{est.year}: {row.median:,.0f} ({row.low:,.0f}-{row.high:,.0f})"
        if row.settled is not None:
            what += f", {100 * row.settled:.0f}% of them settled"
        published = f"{est.low:,.0f}-{est.high:,.0f}"
    verdict = "inside" if row.inside else "outside"
    return f"{what}; published {published} ({', '.join(est.source)}): {verdict}"


def write_fit_report(report: FitReport, out: Path, *, backtest: bool = False) -> list[Path]:
    """``fit.png``, ``women.png``, ``stock.png`` and ``report.md`` tying them together."""
    out.mkdir(parents=True, exist_ok=True)
    fit = plot_fit(report, out / "fit.png")
    women = plot_women(report, out / "women.png")
    stock = plot_stock(report, out / "stock.png")
    extra = []
    if report.route_shares:
        extra.append(plot_routes(report, out / "routes.png"))
    if report.monthly_arrivals:
        extra.append(plot_seasons(report, out / "seasons.png"))
    post = report.posterior
    m = post.meta
    lines = [
        "# Flow model: " + ("backtest" if backtest else "fit to the arrival counts"),
        "",
        f"Fitted on {post.fit_years[0]}-{post.fit_years[-1]} "
        f"({len(post.fit_years)} years; 2020-2022 are never fitted). "
        f"{len(post.samples)} posterior draws from {m.get('chains')} chains of "
        f"{m.get('walkers')} walkers x {m.get('steps')} steps ({m.get('burn_in')} burn-in, "
        f"one step in {m.get('thin')} kept), seed {m.get('seed')}; largest R-hat "
        f"{m.get('r_hat_max')} (rank-normalised split R-hat over the chains, ArviZ), smallest "
        f"effective sample size {m.get('ess_bulk_min')} (bulk), {m.get('ess_tail_min')} (tail).",
        "",
        f"- MAPE {report.score_years[0]}-{report.score_years[1]}: {report.mape:.1f}%",
        f"- Years inside the 90% interval: {100 * report.coverage:.0f}%",
        f"- Largest gap in women's share from 2006: {report.share_gap:.1f} points "
        f"({report.share_year})",
        "",
        "![fit](fit.png)",
        "",
        "![women](women.png)",
        "",
        "![North Koreans in China](stock.png)",
        "",
        "## Parameters (posterior median and 90% interval)",
        "",
        "| parameter | median | 90% interval | R-hat | effective draws (bulk) |",
        "| --- | --- | --- | --- | --- |",
    ]
    r_hat, ess = m.get("r_hat") or {}, m.get("ess_bulk") or {}
    for name in post.names:
        lo, mid, hi = post.interval(name)
        lines.append(
            f"| {name} | {mid:.4g} | {lo:.4g} - {hi:.4g} | {r_hat.get(name, '')} | "
            f"{ess.get(name, '')} |"
        )
    lines += [
        "",
        "## Years",
        "",
        "| year | observed | model | 90% | women obs | women model |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.rows:
        obs = "" if r.observed is None else str(r.observed)
        wo = "" if r.women_observed is None else f"{100 * r.women_observed:.0f}%"
        mark = "" if r.fitted else " (not fitted)"
        lines.append(
            f"| {r.year}{mark} | {obs} | {r.median:.0f} | {r.low:.0f}-{r.high:.0f} | {wo} | "
            f"{100 * r.women_model:.0f}% |"
        )
    if report.stock:
        lines += [
            "",
            "## North Koreans in China (end of year), model against published estimates",
            "",
            *(f"- {stock_line(r)}" for r in report.stock),
        ]
    lines += _inside_lines(report)
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [fit, women, stock, *extra, md]


def _inside_lines(report: FitReport) -> list[str]:
    """report.md's sections on what the model says inside the totals: routes, seasons, years
    in China, and the published figures they are checked against (never fitted)."""
    lines: list[str] = []
    data = report.route_shares
    if data:
        names = {r["id"]: r["name"] for r in data["routes"]}
        lines += [
            "",
            "## Where arrivals first reached safety (median share, 90% interval)",
            "",
            "![routes](routes.png)",
            "",
            "| year | " + " | ".join(names.values()) + " |",
            "| --- | " + " | ".join("---" for _ in names) + " |",
        ]
        for row in data["years"]:
            if row["year"] < 1998:
                continue
            cells = [
                f"{100 * b['median']:.0f}% ({100 * b['low']:.0f}-{100 * b['high']:.0f})"
                for b in (row["shares"][r] for r in names)
            ]
            lines.append(f"| {row['year']} | " + " | ".join(cells) + " |")
    season = report.monthly_arrivals
    if season:
        lo, hi = season["span"]
        lines += [
            "",
            f"## Arrivals by calendar month, average year {lo}-{hi}",
            "",
            "![seasons](seasons.png)",
            "",
            "| quarter | share of the year's arrivals (90%) |",
            "| --- | --- |",
        ]
        for q in season["quarters"]:
            b = q["share"]
            lines.append(
                f"| Q{q['quarter']} | {100 * b['median']:.1f}% "
                f"({100 * b['low']:.1f}-{100 * b['high']:.1f}) |"
            )
    stay = report.years_in_china
    if stay:
        lines += [
            "",
            "## Years in China before arriving (calendar years from crossing to arrival)",
            "",
            "| year | mean (90%) | median | five years or more |",
            "| --- | --- | --- | --- |",
        ]
        for row in stay["years"]:
            if row["year"] < 1998:
                continue
            m, md, s5 = row["mean"], row["median"], row["share_5_plus"]
            lines.append(
                f"| {row['year']} | {m['median']:.1f} ({m['low']:.1f}-{m['high']:.1f}) | "
                f"{md['median']:.0f} | {100 * s5['median']:.0f}% "
                f"({100 * s5['low']:.0f}-{100 * s5['high']:.0f}) |"
            )
    if report.validation_markdown:
        lines += [
            "",
            "## Published figures beside the model's (validation; none of them is fitted)",
            "",
            report.validation_markdown.rstrip("\n"),
        ]
    return lines


def write_scenario_report(report: ScenarioReport, out: Path) -> list[Path]:
    """``scenario.png`` and ``scenario.md``."""
    out.mkdir(parents=True, exist_ok=True)
    png = plot_scenario(report, out / "scenario.png")
    what = ", ".join(f"{k}={v:g}" for k, v in report.values.items())
    lines = [
        f"# Scenario {what} from {report.start.isoformat()[:7]}",
        "",
        "![scenario](scenario.png)",
        "",
    ]
    for key, arms in report.table.items():
        lines += [f"## {key}", "", "| year | baseline | scenario |", "| --- | --- | --- |"]
        for j, y in enumerate(report.years):
            b, s = arms["baseline"][:, j], arms["scenario"][:, j]
            lines.append(
                f"| {y} | {b[1]:.0f} ({b[0]:.0f}-{b[2]:.0f}) | {s[1]:.0f} ({s[0]:.0f}-{s[2]:.0f}) |"
            )
        lines.append("")
    md = out / "scenario.md"
    md.write_text("\n".join(lines), encoding="utf-8")
    return [png, md]
