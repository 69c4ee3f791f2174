"""Run many selling-partner accounts side by side with Dagster (see orchestration/README.md)."""
