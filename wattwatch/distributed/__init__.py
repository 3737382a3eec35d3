"""Runs over several processes and nodes: topology and GPU ownership, part files, the pure combine, the store
exchange and merging part folders into one row."""
