"""Reports for people: plots (PNG, drawn headless) of simulation results."""

from nkescape.report.plots import plot_cost, plot_days, plot_funnel, write_simulation_plots

__all__ = ["plot_cost", "plot_days", "plot_funnel", "write_simulation_plots"]
