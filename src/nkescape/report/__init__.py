"""Reports for people: plots of simulation results (matplotlib Figures, saved as PNG) and the
per-journey Parquet table."""

from nkescape.report.journeys import JourneyWriter, read_journey_metadata
from nkescape.report.plots import plot_cost, plot_days, plot_funnel, write_simulation_plots

__all__ = [
    "JourneyWriter",
    "plot_cost",
    "plot_days",
    "plot_funnel",
    "read_journey_metadata",
    "write_simulation_plots",
]
