"""End-to-end tests: Meltano, a real PostgreSQL and singer-sdk's standard tap tests."""
