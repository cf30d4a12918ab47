"""feedloop solicit: asks customers for feedback after touchpoints, within fatigue and consent."""
