"""Tests of Gyro's reload (``django_gyro.loading``, ``gyro_import``, ``gyro_verify``)."""
