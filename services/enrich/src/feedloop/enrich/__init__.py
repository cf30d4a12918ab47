"""feedloop enrich stage."""
