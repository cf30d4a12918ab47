"""feedloop SRE command line: consumer lag, dead letters, pipeline health."""
