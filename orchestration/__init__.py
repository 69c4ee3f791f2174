"""Run many selling-partner accounts side by side with Dagster (README.md, "Many accounts")."""
