"""Tests of django_gyro.load (the reload, gyro_import, gyro_verify)."""
