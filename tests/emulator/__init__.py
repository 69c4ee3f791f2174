"""Tests of the spapi_emulator package (the local SP-API emulator)."""
