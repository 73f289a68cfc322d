"""Tests of the driver side: config, space, sweep, faults, cluster, tracking outages, report."""
