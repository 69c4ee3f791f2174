"""The window engine: plan windows, fetch them concurrently, write in order, bookmark safely."""
