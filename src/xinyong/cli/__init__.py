"""The `xinyong` command line."""
