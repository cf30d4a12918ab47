"""feedloop prioritize stage."""
