"""The geo service: IP address to city-level location, coordinates to the nearest place."""
