"""feedloop notify stage."""
