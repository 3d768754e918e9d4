"""Tests of django_gyro, laid out like the package."""
