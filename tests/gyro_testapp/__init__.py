"""Test-only models for Gyro: UUID keys, a self-reference, a foreign-key cycle."""
