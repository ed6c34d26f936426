"""pytest's controller process in farm mode: the xdist scheduler and what it needs."""
