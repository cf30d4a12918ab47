"""What is going well: praise grouped into patterns per theme, ranked, fading ones flagged."""
