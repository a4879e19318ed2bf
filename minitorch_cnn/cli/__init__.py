"""Command-line programs (also installed as console scripts; see setup.cfg)."""
