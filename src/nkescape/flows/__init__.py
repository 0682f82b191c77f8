"""The flow model: thirty years of escapes, calibrated to the arrival counts, with scenarios."""
