"""What Gyro needs from PostgreSQL: private connections, COPY, and the system catalog."""
