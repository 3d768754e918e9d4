"""Tests of django_gyro.export."""
