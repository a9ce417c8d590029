"""Market data: feeds (simulated, replayed), their record buffer and the Cython L2 book."""
