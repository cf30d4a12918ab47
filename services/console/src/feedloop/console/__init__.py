"""feedloop console: the web UI where the CX team sees the loop and acts on it."""
