"""The xdist workers in farm mode (or a plain pytest with --farm-browsers): the processes that
open browser sessions and run cells."""
