"""Parameter types, split by kind; import them from :mod:`workers.parameter` or :mod:`workers`."""
