"""``python -m tap_spinvoices``: the same command line as ``tap-spinvoices``."""

from tap_spinvoices.tap import main

main()
